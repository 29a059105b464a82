use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use serde_json::{json, Value};
use slate_activities::plan::Request;
use slate_engine::RunState;
use slate_integration_tests::{
    process::{SlateServer, WorkerProcess},
    wait,
};

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

/// A worker killed while it renders a regenerated beat's clips: another worker finishes the
/// version, rendering again only the clip that was cut off; the other beats are the first
/// version's, never rendered for the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_regeneration_finishes_the_version_reusing_what_was_done() {
    let h = VideoHarness::new().await;
    let scratch_dir = tempfile::tempdir().unwrap();
    let scratch = scratch_dir.path().to_str().unwrap().to_owned();
    let env = vec![
        (
            "SLATE_MEDIA_DIR",
            h.media.path().to_str().unwrap().to_owned(),
        ),
        ("SLATE_SCRATCH_DIR", scratch.clone()),
        ("SLATE_LEASE_TTL_SECS", "2".to_owned()),
    ];
    let api = SlateServer::start(&h.db.url, h.media.path(), &[("SLATE_WORKERS", "0")]).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Value| {
        let request = http
            .request(method, format!("{}{path}", api.base))
            .json(&body);
        async move {
            let answer = request.send().await.unwrap();
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            )
        }
    };
    let status_of = |id: String| {
        let call = &call;
        async move {
            call(
                reqwest::Method::GET,
                format!("/api/status/{id}"),
                Value::Null,
            )
            .await
            .1
        }
    };
    let mut first = WorkerProcess::slate_worker(&h.db.url, &env);
    let body = json!({"prompt": "an ad for a family car", "duration": 30,
                      "archetype": "emotional_storytelling"});
    let (_, admitted) = call(reqwest::Method::POST, "/api/generate".into(), body).await;
    let id = admitted["video_id"].as_str().unwrap().to_owned();
    wait::until("version 1", Duration::from_secs(300), || async {
        (status_of(id.clone()).await["status"] == "complete").then_some(())
    })
    .await;
    let (_, v1) = call(
        reqwest::Method::GET,
        format!("/api/video/{id}"),
        Value::Null,
    )
    .await;
    let beat = v1["spec"]["beats"]
        .as_array()
        .unwrap()
        .iter()
        .position(|b| b["duration"] == 10)
        .expect("a beat of two clips")
        + 1;

    let path = format!("/api/video/{id}/beats/{beat}/regenerate");
    let (status, queued) = call(reqwest::Method::POST, path, Value::Null).await;
    assert_eq!(status, 200, "{queued}");
    let version: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM videos WHERE video_id = $1::uuid AND version = 2")
            .bind(&id)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    let clip_memos = || async {
        let done: Vec<(String, Value)> = sqlx::query_as(
            "SELECT key, value FROM memos WHERE run_id = $1 AND key LIKE '%chunk-%' ORDER BY key",
        )
        .bind(version)
        .fetch_all(&h.db.pool)
        .await
        .unwrap();
        done
    };
    let done_before = wait::until(
        "the beat's first clip",
        Duration::from_secs(120),
        || async {
            let done = clip_memos().await;
            (!done.is_empty()).then_some(done)
        },
    )
    .await;
    first.kill().await;
    assert_eq!(
        done_before.len(),
        1,
        "the kill came before the beat's last clip"
    );

    let mut second = WorkerProcess::slate_worker(&h.db.url, &env);
    wait::until("version 2", Duration::from_secs(300), || async {
        let status = status_of(id.clone()).await;
        (status["status"] == "complete" && status["version"] == 2).then_some(())
    })
    .await;
    let memos = clip_memos().await;
    assert_eq!(
        memos.len(),
        2,
        "only the regenerated beat's clips, each memoized once"
    );
    assert!(
        memos.contains(&done_before[0]),
        "the clip done before the kill was kept"
    );
    let (_, v2) = call(
        reqwest::Method::GET,
        format!("/api/video/{id}"),
        Value::Null,
    )
    .await;
    let clips = |video: &Value| -> Vec<String> {
        let urls = video["chunk_urls"].as_array().unwrap().iter();
        urls.map(|u| u.as_str().unwrap().split('?').next().unwrap().to_owned())
            .collect()
    };
    let (old, new) = (clips(&v1), clips(&v2));
    let changed: Vec<usize> = (0..old.len()).filter(|i| old[*i] != new[*i]).collect();
    assert_eq!(
        changed.len(),
        2,
        "the beat's two clips, and no other: {changed:?}"
    );
    second.terminate().await;
    api.stop().await;
    h.db.drop().await;
}
