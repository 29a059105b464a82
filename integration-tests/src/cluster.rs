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
        let url = local_postgres(folder.path(), &["url"]);
        Self { folder, url }
    }

    /// Stops the cluster (fast shutdown: sessions are cut), keeps it down for `down`, and starts
    /// it again on the same port.
    pub fn restart(&self, down: Duration) {
        local_postgres(
            self.folder.path(),
            &["restart", &down.as_secs().to_string()],
        );
    }
}

/// Runs `scripts/local-postgres.sh` with `args` on the cluster in `folder`; returns what it
/// printed. The cluster is always the folder's, whatever DATABASE_URL says.
fn local_postgres(folder: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(script())
        .args(args)
        .env_remove("DATABASE_URL")
        .env("SLATE_PGDATA", folder)
        .output()
        .expect("run local-postgres.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .env("SLATE_PGDATA", self.folder.path())
            .output();
    }
}
