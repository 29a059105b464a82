//! A PostgreSQL cluster of a test's own, made by the project's `scripts/local-postgres.sh` in a
//! temporary folder, so that the test may restart it and terminate its backends without touching
//! any other test's database.

use std::{os::unix::fs::PermissionsExt, path::PathBuf, process::Command, time::Duration};

pub struct PrivateCluster {
    folder: tempfile::TempDir,
    /// The URL of its `postgres` database.
    pub url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/local-postgres.sh")
}

impl PrivateCluster {
    /// Creates and starts the cluster on a free port.
    pub fn start() -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        // The cluster may belong to the postgres user, which must reach its folder.
        std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755))
            .expect("open the folder");
        let out = Command::new(script())
            .arg("url")
            .env_remove("DATABASE_URL")
            .env("SLATE_PGDATA", folder.path())
            .output()
            .expect("run local-postgres.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Self { folder, url }
    }

    /// Stops the cluster (fast shutdown: sessions are cut), keeps it down for `down`, and starts
    /// it again on the same port.
    pub fn restart(&self, down: Duration) {
        self.run(&["restart", &down.as_secs().to_string()]);
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new(script())
            .args(args)
            .env("SLATE_PGDATA", self.folder.path())
            .output()
            .expect("run local-postgres.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .env("SLATE_PGDATA", self.folder.path())
            .output();
    }
}
