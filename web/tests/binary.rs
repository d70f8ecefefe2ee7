//! The `web` binary as an operator runs it: its effective configuration with the session key
//! redacted, and a bad value refused at start with its key named. (This test also makes
//! `cargo test --workspace` build the binary, which the process mesh starts.)

use std::process::Command;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn web() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_web"));
    for (name, _) in std::env::vars() {
        if name.starts_with("HP_") {
            command.env_remove(name);
        }
    }
    command
}

#[test]
fn the_effective_configuration_is_printed_without_the_session_key() {
    let out = web()
        .arg("--dump-config")
        .env("HP_WEB__SESSION__KEY", KEY)
        .env("HP_WEB__HTTP__TRUSTED_PROXIES", "10.0.0.0/8,192.168.0.0/16")
        .output()
        .expect("web runs");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
    assert!(!printed.contains(KEY), "{printed}");
    assert!(printed.contains("192.168.0.0/16"), "{printed}");
}

#[test]
fn a_bad_value_stops_it_naming_the_key() {
    for (name, value, key) in [
        ("HP_WEB__GATEWAY__URL", "localhost:8080", "gateway.url"),
        ("HP_WEB__SESSION__KEY", "c2hvcnQ=", "session.key"),
        (
            "HP_WEB__HTTP__TRUSTED_PROXIES",
            "10.0.0.0/33",
            "http.trusted_proxies",
        ),
    ] {
        let out = web().env(name, value).output().expect("web runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value} started");
        assert!(said.contains(key), "{name}: {said}");
        assert!(!said.contains(value) || key == "gateway.url", "{said}");
    }
}
