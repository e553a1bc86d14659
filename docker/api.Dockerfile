# pairwatch API (NestJS).
#
# Build (from the repository root; the builder needs the npm registry):
#   DOCKER_BUILDKIT=0 docker build --network host -f docker/api.Dockerfile -t pairwatch-api:latest .
# scripts/build-images.sh does this and picks a base image that this machine can have.
#
# BASE_IMAGE is the runtime stage's base, BUILD_BASE_IMAGE the builders' (they need npm).
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

# ---- deps: every dependency; the same first layers as docker/worker.Dockerfile ----
FROM ${BUILD_BASE_IMAGE} AS deps
WORKDIR /src
ENV CI=true NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY --from=manifest /src/deps.json ./package.json
COPY package-lock.json ./
# --ignore-scripts: see docker/worker.Dockerfile.
RUN npm ci --ignore-scripts --no-audit --no-fund

# ---- prod-deps: production dependencies only, from the cache the deps stage filled ----
FROM deps AS prod-deps
# After the install, drop what nothing loads at run time: source maps and declaration
# files (about 45 MB), leaving the typescript package whole for ts-node (typeorm's).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline \
 && node -e " \
      const fs = require('fs'), path = require('path'); let n = 0, b = 0; \
      const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { \
        const f = path.join(d, e.name); \
        if (e.isDirectory()) { if (f !== 'node_modules/typescript') walk(f); } \
        else if (e.isFile() && /[.](map|d[.][mc]?ts|tsbuildinfo)$/.test(e.name)) { b += fs.statSync(f).size; fs.unlinkSync(f); n++; } } }; \
      walk('node_modules'); console.log('pruned', n, 'files,', (b / 1e6).toFixed(1), 'MB');"

# ---- build: libs/contracts, nest build api (npm run build:api), then the dashboard
# (npm run build:dashboard: its own type-check, then Vite, whose bundler is a native
# addon: the build base needs the C library's shared objects it links, librt among them) ----
FROM deps AS build
COPY package.json tsconfig.json nest-cli.json ./
COPY libs ./libs
COPY apps/api ./apps/api
RUN npm run build:api && node --check dist/apps/api/main.js
COPY apps/dashboard ./apps/dashboard
RUN npm run build:dashboard && test -s dist/dashboard/index.html

# ---- runtime: node, production node_modules, the compiled API ----
FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=prod-deps /src/node_modules /app/node_modules
COPY package.json /app/
COPY --from=build /src/dist/apps/api /app/dist/apps/api
COPY --from=build /src/dist/libs /app/dist/libs
# The dashboard, served at / (apps/api/src/dashboard/dashboard-static.ts finds it at
# dist/dashboard under the folder holding package.json).
COPY --from=build /src/dist/dashboard /app/dist/dashboard
# Non-root, numeric so it holds on any base. To reach the Docker socket the container
# needs the socket's group: `group_add: [<gid of /var/run/docker.sock>]` (compose does it).
USER 10001:10001
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/apps/api/main.js"]
# Last, so that a new revision changes only metadata, not cached layers.
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="pairwatch-api" \
      org.opencontainers.image.description="pairwatch API: monitors, alerts, worker orchestration" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      pairwatch.component="api"
