//! The embedded default keeps residents' data to its owner: `healthpoints up` creates its data
//! directory 0700 and every database, WAL and key file 0600, and refuses to start in a directory
//! that other users can read, naming it.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

use healthpoints::mesh::{self, MeshOptions};
use healthpoints_gateway::throttle::RateLimits;

fn options(data_dir: std::path::PathBuf) -> MeshOptions {
    MeshOptions {
        data_dir,
        http_addr: "127.0.0.1:0".into(),
        bootstrap_admin: Some("admin:Change-me-123".into()),
        database_urls: Default::default(),
        database_server: None,
        district_malls: mesh::pilot_districts(),
        rate_limits: Some(RateLimits::unthrottled()),
        cors_origins: Vec::new(),
        web_addr: None,
        mall_settings: Vec::new(),
    }
}

#[tokio::test]
async fn the_data_directory_and_every_file_in_it_are_the_owners_alone() {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = root.path().join("data");
    let running = mesh::start(options(data.clone())).await.unwrap();

    // Looked at while running, when SQLite's -wal and -shm files exist.
    assert_eq!(std::fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let mode = meta.mode() & 0o777;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Files 0600; a directory (`messages`, where the development sender writes password
        // reset codes) 0700.
        let private = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, private, "{name} is {mode:03o}");
        seen.push(name);
    }
    for expected in ["identity.db", "identity.key", "ledger.db", "city-mall.db"] {
        assert!(seen.iter().any(|s| s == expected), "{expected} in {seen:?}");
    }
    assert!(seen.iter().any(|s| s.ends_with("-wal")), "{seen:?}");
    running.stop().await;

    // Someone opened the directory to everyone: the next start refuses, naming it.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let refused = mesh::start(options(data.clone())).await.unwrap_err();
    let message = format!("{refused:#}");
    assert!(message.contains(&data.display().to_string()), "{message}");
    assert!(message.contains("chmod 700"), "{message}");
}
