//! Worker processes for crash tests: spawned from the `test-worker` binary, killed with
//! SIGKILL, paused with SIGSTOP and resumed with SIGCONT. Their logs go to a file per process.

use std::{path::PathBuf, process::Stdio};

use tokio::process::{Child, Command};

pub struct WorkerProcess {
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

impl WorkerProcess {
    /// Starts `binary` (the path of `test-worker`) on the database at `url`, with `args`.
    pub fn spawn(binary: &str, url: &str, args: &[&str]) -> Self {
        Self::start(
            Command::new(binary)
                .arg("--database-url")
                .arg(url)
                .args(args),
        )
    }

    /// Starts `command`, logging to a file of its own.
    fn start(command: &mut Command) -> Self {
        let log = std::env::temp_dir().join(format!(
            "slate-test-worker-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).expect("create the worker's log");
        let child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the test worker");
        let pid = child.id().expect("a running child");
        Self { child, pid, log }
    }

    /// Starts `slate worker` on the database at `url`, with the settings `env` (SLATE_*
    /// variables).
    pub fn slate_worker(url: &str, env: &[(&str, String)]) -> Self {
        Self::start(
            Command::new(slate_binary())
                .arg("worker")
                .env("DATABASE_URL", url)
                .envs(env.iter().map(|(name, value)| (name, value))),
        )
    }

    /// Starts `slate worker` as [`Self::slate_worker`] does, pinned to CPU `core` (`taskset`).
    pub fn pinned_slate_worker(core: usize, url: &str, env: &[(&str, String)]) -> Self {
        Self::start(
            Command::new("taskset")
                .arg("-c")
                .arg(core.to_string())
                .arg(slate_binary())
                .arg("worker")
                .env("DATABASE_URL", url)
                .envs(env.iter().map(|(name, value)| (name, value))),
        )
    }

    /// SIGKILL, and waits until the process is gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the worker");
    }

    /// SIGTERM (a graceful shutdown), and waits for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        self.child.wait().await.expect("wait for the worker")
    }

    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child this value owns and has not reaped.
        let sent = unsafe { libc::kill(self.pid as libc::pid_t, signal) };
        assert_eq!(sent, 0, "signal {signal} to worker {}", self.pid);
    }
}

/// The `slate` binary of this build, beside the running test or benchmark (`make test` and
/// `make bench` build it first).
pub fn slate_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let folder = exe.parent().expect("a folder");
    let folder = if folder.ends_with("deps") {
        folder.parent().expect("the profile's folder")
    } else {
        folder
    };
    let binary = folder.join("slate");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p slate-api --bin slate`",
        binary.display()
    );
    binary
}

/// `slate serve` in a process of its own, on a free port, ready to answer.
pub struct SlateServer {
    child: Child,
    pub pid: u32,
    /// For example `http://127.0.0.1:41234`.
    pub base: String,
}

impl SlateServer {
    /// Starts it on the database at `url`, keeping media in `media_dir`, with the extra settings
    /// `env` (SLATE_* variables); its log goes to `media_dir/serve.log`. Waits until /readyz
    /// answers.
    pub async fn start(url: &str, media_dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(media_dir.join("serve.log")).expect("the server's log");
        let child = Command::new(slate_binary())
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("SLATE_PORT", port.to_string())
            .env("SLATE_MEDIA_DIR", media_dir)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start slate serve");
        let pid = child.id().expect("a running server");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        crate::wait::until(
            "slate serve to be ready",
            std::time::Duration::from_secs(60),
            || async {
                let answer = http.get(format!("{base}/readyz")).send().await.ok()?;
                answer.status().is_success().then_some(())
            },
        )
        .await;
        Self { child, pid, base }
    }

    /// SIGTERM (a graceful shutdown), and waits for the exit.
    pub async fn stop(mut self) {
        // SAFETY: kill(2) on the pid of a child this value owns and has not reaped.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait().await;
    }
}
