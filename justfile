# The front door. `just` is optional: every recipe is a plain cargo command (see README).
# Install with `pip install rust-just` or `cargo install just --locked`.

set shell := ["bash", "-euo", "pipefail", "-c"]

export CARGO_BUILD_JOBS := env_var_or_default("CARGO_BUILD_JOBS", "2")

# Lists the recipes.
default:
    @just --list

# Starts the whole mesh on SQLite under ./data (pass e.g. `--http-addr 0.0.0.0:8080`).
up *ARGS:
    cargo run --release --bin healthpoints -- up {{ARGS}}

# Runs the resident journey on the mesh as separate processes (SQLite) and prints each step.
demo:
    cargo build --workspace --bins
    cargo run -p healthpoints-integration-tests --bin mesh-demo

# Runs every test (set HP_TEST_DATABASE_URL=postgres://… to run the store suites on PostgreSQL).
test:
    cargo test --workspace

# Lints with warnings as errors, and no unused dependency (`cargo install cargo-machete`).
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo machete
    python3 .ci/module_cycles.py . 1
    python3 .ci/module_cycles.py . 2

# Formats the code.
fmt:
    cargo fmt --all

# What CI runs: fmt check, lint, tests on a throw-away PostgreSQL and on SQLite.
verify:
    bash .ci/run

# Benchmarks on a throw-away PostgreSQL, beside `pgbench -N` on the same server: the ledger,
# intake end to end, redemption, the web client.
bench: bench-ledger bench-intake bench-mall bench-web

bench-ledger:
    bash bench/ledger.sh

bench-intake:
    bash bench/intake.sh

bench-mall:
    bash bench/mall.sh

bench-web:
    bash bench/web.sh

# The city at scale (not part of `bench`: minutes to hours): `just bench-scale 1000000 1000000`.
bench-scale residents="100000" records="1000000":
    bash bench/scale.sh --residents {{residents}} --records {{records}}

# Mutation testing of the domain deciders (cargo-mutants, `cargo install cargo-mutants
# --locked`): each file's mutants against its own package's tests, in place so the build is
# reused. Hours on 2 cores, so not in CI; docs/testing.md has the last figures. Pass one file to
# run only it: `just mutants services/ledger/src/domain/engine.rs`. Commit nothing while it
# runs: it edits the files under test and restores them.
mutants *FILES:
    #!/usr/bin/env bash
    set -euo pipefail
    files=({{FILES}})
    if [ ${#files[@]} -eq 0 ]; then
      files=(services/ledger/src/domain/engine.rs services/intake/src/domain/judge.rs
             services/intake/src/domain/rules.rs services/intake/src/service/rules.rs
             services/mall/src/service.rs services/mall/src/service/catalogue.rs
             services/mall/src/service/orders.rs services/mall/src/service/settlement.rs
             services/mall/src/service/sweeper.rs gateway/src/malls.rs
             services/exchange/src/domain/records.rs services/exchange/src/service/records.rs
             services/exchange/src/domain/consent.rs services/exchange/src/service/consent.rs)
    fi
    for f in "${files[@]}"; do
      pkg=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys,os; f=os.path.abspath(sys.argv[1]); print(next(p["name"] for p in json.load(sys.stdin)["packages"] if f.startswith(os.path.dirname(p["manifest_path"])+"/")))' "$f")
      out="target/mutants/$(basename "$(dirname "$f")")-$(basename "$f" .rs)"
      mkdir -p "$out"
      echo "== $f ($pkg) -> $out/mutants.out"
      cargo mutants --in-place --no-shuffle --baseline=skip --timeout 180 --file "$f" --package "$pkg" --output "$out" || true
    done
