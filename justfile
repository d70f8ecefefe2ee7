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

# Lints with warnings as errors.
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Formats the code.
fmt:
    cargo fmt --all

# What CI runs: fmt check, lint, tests on a throw-away PostgreSQL and on SQLite.
verify:
    bash .ci/run

# Benchmarks on a throw-away PostgreSQL, beside `pgbench -N` on the same server: the ledger,
# then intake end to end.
bench: bench-ledger bench-intake bench-mall

bench-ledger:
    bash bench/ledger.sh

bench-intake:
    bash bench/intake.sh

bench-mall:
    bash bench/mall.sh
