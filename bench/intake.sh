#!/usr/bin/env bash
# Intake benchmark, end to end (partner HTTP → gateway → exchange → intake → ledger):
# `pgbench -N` on a throw-away PostgreSQL as the machine's reference (see bench/reference.sh),
# then `intake-bench` with the ledger, intake and exchange on databases of the same server;
# every figure is also printed as a ratio to the reference.
#   bash bench/intake.sh            # 10 s per phase
#   SECONDS_PER_PHASE=20 bash bench/intake.sh
BENCH_BIN=intake-bench
source "$(dirname "$0")/reference.sh"

echo "== intake, end to end"
# 200 residents receive thousands of reports within seconds: far beyond the velocity guards
# meant for real people (which would hold the awards for review), so they are lifted here.
export HP_INTAKE__FRAUD__RESIDENT_REPORTS_PER_HOUR=100000000
export HP_INTAKE__FRAUD__SOURCE_REPORTS_PER_DAY=100000000
./target/release/intake-bench --database-url "postgres://postgres@127.0.0.1:$PG_PORT/postgres" \
  --reference-tps "$REF" --reference-name "pgbench -N (8 clients)" --seconds "$PHASE"
