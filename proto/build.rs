//! Compiles the mesh's contracts without a system `protoc`: `protox` parses the `.proto` files
//! into a descriptor set, `tonic-prost-build` generates messages, clients and servers from it, and
//! the encoded descriptor set is written beside the code for gRPC reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "healthpoints/common/v1/common.proto",
    "healthpoints/identity/v1/identity.proto",
    "healthpoints/intake/v1/intake.proto",
    "healthpoints/ledger/v1/ledger.proto",
    "healthpoints/mall/v1/mall.proto",
    "healthpoints/exchange/v1/exchange.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    fs::write(
        out_dir.join("healthpoints_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
