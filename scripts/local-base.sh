#!/usr/bin/env bash
# Assembles a base image from this machine's own node, haproxy and tini (with
# the libraries they load) plus a static busybox for /bin/sh, and imports it
# with `docker import`. For machines that cannot pull images: build with
#   scripts/build-image.sh flow-proxy:local --build-arg BASE=<tag> --build-arg INSTALL_PACKAGES=false
# Usage: scripts/local-base.sh [tag]     (DOCKER_HOST selects the engine)
set -euo pipefail
tag=${1:-local/flow-proxy-base:1}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

copy() {
  local f=$1
  mkdir -p "$root$(dirname "$f")"
  cp -L "$f" "$root$f"
}

for bin in "$(command -v node)" "$(command -v haproxy)" "$(command -v tini-static || command -v tini)"; do
  [ -x "$bin" ] || { echo "missing $bin" >&2; exit 1; }
  copy "$bin"
  # A static binary has no libraries (ldd then fails: not an error).
  { ldd "$bin" 2>/dev/null || true; } | awk '/=>/ {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
    if [ -n "$lib" ] && [ -e "$lib" ]; then copy "$lib"; fi
  done
done
# Names the Dockerfile and the proxy expect.
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/bin" "$root/etc" "$root/tmp" "$root/run" "$root/var/run"
[ -e "$root/usr/bin/node" ] || ln -s "$(command -v node)" "$root/usr/bin/node"
tini_bin=$(command -v tini-static || command -v tini)
[ "$tini_bin" = /usr/bin/tini ] || cp -L "$tini_bin" "$root/usr/bin/tini"
[ -e "$root/usr/sbin/haproxy" ] || cp -L "$(command -v haproxy)" "$root/usr/sbin/haproxy"
busybox=$(command -v busybox)
cp -L "$busybox" "$root/bin/busybox"
for applet in sh ls cat id ps mkdir chown rm sleep grep addgroup adduser wget; do ln -sf busybox "$root/bin/$applet"; done
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
tar -C "$root" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$tag" >/dev/null
echo "$tag"
