#!/usr/bin/env bash
# npm run down: stops and removes every worker container pairwatch started (label pairwatch.managed=true).
# Set PAIRWATCH_INSTANCE to stop only one installation's workers. Monitors stay recorded as they are.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PW_LOG_TAG=down
pw_require_docker
filters=(--filter label=pairwatch.managed=true)
[ -n "${PAIRWATCH_INSTANCE:-}" ] && filters+=(--filter "label=pairwatch.instance=$PAIRWATCH_INSTANCE")
mapfile -t ids < <(docker ps -aq "${filters[@]}")
if [ "${#ids[@]}" -eq 0 ]; then
  pw_log "no pairwatch workers are running"
  exit 0
fi
docker stop --time 5 "${ids[@]}" >/dev/null
docker rm --force "${ids[@]}" >/dev/null
pw_log "stopped and removed ${#ids[@]} worker(s)"
