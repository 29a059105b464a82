//! Fan-out: a step's children run in parallel on any workers while the step holds no lease and
//! no slot; the step resumes with their results, or fails as its policy says; starting them is
//! idempotent by key; killing workers loses no child and runs none again after its checkpoint.

use chrono::{DateTime, Utc};
use slate_engine::{EventKind, ForkOptions, RunId, RunState, StartOptions, WorkerConfig, Workflow};
use slate_integration_tests::{
    probe::{self, Fan, Fanned},
    wait,
};

use crate::harness::{most_at_once, test_worker_config, Harness, PATIENCE};

struct Fanning {
    h: Harness,
    fan: Workflow<Fan>,
}

impl Fanning {
    async fn new() -> Self {
        let mut fan = None;
        let h = Harness::with(|pool, engine| {
            let flow = probe::fan(pool.clone());
            let engine = engine.register(&flow);
            fan = Some(flow);
            engine
        })
        .await;
        Self {
            h,
            fan: fan.expect("registered"),
        }
    }

    async fn start(&self, fan: Fan) -> RunId {
        let started = self
            .h
            .engine
            .start(&self.fan, &fan, StartOptions::default())
            .await;
        started.expect("start").run_id
    }

    async fn fanned(&self, run: RunId) -> Fanned {
        let checkpoints = self.h.engine.checkpoints(run).await.expect("checkpoints");
        let done = checkpoints.iter().find(|c| c.step == "done").expect("done");
        serde_json::from_value(done.output.clone()).expect("fanned")
    }

    /// Each child's executions, by number.
    async fn child_executions(&self, run: RunId) -> Vec<(i32, i64)> {
        sqlx::query_as(
            "SELECT part, count(*) FROM probe_executions
             WHERE run_id = $1 AND step = 'square' GROUP BY part ORDER BY part",
        )
        .bind(run)
        .fetch_all(&self.h.db.pool)
        .await
        .expect("child executions")
    }

    /// The run's task: (leased, awaiting its children).
    async fn task(&self, run: RunId) -> Option<(bool, bool)> {
        sqlx::query_as(
            "SELECT lease_owner IS NOT NULL, awaiting IS NOT NULL FROM tasks WHERE run_id = $1",
        )
        .bind(run)
        .fetch_optional(&self.h.db.pool)
        .await
        .expect("the task")
    }
}

fn squares(n: u64) -> u64 {
    (0..n).map(|i| i * i).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_fans_out_holding_no_lease_and_resumes_once_with_every_childs_result() {
    let f = Fanning::new().await;
    let _workers = f.h.workers(1, test_worker_config());
    let run = f
        .start(Fan {
            children: 20,
            ms: 100,
            ..Fan::default()
        })
        .await;

    let parked = wait::until("the step to wait for its children", PATIENCE, || async {
        (f.task(run).await == Some((false, true))).then_some(())
    });
    parked.await;
    assert_eq!(f.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(
        f.fanned(run).await,
        Fanned {
            sum: squares(20),
            failed: 0
        }
    );
    assert_eq!(
        f.h.executions(run, "spread").await,
        2,
        "once to start them, once to collect"
    );
    assert!(f.child_executions(run).await.iter().all(|(_, n)| *n == 1));
    assert_eq!(f.h.events(run, EventKind::AwaitingChildren).await.len(), 1);
    f.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_fans_out_began_before_its_children_ran_and_tells_so_while_they_run() {
    let f = Fanning::new().await;
    let _workers = f.h.workers(1, test_worker_config());
    let run = f
        .start(Fan {
            children: 4,
            ms: 300,
            ..Fan::default()
        })
        .await;
    wait::until("the step to wait for its children", PATIENCE, || async {
        (f.task(run).await == Some((false, true))).then_some(())
    })
    .await;
    let began = f.h.engine.step_started_at(run).await.unwrap();
    assert!(began.is_some(), "a step waiting for its children has begun");

    assert_eq!(f.h.wait_end(run).await.state, RunState::Completed);
    let (first_child, _): (DateTime<Utc>, i64) =
        sqlx::query_as("SELECT min(started_at), count(*) FROM probe_spans WHERE run_id = $1")
            .bind(run)
            .fetch_one(&f.h.db.pool)
            .await
            .unwrap();
    let checkpoints = f.h.engine.checkpoints(run).await.unwrap();
    let spread = checkpoints.iter().find(|c| c.step == "spread").unwrap();
    assert!(
        spread.started_at < first_child,
        "spread began at {}, after its first child at {first_child}",
        spread.started_at
    );
    assert_eq!(Some(spread.started_at), began);
    f.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_one_slot_runs_a_steps_children_since_the_step_gives_its_slot_up() {
    let f = Fanning::new().await;
    let one_slot = WorkerConfig {
        concurrency: 1,
        ..test_worker_config()
    };
    let _workers = f.h.workers(1, one_slot);
    let run = f
        .start(Fan {
            children: 5,
            ..Fan::default()
        })
        .await;
    assert_eq!(f.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(f.fanned(run).await.sum, squares(5));
    f.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_failing_for_good_fails_its_step_or_is_counted_when_the_step_waits_for_all() {
    let f = Fanning::new().await;
    let _workers = f.h.workers(1, test_worker_config());
    let failing = f
        .start(Fan {
            children: 6,
            fail: Some(2),
            ..Fan::default()
        })
        .await;
    let settled = Fan {
        children: 6,
        fail: Some(2),
        settled: true,
        ..Fan::default()
    };
    let counting = f.start(settled).await;

    let failed = f.h.wait_end(failing).await;
    assert_eq!(failed.state, RunState::Failed);
    let error = failed.error.expect("an error");
    assert_eq!(
        (error.step.as_str(), error.code.as_str()),
        ("spread", "refused")
    );
    assert_eq!(f.h.wait_end(counting).await.state, RunState::Completed);
    assert_eq!(
        f.fanned(counting).await,
        Fanned {
            sum: squares(6) - 4,
            failed: 1
        }
    );
    f.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_children_than_the_cap_fail_the_step_before_any_starts() {
    let f = Fanning::new().await;
    let _workers = f.h.workers(1, test_worker_config());
    let run = f
        .start(Fan {
            children: 101,
            ..Fan::default()
        })
        .await;
    let failed = f.h.wait_end(run).await;
    assert_eq!(failed.error.expect("an error").code, "too_many_children");
    assert!(f.child_executions(run).await.is_empty());
    f.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_cancels_its_running_children() {
    let f = Fanning::new().await;
    let _workers = f.h.workers(1, test_worker_config());
    let run = f
        .start(Fan {
            children: 4,
            ms: 60_000,
            ..Fan::default()
        })
        .await;
    let running = wait::until("the children to run", PATIENCE, || async {
        (f.child_executions(run).await.len() == 4).then_some(())
    });
    running.await;

    f.h.engine.cancel(run).await.unwrap();
    assert_eq!(f.h.wait_end(run).await.state, RunState::Cancelled);
    let unfinished = wait::until("the children to stop", PATIENCE, || async {
        let (leased, open): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE lease_owner IS NOT NULL),
                    count(*) FILTER (WHERE finished_at IS NULL)
             FROM children WHERE run_id = $1",
        )
        .bind(run)
        .fetch_one(&f.h.db.pool)
        .await
        .unwrap();
        (leased == 0 && open == 0).then_some(())
    });
    unfinished.await;
    f.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_inherits_its_children_results_but_runs_the_dropped_one_again() {
    let f = Fanning::new().await;
    let _workers = f.h.workers(1, test_worker_config());
    let parent = f
        .start(Fan {
            children: 5,
            ..Fan::default()
        })
        .await;
    f.h.wait_end(parent).await;

    let options = ForkOptions::default().drop_child("spread", "c3");
    let fork =
        f.h.engine
            .fork(parent, "spread", options)
            .await
            .unwrap()
            .run_id;
    assert_eq!(f.h.wait_end(fork).await.state, RunState::Completed);
    assert_eq!(f.fanned(fork).await.sum, squares(5));
    assert_eq!(f.child_executions(fork).await, vec![(3, 1)]);
    f.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_worker_processes_while_children_run_loses_none_and_reruns_none_after_its_result() {
    let f = Fanning::new().await;
    let mut first = f.h.spawn_worker(&[]);
    let _second = f.h.spawn_worker(&[]);
    f.h.wait_active_workers(2).await;
    let run = f
        .start(Fan {
            children: 40,
            ms: 150,
            ..Fan::default()
        })
        .await;
    let halfway = wait::until("some children to finish", PATIENCE, || async {
        let finished: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM children WHERE run_id = $1 AND finished_at IS NOT NULL",
        )
        .bind(run)
        .fetch_one(&f.h.db.pool)
        .await
        .unwrap();
        (finished >= 5).then_some(())
    });
    halfway.await;
    first.kill().await;

    assert_eq!(f.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(f.fanned(run).await.sum, squares(40), "no child lost");
    let late: Vec<(i32, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT e.part, e.at, c.finished_at FROM probe_executions e
         JOIN children c ON c.run_id = e.run_id AND c.key = 'c' || e.part
         WHERE e.run_id = $1 AND e.step = 'square' AND e.at > c.finished_at",
    )
    .bind(run)
    .fetch_all(&f.h.db.pool)
    .await
    .unwrap();
    assert!(
        late.is_empty(),
        "children run again after their result: {late:?}"
    );
    let reruns: i64 = f
        .child_executions(run)
        .await
        .iter()
        .map(|(_, n)| n - 1)
        .sum();
    assert!(
        reruns <= i64::from(probe::FAN_CONCURRENCY),
        "only the children the kill interrupted (at most the limit's, in flight) ran again: {reruns}"
    );
    let most = most_at_once(&f.h, "square").await;
    assert_eq!(
        most,
        probe::FAN_CONCURRENCY as usize,
        "the children's limit, reached and never exceeded"
    );
    f.h.db.drop().await;
}
