#!/usr/bin/env bash
# npm run up: install, build, check Postgres and Redis (creating the database), build the worker image when a
# Docker engine answers (with none, workers run as local processes: WORKER_RUNTIME=process), then run the API
# in the foreground (it applies the migrations as it starts).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/install-and-build.sh"
PW_LOG_TAG=up
cd "$PW_ROOT"

pw_install_and_build

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@localhost:5432/pairwatch}"
export REDIS_URL="${REDIS_URL:-redis://localhost:6379}"
node scripts/check-services.js

# Workers run on Docker when an engine answers; with none, and no WORKER_RUNTIME asked for, as processes.
if [ "${WORKER_RUNTIME:-}" = process ]; then
  pw_log "WORKER_RUNTIME=process: workers run as child processes of the API on this machine"
elif pw_docker_up; then
  bash scripts/build-images.sh --worker-only
  # The API runs on this host, so its workers share the host's network to reach Redis and the ticker.
  export WORKER_NETWORK="${WORKER_NETWORK:-host}"
elif [ -z "${WORKER_RUNTIME:-}" ]; then
  export WORKER_RUNTIME=process
  pw_log "no Docker engine at $(pw_docker_endpoint): workers will run as local processes (WORKER_RUNTIME=process)"
else
  pw_warn "no Docker engine at $(pw_docker_endpoint): with WORKER_RUNTIME=${WORKER_RUNTIME}, POST /monitors answers 503 until one runs"
fi

# The API seals webhook secrets and channel tokens with SECRETS_KEY and refuses to start without one: with none
# set, a key of this checkout's own is made once and kept in .pairwatch/secrets.key (mode 600, git-ignored).
if [ -z "${SECRETS_KEY:-}" ]; then
  key_file="$PW_ROOT/.pairwatch/secrets.key"
  if [ ! -s "$key_file" ]; then
    mkdir -p "$(dirname "$key_file")"
    (umask 077 && node -e "process.stdout.write(require('crypto').randomBytes(32).toString('base64'))" >"$key_file")
    pw_log "made a local SECRETS_KEY in .pairwatch/secrets.key (keep it: the stored secrets open only with it)"
  fi
  SECRETS_KEY="$(cat "$key_file")"
  export SECRETS_KEY
fi

pw_log "starting the API on port ${PORT:-3000} (Ctrl-C stops it; workers keep running until 'npm run down')"
exec node dist/apps/api/main.js
