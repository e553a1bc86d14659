# shellcheck shell=bash
# Shared shell helpers for pairwatch's scripts. Source it; it defines functions only
# (plus PW_ROOT) and changes no shell option of the caller.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PW_ROOT="${PW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

# Seconds since the epoch with milliseconds, for timings.
pw_now() { date +%s.%3N; }

# Elapsed seconds since START (a pw_now value), printed as e.g. "12.3s".
pw_elapsed() { awk -v s="$1" -v e="$(pw_now)" 'BEGIN { printf "%.1fs", e - s }'; }

pw_log() { printf '[%s] %s\n' "${PW_LOG_TAG:-pairwatch}" "$*" >&2; }
pw_warn() { printf '[%s] WARNING: %s\n' "${PW_LOG_TAG:-pairwatch}" "$*" >&2; }
pw_die() {
  printf '[%s] ERROR: %s\n' "${PW_LOG_TAG:-pairwatch}" "$*" >&2
  exit 1
}

# Section headers with timings:  pw_section "title" ... pw_section_end
# A section still open when the next one starts is closed first.
_PW_SECTION=""
_PW_SECTION_START=""
pw_section() {
  [ -n "$_PW_SECTION" ] && pw_section_end
  _PW_SECTION="$1"
  _PW_SECTION_START="$(pw_now)"
  printf '\n==== %s ====\n' "$1"
}
pw_section_end() {
  [ -n "$_PW_SECTION" ] || return 0
  printf '==== %s: done in %s ====\n' "$_PW_SECTION" "$(pw_elapsed "$_PW_SECTION_START")"
  _PW_SECTION=""
}
# Closes an open section as failed (for EXIT traps).
pw_section_fail() {
  [ -n "$_PW_SECTION" ] || return 0
  printf '==== %s: FAILED after %s ====\n' "$_PW_SECTION" "$(pw_elapsed "$_PW_SECTION_START")"
  _PW_SECTION=""
}

# Where the Docker client will connect (for messages).
pw_docker_endpoint() { printf '%s' "${DOCKER_HOST:-unix:///var/run/docker.sock}"; }

# True when a Docker engine answers within a few seconds.
pw_docker_up() {
  command -v docker >/dev/null 2>&1 || return 1
  timeout "${PW_DOCKER_PING_TIMEOUT:-10}" docker info --format '{{.ServerVersion}}' >/dev/null 2>&1
}

# Exit with a clear message unless a Docker engine answers.
pw_require_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    pw_die "no docker command on PATH: install Docker (on Debian: apt-get install -y docker.io)"
  fi
  if ! pw_docker_up; then
    pw_die "no Docker engine at $(pw_docker_endpoint): start it with 'dockerd --bridge=none --iptables=false --ip-forward=false >/tmp/dockerd.log 2>&1 &' (or 'systemctl start docker'), or install docker.io (apt-get install -y docker.io)"
  fi
}

# True when IMAGE exists locally.
pw_image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The value of label KEY on local IMAGE (empty when absent).
pw_image_label() {
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//'
}

# Human-readable size of local IMAGE.
pw_image_size() {
  docker image inspect --format '{{.Size}}' "$1" 2>/dev/null |
    awk '{ printf "%.1f MB", $1 / 1000 / 1000 }'
}

# Runs each CHECK (a command name: a function or a program) at the same time, each into a log of its own,
# then reports each in the order given with its time, printing the log of any that failed. Fails when any failed.
# For checks that only read the tree (the static checks): on 2 cores they take the time of the longest, not the sum.
pw_concurrently() {
  local dir check rc=0 status took pids=()
  dir="$(mktemp -d "${TMPDIR:-/tmp}/pairwatch-checks.XXXXXX")"
  for check in "$@"; do
    (
      started="$(pw_now)"
      if "$check" >"$dir/$check.log" 2>&1; then status=0; else status=$?; fi
      printf '%s %s\n' "$status" "$(pw_elapsed "$started")" >"$dir/$check.status"
    ) &
    pids+=("$!")
  done
  wait "${pids[@]}" || true
  for check in "$@"; do
    read -r status took <"$dir/$check.status"
    if [ "$status" = 0 ]; then
      pw_log "$check passed in $took"
    else
      cat "$dir/$check.log" >&2
      pw_warn "$check FAILED (exit $status) after $took"
      rc=1
    fi
  done
  rm -rf "$dir"
  return "$rc"
}
