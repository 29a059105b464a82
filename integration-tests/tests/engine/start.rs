use std::collections::HashSet;

use slate_engine::{
    Engine, EventKind, RunId, RunState, StartOptions, Step, StepContext, WorkerConfig, Workflow,
};
use slate_integration_tests::{
    database::TestDatabase,
    probe::{Behaviour, Probe},
};
use tokio_util::sync::CancellationToken;

use crate::{
    harness::{test_worker_config, Harness, PATIENCE},
    hook::Recorder,
};

/// Whether the run's first step was leased in the start's own transaction: `now()` is the
/// transaction's start time, so both events then carry the same timestamp.
async fn first_step_leased_at_start(h: &Harness, run: RunId) -> bool {
    let started = h.events(run, EventKind::RunStarted).await;
    let step = h.events(run, EventKind::StepStarted).await;
    step[0].at == started[0].at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_beside_a_worker_with_room_is_leased_to_it_in_the_starts_own_transaction() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let warm_up = h.start(Probe::default()).await;
    h.wait_end(warm_up).await;

    let run = h.start(Probe::default()).await;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert!(first_step_leased_at_start(&h, run).await);
    let first = &h.events(run, EventKind::StepStarted).await[0];
    assert!(first.worker_id.is_some(), "the step names its worker");
    assert_eq!(first.attempt, Some(1));
    assert_eq!(h.executions(run, "one").await, 1);
    assert_eq!(h.tasks_left().await, 0);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_while_every_local_slot_is_busy_waits_for_a_claim() {
    let h = Harness::new().await;
    let _workers = h.workers(
        1,
        WorkerConfig {
            concurrency: 1,
            ..test_worker_config()
        },
    );
    let busy = h.start(Probe::at("one", Behaviour::WaitForCancel)).await;
    h.wait_executions(busy, "one", 1).await;

    let queued = h.start(Probe::default()).await;
    assert!(h.events(queued, EventKind::StepStarted).await.is_empty());
    h.engine.cancel(busy).await.expect("cancel");
    assert_eq!(h.wait_end(queued).await.state, RunState::Completed);
    assert!(!first_step_leased_at_start(&h, queued).await);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_commit_together_and_each_gets_a_run_of_its_own() {
    let h = Harness::new().await;
    let starts: Vec<_> = (0..300)
        .map(|_| {
            let (engine, probe) = (h.engine.clone(), h.probe.clone());
            tokio::spawn(async move {
                engine
                    .start(&probe, &Probe::default(), StartOptions::default())
                    .await
            })
        })
        .collect();
    let mut runs = HashSet::new();
    for start in starts {
        let started = start.await.unwrap().expect("start");
        assert!(started.created);
        runs.insert(started.run_id);
    }
    assert_eq!(runs.len(), 300);
    assert_eq!(h.tasks_left().await, 300);
    let (rows, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM runs")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(rows, 300);
    assert!(
        transactions < 150,
        "300 concurrent starts took {transactions} transactions"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_among_concurrent_ones_fails_alone() {
    let h = Harness::new().await;
    let taken = h.start(Probe::default()).await;
    let options = |run_id| StartOptions {
        run_id,
        ..StartOptions::default()
    };
    let starts: Vec<_> = (0..50)
        .map(|n| {
            let (engine, probe) = (h.engine.clone(), h.probe.clone());
            let run_id = (n == 25).then_some(taken);
            tokio::spawn(async move {
                engine
                    .start(&probe, &Probe::default(), options(run_id))
                    .await
            })
        })
        .collect();
    let mut failed = Vec::new();
    for (n, start) in starts.into_iter().enumerate() {
        if let Err(error) = start.await.unwrap() {
            failed.push((n, error.to_string()));
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 25);
    assert!(failed[0].1.contains("duplicate key"), "{failed:?}");
    assert_eq!(h.tasks_left().await, 50);
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_sees_an_eagerly_started_first_step_in_the_starts_own_transaction() {
    let db = TestDatabase::new().await;
    Recorder::create_table(&db.pool).await;
    let step = Step::new("only", |_: StepContext, n: u64| async move { Ok(n) });
    let workflow: Workflow<u64> = Workflow::builder("recorded", 1)
        .step(step)
        .hook(Recorder)
        .build();
    let engine = Engine::builder(db.pool.clone()).register(&workflow).build();
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(engine.worker(test_worker_config()).run(shutdown.clone()));
    let mut runs = Vec::new();
    for n in 0..2 {
        let run = engine.start(&workflow, &n, StartOptions::default()).await;
        let run = run.unwrap().run_id;
        let end = engine.wait_for_end(run, PATIENCE).await.unwrap();
        assert_eq!(end.map(|r| r.state), Some(RunState::Completed));
        runs.push(run);
    }

    let same_transaction: bool = sqlx::query_scalar(
        "SELECT (SELECT xmin::text FROM events WHERE run_id = $1 AND kind = 'run_started')
              = (SELECT xmin::text FROM seen WHERE run_id = $1 AND what = 'started only 1')",
    )
    .bind(runs[1])
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(same_transaction);
    shutdown.cancel();
    worker.await.unwrap().unwrap();
    db.drop().await;
}
