#!/usr/bin/env bash
# npm run down: stops and removes every worker pairwatch started: worker containers (label
# pairwatch.managed=true) when a Docker engine answers, and worker processes (WORKER_RUNTIME=process) listed
# in .pairwatch/process-workers. Set PAIRWATCH_INSTANCE to stop only one installation's workers. Monitors stay
# recorded as they are.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PW_LOG_TAG=down
cd "$PW_ROOT"

# Worker processes: SIGTERM, up to 5 s, then SIGKILL; a pid is only signalled while it is still a Node
# process running the worker program for that monitor (a pid the system reused is left alone). Prints the
# number stopped.
stop_worker_processes() {
  node - "$PW_ROOT/.pairwatch/process-workers" "${PAIRWATCH_INSTANCE:-}" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const [dir, instance] = process.argv.slice(2);
const STATE_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.json$/;
const HAS_PROC = fs.existsSync('/proc/self/cmdline');
const warn = (message) => process.stderr.write(`[down] WARNING: ${message}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function gone(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return error.code === 'ESRCH';
  }
  if (!HAS_PROC) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function isWorker(record) {
  const { pid, script, monitorId } = record;
  if (!Number.isInteger(pid) || pid <= 1 || typeof script !== 'string' || gone(pid)) return false;
  if (!HAS_PROC) {
    const args = (spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).stdout || '').trim();
    return args !== '' && /node/i.test(path.basename(args.split(' ')[0])) && args.includes(script);
  }
  let args;
  try {
    args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return false;
  }
  if (args.length < 2 || !/node/i.test(path.basename(args[0])) || !args.slice(1).includes(script)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`MONITOR_ID=${monitorId}`);
  } catch (error) {
    return error.code === 'EACCES';
  }
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch (error) {
    if (error.code !== 'ESRCH') warn(`cannot send ${name} to worker pid ${pid}: ${error.message}`);
  }
}

async function waitGone(records, ms) {
  const deadline = Date.now() + ms;
  while (records.some((r) => !gone(r.pid)) && Date.now() < deadline) await sleep(100);
  return records.filter((r) => !gone(r.pid));
}

function remove(file) {
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if (error.code !== 'ENOENT') warn(`could not remove ${file}: ${error.message}`);
  }
}

async function main() {
  let names = [];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  const mine = [];
  for (const name of names) {
    const match = STATE_FILE.exec(name);
    if (!match) continue;
    const file = path.join(dir, name);
    let record;
    try {
      record = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      warn(`skipping the unreadable state file ${file}`);
      continue;
    }
    if (!record || record.monitorId !== match[1]) continue;
    if (instance && record.instance !== instance) continue;
    mine.push({ ...record, file, live: isWorker(record) });
  }
  const live = mine.filter((r) => r.live);
  for (const r of live) {
    // An API watching this worker takes its death for a stop, not a crash.
    try {
      const temporary = `${r.file}.down.tmp`;
      const { file: _file, live: _live, ...record } = r;
      fs.writeFileSync(temporary, `${JSON.stringify({ ...record, stopping: new Date().toISOString() }, null, 2)}\n`);
      fs.renameSync(temporary, r.file);
    } catch (error) {
      warn(`could not mark worker pid ${r.pid} as stopping: ${error.message}`);
    }
    signal(r.pid, 'SIGTERM');
  }
  let left = await waitGone(live, 5000);
  for (const r of left) {
    if (!isWorker(r)) continue;
    warn(`worker pid ${r.pid} (monitor ${r.monitorId}) ignored SIGTERM for 5 s: SIGKILL`);
    signal(r.pid, 'SIGKILL');
  }
  left = await waitGone(left, 2000);
  const stuck = new Set(left.map((r) => r.pid));
  for (const r of mine) {
    if (stuck.has(r.pid)) continue;
    remove(r.file);
    remove(r.file.replace(/\.json$/, '.log'));
  }
  for (const r of left) warn(`worker pid ${r.pid} (monitor ${r.monitorId}) is still running; its state is kept`);
  process.stdout.write(`${live.length - left.length}\n`);
  if (left.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  warn(`stopping worker processes failed: ${error.message}`);
  process.exit(1);
});
EOF
}

process_status=0
processes="$(stop_worker_processes)" || process_status=$?
processes="${processes:-0}"
stopped=0
if [ "$processes" -gt 0 ]; then
  pw_log "stopped ${processes} worker process(es)"
  stopped=$((stopped + processes))
fi

if pw_docker_up; then
  filters=(--filter label=pairwatch.managed=true)
  [ -n "${PAIRWATCH_INSTANCE:-}" ] && filters+=(--filter "label=pairwatch.instance=$PAIRWATCH_INSTANCE")
  mapfile -t ids < <(docker ps -aq "${filters[@]}")
  if [ "${#ids[@]}" -gt 0 ]; then
    docker stop --time 5 "${ids[@]}" >/dev/null
    docker rm --force "${ids[@]}" >/dev/null
    pw_log "stopped and removed ${#ids[@]} worker container(s)"
    stopped=$((stopped + ${#ids[@]}))
  fi
else
  pw_log "no Docker engine at $(pw_docker_endpoint): only worker processes were looked for"
fi

[ "$stopped" -eq 0 ] && [ "$process_status" -eq 0 ] && pw_log "no pairwatch workers are running"
[ "$process_status" -eq 0 ] || pw_die "some worker processes could not be stopped (see above)"
