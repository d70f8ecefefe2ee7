//! The `exchange` binary: it loads its embedded defaults with environment overrides and never
//! prints a secret. (`cargo test` also builds the binary here, which the process-mesh tests of
//! `integration-tests` start.)

use std::process::Command;

#[test]
fn dump_config_shows_the_layers_and_hides_the_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_exchange"))
        .arg("--dump-config")
        .env(
            "HP_EXCHANGE__CREDENTIALS__CLIENT_SECRET",
            "s3cret-never-printed",
        )
        .env("HP_EXCHANGE__GRPC__ADDR", "127.0.0.1:50999")
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("127.0.0.1:50999"), "{text}");
    assert!(
        text.contains("50053"),
        "the ledger's default endpoint: {text}"
    );
    assert!(!text.contains("s3cret-never-printed"), "{text}");
}
