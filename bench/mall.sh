#!/usr/bin/env bash
# Redemption benchmark, end to end (resident HTTP → gateway → city mall → identity, ledger):
# `pgbench -N` on a throw-away PostgreSQL as the machine's reference (see bench/reference.sh),
# then `mall-bench` with the city mall and the ledger on databases of the same server; every
# figure is also printed as a ratio to the reference.
#   bash bench/mall.sh              # 10 s per phase
#   SECONDS_PER_PHASE=20 bash bench/mall.sh
BENCH_BIN=mall-bench
source "$(dirname "$0")/reference.sh"

echo "== mall orders, end to end"
./target/release/mall-bench --database-url "postgres://postgres@127.0.0.1:$PG_PORT/postgres" \
  --reference-tps "$REF" --reference-name "pgbench -N (8 clients)" --seconds "$PHASE"
