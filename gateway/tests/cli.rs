//! The `gateway` binary loads its embedded defaults with environment overrides. (`cargo test`
//! also builds the binary here, which the process-mesh tests of `integration-tests` start.)

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
