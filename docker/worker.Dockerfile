# pairwatch worker: one container per monitored pair (started by the API).
#
# Build (from the repository root; the builder needs the npm registry):
#   DOCKER_BUILDKIT=0 docker build --network host -f docker/worker.Dockerfile -t pairwatch-worker:latest .
# scripts/build-images.sh does this and picks a base image that this machine can have.
#
# BASE_IMAGE is the runtime stage's base, BUILD_BASE_IMAGE the builder's (it needs npm).
# Both default to the public node image; scripts/make-local-base.sh makes stand-ins
# for machines that reach no container registry.
ARG BASE_IMAGE=node:20-bookworm-slim
ARG BUILD_BASE_IMAGE=${BASE_IMAGE}

# ---- manifest: package.json cut down to what `npm ci` reads, so that editing its
# scripts or description keeps the cached install below ----
FROM ${BUILD_BASE_IMAGE} AS manifest
WORKDIR /src
COPY package.json ./
RUN node -e " \
      const fs = require('fs'); const p = JSON.parse(fs.readFileSync('package.json', 'utf8')); const keep = {}; \
      for (const k of ['name', 'version', 'private', 'engines', 'dependencies', 'devDependencies', \
        'optionalDependencies', 'peerDependencies', 'peerDependenciesMeta', 'bundleDependencies', 'overrides', 'workspaces']) \
        if (p[k] !== undefined) keep[k] = p[k]; \
      fs.writeFileSync('deps.json', JSON.stringify(keep, null, 2) + '\\n');"

# ---- build: the same first layers as docker/api.Dockerfile, so the two share them ----
FROM ${BUILD_BASE_IMAGE} AS build
WORKDIR /src
ENV CI=true NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY --from=manifest /src/deps.json ./package.json
COPY package-lock.json ./
# --ignore-scripts: no dependency needs its install script for building (esbuild
# finds its platform binary without it; ssh2/cpu-features only try optional native
# builds) and some scripts would phone home.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY package.json tsconfig.json ./
COPY libs ./libs
COPY apps/worker ./apps/worker
# One file with every dependency inside: the runtime stage needs nothing but node.
RUN npm run build:worker && node --check dist/worker/main.js && node --check dist/worker/relay.js

# ---- runtime: node and the bundle, nothing else ----
FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Two programs, one image: the worker (the entry point) and the relay (`node /app/relay.js`).
COPY --from=build /src/dist/worker/main.js /src/dist/worker/relay.js /app/
# Non-root, numeric so it holds on any base (Kubernetes' runAsNonRoot can check it).
USER 10001:10001
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/main.js"]
# Last, so that a new revision changes only metadata, not cached layers.
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="pairwatch-worker" \
      org.opencontainers.image.description="pairwatch worker: polls one Uphold pair and publishes oscillation alerts on Redis" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      pairwatch.component="worker"
