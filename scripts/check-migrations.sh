#!/usr/bin/env bash
# Fails when the entities and the migrations disagree: runs the migrations on a scratch database, then asks
# TypeORM whether it would generate a new migration (it must not).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PW_LOG_TAG=migrations
cd "$PW_ROOT"
admin="${TEST_ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# One scratch database per run, so two checkouts (or two CI runs) checking at once never drop each other's.
scratch="pairwatch_migration_check_$$"
url="${admin%/*}/$scratch"
psql_admin() { node -e "
  const { Client } = require('pg');
  const c = new Client({ connectionString: process.argv[1] });
  c.connect().then(() => c.query(process.argv[2])).then(() => c.end()).catch((e) => { console.error(e.message); process.exit(1); });
" "$admin" "$1"; }
psql_admin "DROP DATABASE IF EXISTS $scratch WITH (FORCE)"
psql_admin "CREATE DATABASE $scratch"
trap 'psql_admin "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" || true' EXIT
DATABASE_URL="$url" npx typeorm migration:run -d dist/apps/api/data-source.js >/dev/null
if ! DATABASE_URL="$url" npx typeorm migration:generate --check --dryrun -d dist/apps/api/data-source.js apps/api/src/database/migrations/pending; then
  pw_die "the entities differ from the migrations: write a migration (npm run migration:generate -- apps/api/src/database/migrations/<name>)"
fi
pw_log "entities and migrations agree"
