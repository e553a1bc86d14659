#!/usr/bin/env bash
# Builds pairwatch's container images from source:
#   $WORKER_IMAGE (default pairwatch-worker:latest) from docker/worker.Dockerfile
#   $API_IMAGE    (default pairwatch-api:latest)    from docker/api.Dockerfile
#
# Base image: the public node:20-bookworm-slim when it is already present or can be
# pulled within $PULL_TIMEOUT seconds; otherwise a local stand-in made from this
# machine's own node by scripts/make-local-base.sh (no registry needed). One line
# says which. PAIRWATCH_BASE=public|local forces the choice.
#
# Usage: scripts/build-images.sh [options]
#   --worker-only        build only the worker image (same as IMAGES=worker)
#   --api-only           build only the API image (same as IMAGES=api)
#   --base auto|public|local   (same as PAIRWATCH_BASE; default auto)
#   --base-env           choose (and if need be make) the base, print
#                        `export PAIRWATCH_BASE_IMAGE=... PAIRWATCH_BUILD_BASE_IMAGE=...`
#                        lines for docker-compose.yml (eval them), build nothing
#   --no-cache           build without the layer cache
#   -v, --verbose        stream docker build's output (default: to a log file,
#                        whose tail is shown on failure)
#
# Environment: WORKER_IMAGE, API_IMAGE, IMAGES (comma list: worker,api),
#   PAIRWATCH_BASE, PUBLIC_BASE_IMAGE (node:20-bookworm-slim), PULL_TIMEOUT (5),
#   DOCKER_BUILDKIT (0: the classic builder, which every engine and client here has),
#   BUILD_NETWORK (host: the build stage reaches the npm registry through the host's
#   network; engines started with --bridge=none have no other).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC2034 # read by lib.sh
PW_LOG_TAG=images

WORKER_IMAGE="${WORKER_IMAGE:-pairwatch-worker:latest}"
API_IMAGE="${API_IMAGE:-pairwatch-api:latest}"
IMAGES="${IMAGES:-worker,api}"
BASE_MODE="${PAIRWATCH_BASE:-auto}"
PUBLIC_BASE_IMAGE="${PUBLIC_BASE_IMAGE:-node:20-bookworm-slim}"
PULL_TIMEOUT="${PULL_TIMEOUT:-5}"
BUILD_NETWORK="${BUILD_NETWORK:-host}"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"
VERBOSE=0
NO_CACHE=()
BASE_ENV_ONLY=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --worker-only) IMAGES=worker ;;
    --api-only) IMAGES=api ;;
    --base) BASE_MODE="${2:?--base needs auto, public or local}"; shift ;;
    --base=*) BASE_MODE="${1#--base=}" ;;
    --base-env) BASE_ENV_ONLY=1 ;;
    --no-cache) NO_CACHE=(--no-cache) ;;
    -v | --verbose) VERBOSE=1 ;;
    -h | --help) usage 0 ;;
    *) pw_warn "unknown option: $1"; usage ;;
  esac
  shift
done
case "$BASE_MODE" in auto | public | local) ;; *) pw_die "PAIRWATCH_BASE/--base must be auto, public or local, not '$BASE_MODE'" ;; esac
for c in ${IMAGES//,/ }; do
  case "$c" in worker | api) ;; *) pw_die "IMAGES may name worker and api only, not '$c'" ;; esac
done

pw_require_docker
cd "$PW_ROOT"

LOG_DIR="$PW_ROOT/.pairwatch/logs"
mkdir -p "$LOG_DIR"

# ---- choose the base ------------------------------------------------------------
use_local_base() { # REASON
  local out
  out="$(bash "$PW_ROOT/scripts/make-local-base.sh")" || pw_die "could not make the local base image (see above)"
  BASE_IMAGE="$(sed -n 1p <<<"$out")"
  BUILD_BASE_IMAGE="$(sed -n 2p <<<"$out")"
  BASE_LINE="base image: $BASE_IMAGE (local, from this machine's node $(node --version)): $1"
}
use_public_base() { # HOW
  BASE_IMAGE="$PUBLIC_BASE_IMAGE"
  BUILD_BASE_IMAGE="$PUBLIC_BASE_IMAGE"
  BASE_LINE="base image: $PUBLIC_BASE_IMAGE (public, $1)"
}
try_pull() { # -> 0 when pulled; PULL_ERROR holds why not
  local t0 out rc=0
  t0="$(pw_now)"
  out="$(timeout --kill-after=2 "$PULL_TIMEOUT" docker pull --quiet "$PUBLIC_BASE_IMAGE" 2>&1)" || rc=$?
  if [ "$rc" = 0 ]; then return 0; fi
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    PULL_ERROR="the pull timed out after ${PULL_TIMEOUT}s"
  else
    PULL_ERROR="the pull failed in $(pw_elapsed "$t0"): $(tail -n 1 <<<"$out" | cut -c1-160)"
  fi
  return 1
}

PULL_ERROR=""
case "$BASE_MODE" in
  public)
    if pw_image_exists "$PUBLIC_BASE_IMAGE"; then use_public_base "already present"
    elif try_pull; then use_public_base "pulled"
    else pw_die "PAIRWATCH_BASE=public but $PUBLIC_BASE_IMAGE is not present and $PULL_ERROR"
    fi ;;
  local) use_local_base "asked for (PAIRWATCH_BASE=local)" ;;
  auto)
    if pw_image_exists "$PUBLIC_BASE_IMAGE"; then use_public_base "already present"
    elif try_pull; then use_public_base "pulled"
    else use_local_base "$PUBLIC_BASE_IMAGE is not present and $PULL_ERROR"
    fi ;;
esac
pw_log "$BASE_LINE"

if [ "$BASE_ENV_ONLY" = 1 ]; then
  printf 'export PAIRWATCH_BASE_IMAGE=%s\nexport PAIRWATCH_BUILD_BASE_IMAGE=%s\n' "$BASE_IMAGE" "$BUILD_BASE_IMAGE"
  exit 0
fi

# ---- build ----------------------------------------------------------------------
VERSION="$(node -p "require('./package.json').version" 2>/dev/null || echo 0.0.0-dev)"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# The commit's time, not the build's, so an unchanged tree rebuilds to the same image.
CREATED="$(git log -1 --format=%cI 2>/dev/null || echo unknown)"

build_one() { # COMPONENT TAG
  local comp="$1" tag="$2" log="$LOG_DIR/build-$1.log" t0 rc=0
  t0="$(pw_now)"
  pw_log "building $tag from docker/$comp.Dockerfile (log: ${log#"$PW_ROOT"/})"
  local cmd=(docker build --network "$BUILD_NETWORK" "${NO_CACHE[@]}"
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "BUILD_BASE_IMAGE=$BUILD_BASE_IMAGE"
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED"
    -f "docker/$comp.Dockerfile" -t "$tag" .)
  if [ "$VERBOSE" = 1 ]; then
    "${cmd[@]}" 2>&1 | tee "$log" || rc=$?
  else
    "${cmd[@]}" >"$log" 2>&1 || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    [ "$VERBOSE" = 1 ] || { pw_warn "last lines of $log:"; tail -n 60 "$log" >&2; }
    pw_die "docker build of $tag failed (exit $rc) after $(pw_elapsed "$t0")"
  fi
  local cached
  cached="$(grep -c -e '---> Using cache' -e '^#[0-9]* CACHED' "$log" || true)"
  pw_log "built $tag: $(pw_image_size "$tag") in $(pw_elapsed "$t0") ($cached steps from cache)"
}

START="$(pw_now)"
for c in ${IMAGES//,/ }; do
  case "$c" in
    worker) build_one worker "$WORKER_IMAGE" ;;
    api) build_one api "$API_IMAGE" ;;
  esac
done
# Earlier builds of ours that a new one untagged: remove them, so rebuilds do not pile
# up on the disk (the layer cache of the new build stays).
docker image prune --force --filter label=pairwatch.component >/dev/null 2>&1 || true
pw_log "images done in $(pw_elapsed "$START")"
