//! Running ffmpeg: its child dies with its attempt. The child is killed when the attempt drops it
//! (cancel, timeout), and the kernel kills it if the worker itself dies (parent-death signal), so
//! a crash leaves no ffmpeg running.

use std::{
    ffi::{OsStr, OsString},
    process::Stdio,
};

use slate_engine::StepError;
use tokio::process::Command;

/// Runs `ffmpeg` with `args` (quiet, overwriting outputs) until it ends; the last lines of its
/// error output explain a failure.
pub async fn run<I, S>(args: I) -> Result<(), StepError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = "ffmpeg";
    let mut command = Command::new(program);
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The signal fires when the thread that spawned the child ends; tokio's worker threads live as
    // long as the runtime, so in practice when the worker process ends.
    // SAFETY: prctl(2) is async-signal-safe; it only sets the child's parent-death signal.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StepError::permanent(
            "ffmpeg_missing",
            format!("{program} is not installed (on Debian or Ubuntu: apt-get install ffmpeg)"),
        ),
        _ => StepError::retryable("ffmpeg_spawn", format!("cannot start {program}: {e}")),
    })?;
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| StepError::retryable("ffmpeg_wait", e.to_string()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(StepError::retryable(
        "ffmpeg_failed",
        format!(
            "{program} exited with {}: {}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ),
    ))
}

/// Arguments from string slices, to be joined with paths.
pub fn args<const N: usize>(words: [&str; N]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}
