# pairwatch API (NestJS).
#
# Build (from the repository root; the builder needs the npm registry):
#   DOCKER_BUILDKIT=0 docker build --network host -f docker/api.Dockerfile -t pairwatch-api:latest .
# scripts/build-images.sh does this and picks a base image that this machine can have.
#
# BASE_IMAGE is the runtime stage's base, BUILD_BASE_IMAGE the builders' (they need npm).
ARG BASE_IMAGE=node:20-bookworm-slim
ARG BUILD_BASE_IMAGE=${BASE_IMAGE}

# ---- deps: every dependency; the same first layers as docker/worker.Dockerfile ----
FROM ${BUILD_BASE_IMAGE} AS deps
WORKDIR /src
ENV CI=true NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
# --ignore-scripts: see docker/worker.Dockerfile.
RUN npm ci --ignore-scripts --no-audit --no-fund

# ---- prod-deps: production dependencies only, from the cache the deps stage filled ----
FROM deps AS prod-deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline

# ---- build: nest build api ----
FROM deps AS build
COPY tsconfig.json nest-cli.json ./
COPY libs ./libs
COPY apps/api ./apps/api
RUN npx nest build api && node --check dist/apps/api/apps/api/src/main.js

# ---- runtime: node, production node_modules, the compiled API ----
FROM ${BASE_IMAGE} AS runtime
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
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=prod-deps /src/package.json /src/package-lock.json /app/
COPY --from=prod-deps /src/node_modules /app/node_modules
COPY --from=build /src/dist/apps/api /app/dist/apps/api
# Non-root, numeric so it holds on any base. To reach the Docker socket the container
# needs the socket's group: `group_add: [<gid of /var/run/docker.sock>]` (compose does it).
USER 10001:10001
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/apps/api/apps/api/src/main.js"]
