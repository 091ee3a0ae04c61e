#!/usr/bin/env bash
# Builds the flow-proxy image from a clean copy of the working tree:
# production dependencies only, TypeScript compiled, no network in `docker build`.
#   scripts/build-image.sh [tag] [extra docker build args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-flow-proxy:local}
shift || true
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cd "$root"
# Tests that build the image pass FLOW_PROXY_PREBUILT=1 and FLOW_PROXY_BUILD_DIR: the build they run from
# is there already (and other tests read it).
build=${FLOW_PROXY_BUILD_DIR:-dist}
[ "${FLOW_PROXY_PREBUILT:-}" = 1 ] || npx tsc -p tsconfig.json --outDir "$build"
cp -r package.json package-lock.json templates errorfiles dashboard Dockerfile .dockerignore node_modules "$ctx/"
mkdir -p "$ctx/dist" && cp -r "$build/src" "$ctx/dist/src"
# Production dependencies only, from what `npm ci` installed here: no network needed.
(cd "$ctx" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
docker build -t "$tag" "$@" "$ctx"
