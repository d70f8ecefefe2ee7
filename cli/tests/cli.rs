//! The `healthpoints` binary explains itself. (`cargo test` also builds it here, which the
//! process-mesh tests of `integration-tests` start.)

use std::process::Command;

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
