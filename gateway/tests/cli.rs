//! The `gateway` and `healthpoints` binaries: the gateway loads its embedded defaults with
//! environment overrides; the runner explains itself. (`cargo test` also builds both binaries
//! here, which the process-mesh tests of `integration-tests` start.)

use std::process::Command;

#[test]
fn the_gateway_dumps_its_config_with_overrides() {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--dump-config")
        .env("HP_GATEWAY__HTTP__ADDR", "127.0.0.1:18080")
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("127.0.0.1:18080"), "{text}");
}

#[test]
fn the_runner_names_its_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_healthpoints"))
        .arg("--help")
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("up"), "{text}");
}
