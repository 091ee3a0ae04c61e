# flow-proxy: the control plane, HAProxy and an init that reaps every child.
#
# The image takes the application prebuilt (dist/, production node_modules/,
# templates/, errorfiles/, dashboard/): scripts/build-image.sh prepares that context and
# runs `docker build`, so the build itself needs no network.
#
# BASE must provide node (20+), haproxy (2.6+) and tini. The default installs
# haproxy and tini from Debian on top of the official Node image; CI uses a
# base assembled from this machine's own binaries (scripts/local-base.sh) and
# INSTALL_PACKAGES=false, because no registry can be reached there.
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
ARG INSTALL_PACKAGES=true
RUN if [ "$INSTALL_PACKAGES" = "true" ]; then \
      apt-get update && apt-get install -y --no-install-recommends haproxy tini && rm -rf /var/lib/apt/lists/*; \
    fi \
 && (grep -q '^flowproxy:' /etc/group || echo 'flowproxy:x:10001:' >> /etc/group) \
 && (grep -q '^flowproxy:' /etc/passwd || echo 'flowproxy:x:10001:10001:flow-proxy:/data:/usr/sbin/nologin' >> /etc/passwd) \
 && mkdir -p /data /templates && chown 10001:10001 /data

WORKDIR /app
COPY package.json ./
COPY node_modules ./node_modules
COPY dist/src ./dist/src
COPY templates ./templates
COPY errorfiles ./errorfiles
COPY dashboard ./dashboard

ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080 \
    DEFAULT_PORTS=80,443:ssl
VOLUME ["/data"]
EXPOSE 80 443 8080

# Ports below 1024 need root or net.ipv4.ip_unprivileged_port_start=0 (compose.yml sets it);
# with unprivileged DEFAULT_PORTS the proxy runs as flowproxy. The Docker socket needs its group.
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini -g forwards signals to the whole group and reaps HAProxy's old workers.
ENTRYPOINT ["tini", "-g", "--"]
CMD ["node", "--max-semi-space-size=2", "--heap-growing-percent=20", "--optimize-for-size", "/app/dist/src/main.js"]
