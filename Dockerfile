# The healthpoints image: every binary of the mesh — `healthpoints` (up, migrate, demo), and
# each service alone: identity, ledger, intake, exchange, city-mall, district-mall, gateway,
# and the web client, web —
# on a small runtime base, run as a non-root user. One image; the chart picks the binary.
#
#   docker build -t healthpoints .
#   docker run --rm -p 8080:8080 -p 8081:8081 healthpoints
#
# The build stage runs what CI runs (a locked cargo build of the workspace's binaries), in
# release mode. No container engine exists on the CI machine: CI lints this file (hadolint)
# but does not build it.

# The toolchain rust-toolchain.toml pins, so rustup downloads nothing during the build.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# Two cores build best with two jobs; the dependency tree is kept lean for that.
ENV CARGO_BUILD_JOBS=2 \
    CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never
COPY . .
RUN cargo build --release --locked \
        -p healthpoints -p healthpoints-identity -p healthpoints-ledger -p healthpoints-intake \
        -p healthpoints-exchange -p healthpoints-mall -p healthpoints-gateway -p healthpoints-web \
    && mkdir -p /out \
    && cp target/release/healthpoints target/release/identity target/release/ledger \
          target/release/intake target/release/exchange target/release/city-mall \
          target/release/district-mall target/release/gateway target/release/web /out/

# glibc and libgcc only (TLS is rustls, SQLite is compiled in); no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/ /usr/local/bin/
# The embedded default keeps its SQLite files here; on Kubernetes the services use PostgreSQL.
WORKDIR /home/nonroot
# distroless's `nonroot` user, by number so the runtime need not resolve a name.
USER 65532:65532
# The gateway's HTTP port and the web client's; a service run alone listens where its
# configuration says (`grpc.addr`, e.g. HP_LEDGER__GRPC__ADDR=0.0.0.0:50051).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/healthpoints"]
CMD ["up", "--http-addr", "0.0.0.0:8080", "--web-addr", "0.0.0.0:8081"]
