# Sourced by the benchmark scripts: builds the named benchmark binary, starts a throw-away
# PostgreSQL (default durability: fsync and synchronous commit on) on a free loopback port,
# and measures `pgbench -N` (8 clients) on it as the machine's reference. Sets PG_PORT, REF and
# PHASE; the server is stopped and removed when the script exits.
#   BENCH_BIN=ledger-bench; source bench/reference.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
PHASE="${SECONDS_PER_PHASE:-10}"

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
[ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 1; }
PG_DIR=$(mktemp -d "/tmp/hp-$BENCH_BIN-pg.XXXXXX")
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
trap cleanup EXIT

cargo build --release -p healthpoints-integration-tests --bin "$BENCH_BIN"

as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR -c max_connections=200 -c shared_buffers=256MB" start >/dev/null

echo "== reference: pgbench -N (simple-update), 8 clients, ${PHASE}s, scale 10"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
REF=$("$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -N -c 8 -j 2 -T "$PHASE" postgres 2>/dev/null \
  | awk '/^tps = / {print $3; exit}')
echo "pgbench -N: $REF tps"
