#!/usr/bin/env bash
# Ledger benchmark: `pgbench -N` on a throw-away PostgreSQL as the machine's reference (see
# bench/reference.sh), then `ledger-bench` against the same server; every figure is also
# printed as a ratio to the reference.
#   bash bench/ledger.sh            # 10 s per phase
#   SECONDS_PER_PHASE=20 bash bench/ledger.sh
BENCH_BIN=ledger-bench
source "$(dirname "$0")/reference.sh"

echo "== ledger"
./target/release/ledger-bench --database-url "postgres://postgres@127.0.0.1:$PG_PORT/postgres" \
  --reference-tps "$REF" --reference-name "pgbench -N (8 clients)" --seconds "$PHASE"
