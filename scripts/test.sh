#!/usr/bin/env bash
# npm test: the whole suite, with its own set-up. Installs and builds, checks Postgres and Redis, builds the
# worker image when a Docker engine answers (in CI it must), then static checks, unit, e2e and fault tests.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/install-and-build.sh"
PW_LOG_TAG=test
cd "$PW_ROOT"
started="$(pw_now)"

pw_section "install and build"
pw_install_and_build

pw_section "services"
DATABASE_URL="${TEST_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" REDIS_URL="redis://127.0.0.1:6379" \
  node scripts/check-services.js

pw_section "worker image"
if pw_docker_up; then
  bash scripts/build-images.sh --worker-only
elif [ "${CI:-}" = "true" ]; then
  pw_require_docker
else
  pw_warn "no Docker engine at $(pw_docker_endpoint): the Docker e2e suites will be SKIPPED (start dockerd to run them)"
fi

pw_section "static checks"
npx tsc -p tsconfig.json --noEmit
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
bash scripts/check-migrations.sh
npm run -s layers

pw_section "unit tests"
npx jest --selectProjects unit --ci

pw_section "e2e tests (real Postgres, Redis and Docker)"
npx jest --selectProjects e2e --ci --runInBand

pw_section "fault tests (the suites' own Postgres and Redis, stopped and restarted; Docker through a proxy)"
npx jest --selectProjects faults --ci --runInBand

pw_section_end
pw_log "all tests passed in $(pw_elapsed "$started")"
