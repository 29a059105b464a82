//! Running ffmpeg and ffprobe: a child dies with its attempt. The child is killed when the attempt drops it
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
    let fixed = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];
    tool("ffmpeg", fixed, args).await.map(drop)
}

/// Runs `ffmpeg` with `args` at the log level that prints measurements (a filter's summary),
/// and returns its error output, where ffmpeg prints them.
pub async fn measure<I, S>(args: I) -> Result<String, StepError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let fixed = ["-hide_banner", "-nostdin", "-loglevel", "info", "-y"];
    let output = spawn("ffmpeg", fixed, args).await?;
    Ok(String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Runs `ffprobe` with `args` and returns what it printed.
pub async fn probe<I, S>(args: I) -> Result<String, StepError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = tool("ffprobe", ["-hide_banner"], args).await?;
    Ok(String::from_utf8_lossy(&output).into_owned())
}

/// Runs `program` with `fixed` then `args` until it ends; its standard output, or the last lines
/// of its error output when it fails.
async fn tool<const N: usize, I, S>(
    program: &str,
    fixed: [&str; N],
    args: I,
) -> Result<Vec<u8>, StepError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn(program, fixed, args)
        .await
        .map(|output| output.stdout)
}

/// Runs `program` with `fixed` then `args` until it ends; what it printed, or the last lines of
/// its error output when it fails.
async fn spawn<const N: usize, I, S>(
    program: &str,
    fixed: [&str; N],
    args: I,
) -> Result<std::process::Output, StepError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command
        .args(fixed)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
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
        return Ok(output);
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
