# shellcheck shell=bash
# Sourced by up.sh and test.sh: installs dependencies when they are missing or stale, then builds.
pw_install_and_build() {
  cd "$PW_ROOT"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    pw_log "installing dependencies (npm ci)"
    npm ci --no-audit --no-fund
  fi
  pw_log "building"
  npm run --silent build
}
