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
    let args = ["--media-dir", media.as_str()];
    let mut first = WorkerProcess::spawn(WORKER_BINARY, &h.db.url, &args);
    let run = h
        .start(Request {
            duration: Some(30),
            archetype: Some("emotional_storytelling".into()),
            ..Request::new("an ad for a family car")
        })
        .await;
    let done_before = wait::until("two clips", Duration::from_secs(120), || async {
        let done: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT key, value FROM memos WHERE run_id = $1 AND key LIKE 'chunk-%'")
                .bind(run)
                .fetch_all(&h.db.pool)
                .await
                .unwrap();
        (done.len() >= 2).then_some(done)
    })
    .await;
    let busy = || ffmpeg_working_in(&media);
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
        .map(|(_, key)| {
            let key = key.as_str().unwrap().to_owned();
            let modified = std::fs::metadata(h.path(&key)).unwrap().modified().unwrap();
            (key, modified)
        })
        .collect();
    assert!(written.len() < 6, "the kill came before the last clip");

    let mut second = WorkerProcess::spawn(WORKER_BINARY, &h.db.url, &args);
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);

    let memos: Vec<(String, i32)> = sqlx::query_as(
        "SELECT key, attempt FROM memos WHERE run_id = $1 AND key LIKE 'chunk-%' ORDER BY key",
    )
    .bind(run)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(memos.len(), 6, "each clip memoized once");
    for (key, attempt) in &memos {
        let before = done_before.iter().any(|(k, _)| k == key);
        assert_eq!(*attempt, if before { 1 } else { 2 }, "{key}");
    }
    for (key, modified) in written {
        let now = std::fs::metadata(h.path(&key)).unwrap().modified().unwrap();
        assert_eq!(now, modified, "{key} was not rendered again");
    }
    second.terminate().await;
    h.db.drop().await;
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
