#!/usr/bin/env bash
# Web client benchmark, end to end (browser HTTP → web client → gateway → services): the main
# pages' p50/p99 and weight, and the home page under eight clients, beside `pgbench -N` on a
# throw-away PostgreSQL as the machine's reference (see bench/reference.sh).
#   bash bench/web.sh              # 10 s per phase
#   SECONDS_PER_PHASE=20 bash bench/web.sh
BENCH_BIN=web-bench
source "$(dirname "$0")/reference.sh"

echo "== web client pages, end to end"
./target/release/web-bench --database-url "postgres://postgres@127.0.0.1:$PG_PORT/postgres" \
  --reference-tps "$REF" --reference-name "pgbench -N (8 clients)" --seconds "$PHASE"
