//! Artifacts: every checkpoint, memo and child result lists the artifact keys its value names;
//! keys are the attempt's own; what any of them names, live or superseded, in a run or a fork,
//! counts as named.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slate_activities::storage::{Cleaner, MediaStore, Swept};
use slate_engine::{
    pause::PausePoint, Artifact, EventKind, ForkOptions, RetryPolicy, RunId, RunState,
    StartOptions, Step, StepError, WorkerConfig, Workflow,
};
use slate_integration_tests::wait;

use crate::harness::{test_worker_config, Harness, PATIENCE};

/// What the first step makes: a memoized part, and a whole made by the attempt that succeeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Made {
    part: Artifact,
    whole: Artifact,
    note: String,
}

/// A workflow whose first step memoizes a part and fails its first attempt after it, and whose
/// second step fans out to two children that each make a piece.
fn workflow(fail_once: Arc<AtomicBool>) -> Workflow<()> {
    let make = Step::new("make", move |ctx, ()| {
        let fail_once = fail_once.clone();
        async move {
            let part: Artifact = ctx
                .memo("part", async { Ok(ctx.artifact("part.bin")) })
                .await?;
            if fail_once.swap(false, Ordering::SeqCst) {
                return Err(StepError::retryable("flaky", "the first attempt fails"));
            }
            Ok(Made {
                part,
                whole: ctx.artifact("whole.bin"),
                note: "runs/this-is-text-not-an-artifact".into(),
            })
        }
    })
    .retry(RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        ..RetryPolicy::default()
    });
    let fan = Step::new("fan", |ctx, made: Made| async move {
        let pieces: Vec<Artifact> = ctx
            .fan_out("piece", vec![("a".into(), ()), ("b".into(), ())])
            .await?;
        Ok((made, pieces))
    });
    let piece = Step::new(
        "piece",
        |ctx, ()| async move { Ok(ctx.artifact("piece.bin")) },
    );
    Workflow::builder("artifacts", 1)
        .step(make)
        .step(fan)
        .child(piece)
        .build()
}

async fn listed(h: &Harness, sql: &str, run: RunId) -> Vec<Vec<String>> {
    let lists: Vec<Value> = sqlx::query_scalar(sql)
        .bind(run)
        .fetch_all(&h.db.pool)
        .await
        .expect("artifact lists");
    lists
        .into_iter()
        .map(|list| serde_json::from_value(list).expect("a list of keys"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_memos_and_child_results_list_the_artifacts_they_name_under_keys_of_their_own_attempt(
) {
    let flow = workflow(Arc::new(AtomicBool::new(true)));
    let h = Harness::with(|_, engine| engine.register(&flow)).await;
    let _workers = h.workers(1, test_worker_config());
    let run = h.engine.start(&flow, &(), StartOptions::default()).await;
    let run = run.expect("start").run_id;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);

    let (part, whole) = (
        format!("runs/{run}/0/0/1/part.bin"),
        format!("runs/{run}/0/0/2/whole.bin"),
    );
    let memos = listed(&h, "SELECT artifacts FROM memos WHERE run_id = $1", run).await;
    assert_eq!(
        memos,
        vec![vec![part.clone()]],
        "made by attempt 1, kept by its memo"
    );
    let checkpoints = listed(
        &h,
        "SELECT artifacts FROM checkpoints WHERE run_id = $1 ORDER BY step_index",
        run,
    )
    .await;
    let children = listed(
        &h,
        "SELECT artifacts FROM children WHERE run_id = $1 ORDER BY key",
        run,
    )
    .await;
    let pieces: Vec<String> = children.iter().flatten().cloned().collect();
    assert_eq!(children.len(), 2);
    for piece in &pieces {
        assert!(
            piece.starts_with(&format!("runs/{run}/0/1/child-")),
            "{piece}"
        );
        assert!(piece.ends_with("/1/piece.bin"), "{piece}");
    }
    assert_ne!(pieces[0], pieces[1], "each child's key is its own");
    let mut fan = vec![part.clone(), whole.clone()];
    fan.extend(pieces.clone());
    fan.sort();
    assert_eq!(
        checkpoints,
        vec![
            {
                let mut make = vec![part.clone(), whole.clone()];
                make.sort();
                make
            },
            fan
        ],
        "a checkpoint lists what its output names, text that only looks like a key excepted"
    );

    let unmade = format!("runs/{run}/0/0/1/whole.bin");
    let asked = vec![
        part.clone(),
        whole.clone(),
        pieces[0].clone(),
        unmade.clone(),
    ];
    let named = h.engine.named_artifacts(&asked).await.unwrap();
    assert!(named.contains(&part) && named.contains(&whole) && named.contains(&pieces[0]));
    assert!(
        !named.contains(&unmade),
        "no value names the failed attempt's key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_and_a_fork_leave_every_earlier_artifact_named_and_an_override_lists_its_own() {
    let flow = workflow(Arc::new(AtomicBool::new(false)));
    let h = Harness::with(|_, engine| engine.register(&flow)).await;
    let _workers = h.workers(1, test_worker_config());
    let run = h.engine.start(&flow, &(), StartOptions::default()).await;
    let run = run.expect("start").run_id;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let first_whole = format!("runs/{run}/0/0/1/whole.bin");

    h.engine.replay(run, "make").await.unwrap();
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    let second_whole = format!("runs/{run}/1/0/1/whole.bin");
    let named = (h.engine)
        .named_artifacts(&[first_whole.clone(), second_whole.clone()])
        .await
        .unwrap();
    assert_eq!(
        named.len(),
        2,
        "the superseded checkpoint still names its artifacts"
    );

    let elsewhere = Artifact::from_key(format!("runs/{run}/uploaded/product.png"));
    let made = Made {
        part: elsewhere.clone(),
        whole: elsewhere.clone(),
        note: String::new(),
    };
    let options = ForkOptions::default()
        .override_output("make", &made)
        .unwrap();
    let fork = h.engine.fork(run, "fan", options).await.unwrap().run_id;
    assert_eq!(h.wait_end(fork).await.state, RunState::Completed);
    let overridden = listed(
        &h,
        "SELECT artifacts FROM checkpoints WHERE run_id = $1 AND step = 'make'",
        fork,
    )
    .await;
    assert_eq!(overridden, vec![vec![elsewhere.key().to_owned()]]);
    let named = (h.engine)
        .named_artifacts(&[elsewhere.key().to_owned()])
        .await
        .unwrap();
    assert_eq!(named.len(), 1);
}

/// The attempts a test lets finish, by number.
#[derive(Clone, Default)]
struct Gates(Arc<tokio::sync::watch::Sender<Vec<u32>>>);

impl Gates {
    fn open(&self, attempt: u32) {
        self.0.send_modify(|open| open.push(attempt));
    }

    async fn wait(&self, attempt: u32) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|open| open.contains(&attempt)).await;
    }
}

/// A step that stores its attempt's number as an artifact, then waits for its gate.
fn gated_writer(store: MediaStore, gates: Gates) -> Workflow<()> {
    let write = Step::new("write", move |ctx, ()| {
        let (store, gates) = (store.clone(), gates.clone());
        async move {
            let written = ctx.artifact("out.txt");
            store.put(written.key(), ctx.attempt().to_string()).await?;
            gates.wait(ctx.attempt()).await;
            Ok(written)
        }
    });
    Workflow::builder("gated-writer", 1).step(write).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_attempts_file_is_never_named_nor_overwrites_the_committed_one_and_the_cleaner_removes_it(
) {
    let media = tempfile::tempdir().unwrap();
    let store = MediaStore::local(media.path()).unwrap();
    let gates = Gates::default();
    let flow = gated_writer(store.clone(), gates.clone());
    let h = Harness::with(|_, engine| engine.register(&flow)).await;
    let _workers = h.workers(
        1,
        WorkerConfig {
            cancel_grace: Duration::from_secs(60),
            ..test_worker_config()
        },
    );
    let relock = h.engine.pause_points().arm(PausePoint::Relock);
    let run = h.engine.start(&flow, &(), StartOptions::default()).await;
    let run = run.expect("start").run_id;
    let key = |attempt: u32| format!("runs/{run}/0/0/{attempt}/out.txt");
    let stored = |attempt: u32| {
        let store = store.clone();
        async move { store.exists(&key(attempt)).await.unwrap().then_some(()) }
    };
    wait::until("attempt 1's file", PATIENCE, || stored(1)).await;
    assert_eq!(h.cut_liveness().await, 1, "one liveness connection");
    h.wait_event(run, EventKind::LeaseExpired, Some("write"), Some(1))
        .await;
    relock.release();
    wait::until("attempt 2's file", PATIENCE, || stored(2)).await;

    gates.open(2);
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    gates.open(1);
    h.wait_event(run, EventKind::ResultDropped, Some("write"), Some(1))
        .await;

    let named: Vec<Value> =
        sqlx::query_scalar("SELECT artifacts FROM checkpoints WHERE run_id = $1")
            .bind(run)
            .fetch_all(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(named, vec![serde_json::json!([key(2)])]);
    assert_eq!(&store.get(&key(2)).await.unwrap()[..], b"2");
    assert_eq!(
        &store.get(&key(1)).await.unwrap()[..],
        b"1",
        "beside, not over"
    );

    store
        .put("videos/legacy/final.mp4", &b"old"[..])
        .await
        .unwrap();
    let cleaner = Cleaner::new(store.clone(), h.engine.clone(), Duration::ZERO);
    let swept = cleaner.sweep().await.unwrap().expect("no other sweep");
    assert_eq!(
        swept,
        Swept {
            examined: 2,
            removed: 1
        }
    );
    assert!(
        !store.exists(&key(1)).await.unwrap(),
        "the fenced attempt's file is gone"
    );
    assert!(store.exists(&key(2)).await.unwrap());
    assert!(store.exists("videos/legacy/final.mp4").await.unwrap());
    let kept = Cleaner::new(store.clone(), h.engine.clone(), Duration::from_secs(3600));
    assert_eq!(
        kept.sweep().await.unwrap().unwrap().examined,
        0,
        "all are younger than an hour"
    );
}
