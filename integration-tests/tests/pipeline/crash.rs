use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use slate_activities::plan::Request;
use slate_engine::RunState;
use slate_integration_tests::{process::WorkerProcess, wait};

use crate::harness::{VideoHarness, WORKER_BINARY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_generating_chunks_rerenders_only_the_unfinished_chunks() {
    let h = VideoHarness::new().await;
    let media = h.media.path().to_str().unwrap().to_owned();
    let scratch_dir = tempfile::tempdir().unwrap();
    let scratch = scratch_dir.path().to_str().unwrap().to_owned();
    let args = [
        "--media-dir",
        media.as_str(),
        "--scratch-dir",
        scratch.as_str(),
    ];
    let mut first = WorkerProcess::spawn(WORKER_BINARY, &h.db.url, &args);
    let run = h
        .start(Request {
            duration: Some(30),
            archetype: Some("emotional_storytelling".into()),
            ..Request::new("an ad for a family car")
        })
        .await;
    let done_before = wait::until("two clips", Duration::from_secs(120), || async {
        let done: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT key, value FROM memos WHERE run_id = $1 AND key LIKE '%chunk-%'",
        )
        .bind(run)
        .fetch_all(&h.db.pool)
        .await
        .unwrap();
        (done.len() >= 2).then_some(done)
    })
    .await;
    let busy = || ffmpeg_working_in(&scratch);
    wait::until("an ffmpeg at work", Duration::from_secs(60), || async {
        busy().then_some(())
    })
    .await;
    first.kill().await;
    wait::until(
        "the killed worker's ffmpeg to die with it",
        Duration::from_secs(1),
        || async { (!busy()).then_some(()) },
    )
    .await;
    let written: HashMap<String, SystemTime> = done_before
        .iter()
        .map(|(_, rendered)| {
            let key = rendered["clip"].as_str().unwrap().to_owned();
            let modified = std::fs::metadata(h.path(&key)).unwrap().modified().unwrap();
            (key, modified)
        })
        .collect();
    assert!(written.len() < 6, "the kill came before the last clip");
    let orphaned = folders_in(&scratch);
    assert_eq!(
        orphaned.len(),
        1,
        "the killed worker's scratch folder is left"
    );

    let mut second = WorkerProcess::spawn(WORKER_BINARY, &h.db.url, &args);
    wait::until(
        "the new worker to sweep the orphaned scratch folder",
        Duration::from_secs(30),
        || async { (!folders_in(&scratch).contains(&orphaned[0])).then_some(()) },
    )
    .await;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);

    let memos: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT key, value FROM memos WHERE run_id = $1 AND key LIKE '%chunk-%' ORDER BY key",
    )
    .bind(run)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(memos.len(), 6, "each clip memoized once");
    for before in &done_before {
        assert!(memos.contains(before), "{before:?} was kept as it was");
    }
    for (key, modified) in written {
        let now = std::fs::metadata(h.path(&key)).unwrap().modified().unwrap();
        assert_eq!(now, modified, "{key} was not rendered again");
    }
    second.terminate().await;
    h.db.drop().await;
}

/// The folders in `root`.
fn folders_in(root: &str) -> Vec<std::path::PathBuf> {
    let entries = std::fs::read_dir(root).unwrap().flatten();
    entries.map(|e| e.path()).filter(|p| p.is_dir()).collect()
}

/// Whether an ffmpeg process is working on files under `folder`.
fn ffmpeg_working_in(folder: &str) -> bool {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|process| {
        let cmdline = std::fs::read(process.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.starts_with("ffmpeg") && cmdline.contains(folder)
    })
}
