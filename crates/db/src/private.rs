//! Files that hold personal data are the process owner's alone: a SQLite database (with its
//! `-wal` and `-shm` companions) is created `0600` in a directory created `0700`, and a directory
//! that every other account on the machine can enter or list is refused with its path —
//! residents' names, birth dates and password hashes must not be readable by all. (Access for
//! the directory's group, e.g. a backup group, is the operator's choice and allowed.)

use std::{
    fs::{DirBuilder, OpenOptions},
    os::unix::fs::{
        DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
    },
    path::Path,
};

use crate::DbError;

/// Creates `dir` (and its missing parents) as `0700`, or checks that an existing `dir` gives
/// other users (neither owner nor group) no access.
pub fn dir(dir: &Path) -> Result<(), DbError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.mode() & 0o777;
            if mode & 0o007 != 0 {
                return Err(DbError::NotPrivate(format!(
                    "the data directory {} is open to other users of this machine (mode {mode:03o}); it holds personal data: run `chmod 700 {}` and start again",
                    dir.display(),
                    dir.display()
                )));
            }
            Ok(())
        }
        Ok(_) => Err(DbError::NotPrivate(format!(
            "{} is not a directory",
            dir.display()
        ))),
        Err(_) => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(DbError::Directory),
    }
}

/// Creates `file` empty as `0600` if it does not exist yet (SQLite then gives its `-wal` and
/// `-shm` files the same mode), and takes group and other access away from an existing one and
/// its companions.
pub fn file(file: &Path) -> Result<(), DbError> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let path = Path::new(&format!("{}{suffix}", file.display())).to_owned();
                if let Ok(meta) = std::fs::metadata(&path)
                    && meta.mode() & 0o077 != 0
                {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(DbError::Directory)?;
                }
            }
            Ok(())
        }
        Err(e) => Err(DbError::Directory(e)),
    }
}

/// A fresh temporary directory that is the owner's alone (`0700`), for tests, benchmarks and
/// demos that keep databases in it; removed when dropped.
pub fn tempdir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn new_directories_and_databases_are_the_owners_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir_path = root.path().join("data").join("inner");
        dir(&dir_path).unwrap();
        assert_eq!(mode(&dir_path), 0o700);
        let db = dir_path.join("identity.db");
        file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn an_open_directory_is_refused_by_name_and_open_files_are_closed() {
        let root = tempfile::tempdir().unwrap();
        let open = root.path().join("data");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = dir(&open).unwrap_err().to_string();
        assert!(err.contains(&open.display().to_string()), "{err}");
        assert!(err.contains("755"), "{err}");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o750)).unwrap();
        dir(&open).expect("a group may be let in");

        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
        let db = open.join("ledger.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::write(open.join("ledger.db-wal"), b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(
            open.join("ledger.db-wal"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&open.join("ledger.db-wal")), 0o600);
    }
}
