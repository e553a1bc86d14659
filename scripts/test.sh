#!/usr/bin/env bash
# npm test: the whole suite, with its own set-up. Installs and builds, checks Postgres and Redis, builds the
# worker image when a Docker engine answers (in CI it must; in the background), runs the static checks (at once),
# the unit tests, then the e2e tests with the fault tests beside them.
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
# Built in the background while the static checks and unit tests run (neither needs it); awaited before e2e.
image_pid=""
image_log="$(mktemp "${TMPDIR:-/tmp}/pairwatch-image.XXXXXX")"
faults_pid=""
faults_log="$(mktemp "${TMPDIR:-/tmp}/pairwatch-faults.XXXXXX")"
# shellcheck disable=SC2317 # the EXIT trap
stop_background() {
  for pid in $image_pid $faults_pid; do kill "$pid" 2>/dev/null || true; done
  rm -f "$image_log" "$faults_log"
}
trap stop_background EXIT
if pw_docker_up; then
  bash scripts/build-images.sh --worker-only >"$image_log" 2>&1 &
  image_pid=$!
  pw_log "building in the background (log: $image_log)"
elif [ "${CI:-}" = "true" ]; then
  pw_require_docker
else
  pw_warn "no Docker engine at $(pw_docker_endpoint): the Docker e2e suites will be SKIPPED (start dockerd to run them)"
fi

pw_section "static checks"
typecheck() { npx tsc -p tsconfig.json --noEmit; }
lint() { npx eslint .; }
format() { npx prettier --check .; }
migrations() { bash scripts/check-migrations.sh; }
layers() { npm run -s layers; }
pw_concurrently typecheck lint format migrations layers

pw_section "unit tests"
npx jest --selectProjects unit --ci

if [ -n "$image_pid" ]; then
  pw_section "worker image (awaited)"
  image_rc=0
  wait "$image_pid" || image_rc=$?
  image_pid=""
  cat "$image_log"
  [ "$image_rc" = 0 ] || pw_die "the worker image did not build (exit $image_rc)"
fi

# The fault suites run their own Postgres and Redis servers, their own instance label and Docker through a proxy:
# nothing the e2e suites use. Both mostly wait on servers, so they run side by side: the whole takes the e2e
# suites' time instead of the sum. The fault output is printed once they end.
pw_section "e2e tests (real Postgres, Redis and Docker) and, beside them, the fault tests"
npx jest --selectProjects faults --ci --runInBand >"$faults_log" 2>&1 &
faults_pid=$!
pw_log "fault tests running beside the e2e tests (log: $faults_log)"
e2e_rc=0
npx jest --selectProjects e2e --ci --runInBand || e2e_rc=$?
faults_rc=0
wait "$faults_pid" || faults_rc=$?
faults_pid=""
printf '\n---- fault tests (own Postgres and Redis servers, stopped and restarted; Docker through a proxy) ----\n'
cat "$faults_log"
[ "$e2e_rc" = 0 ] || pw_die "the e2e tests failed (exit $e2e_rc)"
[ "$faults_rc" = 0 ] || pw_die "the fault tests failed (exit $faults_rc)"

pw_section_end
pw_log "all tests passed in $(pw_elapsed "$started")"
