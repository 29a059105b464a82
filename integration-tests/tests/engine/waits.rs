//! Waits for signals and durable sleeps: a run parks holding no lease and no worker slot, and
//! goes on at its time, with its signal, or at its wait's deadline, on any worker.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slate_engine::{
    Error, EventKind, ForkOptions, RunId, RunState, StartOptions, Step, StepContext, StepError,
    Wait, Workflow, MAX_SIGNAL_BYTES,
};
use slate_integration_tests::{probe::Probe, wait};
use tokio::sync::Semaphore;

use crate::harness::{test_worker_config, Harness, PATIENCE};

/// How the first step of a parked run ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Then {
    Wait {
        signal: String,
        deadline_ms: Option<i64>,
        /// At the deadline: go on with this payload, or fail with `approval_expired`.
        default: Option<Value>,
    },
    Sleep {
        ms: i64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ask {
    then: Then,
    /// The step waits for the test's gate before it ends.
    gated: bool,
}

/// What the step after the wait saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Acted {
    signal: Option<Value>,
    at: DateTime<Utc>,
}

struct Parked {
    h: Harness,
    flow: Workflow<Ask>,
    gate: Arc<Semaphore>,
}

fn workflow(gate: Arc<Semaphore>) -> Workflow<Ask> {
    Workflow::builder("parked", 1)
        .signal("approve")
        .step(Step::new("ask", move |ctx: StepContext, ask: Ask| {
            let gate = gate.clone();
            async move {
                if ask.gated {
                    gate.acquire().await.expect("gate").forget();
                }
                let at = |ms: i64| Utc::now() + chrono::Duration::milliseconds(ms);
                match &ask.then {
                    Then::Sleep { ms } => ctx.continue_at(at(*ms)),
                    Then::Wait {
                        signal,
                        deadline_ms,
                        default,
                    } => {
                        let wait = Wait::for_signal(signal);
                        ctx.wait_for(match (deadline_ms, default) {
                            (None, _) => wait,
                            (Some(ms), Some(default)) => wait.or_continue_at(at(*ms), default),
                            (Some(ms), None) => wait.or_fail_at(at(*ms), "approval_expired"),
                        });
                    }
                }
                Ok::<_, StepError>(ask)
            }
        }))
        .step(Step::new("act", |ctx: StepContext, _: Ask| async move {
            Ok::<_, StepError>(Acted {
                signal: ctx.signal("approve").await?,
                at: Utc::now(),
            })
        }))
        .step(Step::new(
            "done",
            |_: StepContext, acted: Acted| async move { Ok::<_, StepError>(acted) },
        ))
        .build()
}

impl Parked {
    async fn new() -> Self {
        let gate = Arc::new(Semaphore::new(0));
        let flow = workflow(gate.clone());
        let h = Harness::with(|_, engine| engine.register(&flow)).await;
        Self { h, flow, gate }
    }

    async fn start(&self, then: Then, gated: bool) -> RunId {
        let ask = Ask { then, gated };
        let options = StartOptions::default();
        let started = self.h.engine.start(&self.flow, &ask, options).await;
        started.expect("start").run_id
    }

    async fn wait_state(&self, run: RunId, state: RunState) {
        let what = format!("run {run} to be {state}");
        wait::until(&what, PATIENCE, || async {
            let summary = self.h.engine.run(run).await.expect("run");
            (summary.expect("the run").state == state).then_some(())
        })
        .await;
    }

    async fn acted(&self, run: RunId) -> Acted {
        let checkpoints = self.h.engine.checkpoints(run).await.expect("checkpoints");
        let act = checkpoints
            .iter()
            .find(|c| c.step == "act" && c.superseded_at.is_none());
        serde_json::from_value(act.expect("act checkpointed").output.clone()).expect("acted")
    }

    /// The run's task: (leased to a worker, `wait` set).
    async fn task(&self, run: RunId) -> Option<(bool, bool)> {
        sqlx::query_as(
            "SELECT lease_owner IS NOT NULL, wait IS NOT NULL FROM tasks WHERE run_id = $1",
        )
        .bind(run)
        .fetch_optional(&self.h.db.pool)
        .await
        .expect("the task")
    }

    async fn signals(&self, run: RunId) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM signals WHERE run_id = $1")
            .bind(run)
            .fetch_one(&self.h.db.pool)
            .await
            .expect("count signals")
    }
}

fn approve_without_deadline() -> Then {
    Then::Wait {
        signal: "approve".into(),
        deadline_ms: None,
        default: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_holds_no_lease_nor_slot_and_resumes_with_the_signals_payload() {
    let p = Parked::new().await;
    let workers = p.h.workers(
        1,
        slate_engine::WorkerConfig {
            concurrency: 1,
            ..test_worker_config()
        },
    );
    let run = p.start(approve_without_deadline(), false).await;
    p.wait_state(run, RunState::Waiting).await;
    assert_eq!(
        p.task(run).await,
        Some((false, true)),
        "parked: unleased, waiting"
    );
    let events = p.h.engine.events(run, None).await.unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        [EventKind::StepCompleted, EventKind::Waiting],
        "the history keeps the order things happened in"
    );
    let other = p.h.start(Probe::default()).await;
    assert_eq!(
        p.h.wait_end(other).await.state,
        RunState::Completed,
        "the one slot is free while the run waits"
    );

    let sent =
        p.h.engine
            .signal(run, "approve", &json!({"ok": true}), None)
            .await;
    assert!(sent.expect("signal").resumed);
    assert_eq!(p.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(p.acted(run).await.signal, Some(json!({"ok": true})));
    let kinds: Vec<EventKind> =
        p.h.engine
            .events(run, None)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
    let parked = kinds
        .iter()
        .position(|k| *k == EventKind::Waiting)
        .expect("waiting");
    let received = kinds
        .iter()
        .position(|k| *k == EventKind::SignalReceived)
        .expect("received");
    let resumed = kinds
        .iter()
        .position(|k| *k == EventKind::Resumed)
        .expect("resumed");
    assert!(parked < received && received < resumed, "{kinds:?}");
    workers.stop().await;
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_sent_before_its_wait_is_kept_and_consumed_by_it() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), true).await;
    p.h.wait_event(run, EventKind::StepStarted, Some("ask"), None)
        .await;

    let sent =
        p.h.engine
            .signal(run, "approve", &json!("early"), None)
            .await;
    assert!(!sent.expect("signal").resumed, "nothing waits yet: kept");
    p.gate.add_permits(1);

    assert_eq!(p.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(p.acted(run).await.signal, Some(json!("early")));
    p.h.db.drop().await;
}

/// The race the hand-off's resume closes: a signal whose transaction holds the task while the
/// step that waits for it hands off. The hand-off waits for the signal's commit; its own
/// snapshot predates the signal, so only a look taken after the task is locked sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_committing_while_its_wait_hands_off_is_not_lost() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), true).await;
    p.h.wait_event(run, EventKind::StepStarted, Some("ask"), None)
        .await;

    let mut tx = p.h.db.pool.begin().await.unwrap();
    let sent =
        p.h.engine
            .signal_using(&mut tx, run, "approve", &json!(1), None)
            .await;
    assert!(!sent.expect("signal").resumed);
    p.gate.add_permits(1);
    p.h.wait_lock_waiter().await;
    tx.commit().await.unwrap();

    assert_eq!(p.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(p.acted(run).await.signal, Some(json!(1)));
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_sent_twice_with_one_key_is_delivered_once() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), true).await;
    p.h.wait_event(run, EventKind::StepStarted, Some("ask"), None)
        .await;

    let first =
        p.h.engine
            .signal(run, "approve", &json!(1), Some("k"))
            .await
            .unwrap();
    let second =
        p.h.engine
            .signal(run, "approve", &json!(2), Some("k"))
            .await
            .unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
    p.gate.add_permits(1);

    assert_eq!(p.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(p.acted(run).await.signal, Some(json!(1)));
    assert_eq!(p.signals(run).await, 1);
    assert_eq!(p.h.events(run, EventKind::SignalReceived).await.len(), 1);
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_late_and_oversized_signals_are_refused_with_clear_errors() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), false).await;
    p.wait_state(run, RunState::Waiting).await;

    let undeclared = p.h.engine.signal(run, "reject", &json!(1), None).await;
    assert!(
        matches!(&undeclared, Err(Error::UndeclaredSignal { signal, .. }) if signal == "reject"),
        "{undeclared:?}"
    );
    let big = "x".repeat(MAX_SIGNAL_BYTES);
    let oversized = p.h.engine.signal(run, "approve", &big, None).await;
    assert!(
        matches!(oversized, Err(Error::SignalTooLarge { .. })),
        "{oversized:?}"
    );
    assert_eq!(p.signals(run).await, 0, "refused signals are not kept");

    p.h.engine
        .signal(run, "approve", &json!(1), None)
        .await
        .unwrap();
    p.h.wait_end(run).await;
    let late = p.h.engine.signal(run, "approve", &json!(2), None).await;
    assert!(
        matches!(
            late,
            Err(Error::InvalidState {
                state: RunState::Completed,
                ..
            })
        ),
        "{late:?}"
    );
    let unknown =
        p.h.engine
            .signal(RunId::new(), "approve", &json!(1), None)
            .await;
    assert!(matches!(unknown, Err(Error::RunNotFound(_))), "{unknown:?}");
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_its_deadline_a_wait_fails_with_its_code_or_goes_on_with_its_default() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let failing = p
        .start(
            Then::Wait {
                signal: "approve".into(),
                deadline_ms: Some(300),
                default: None,
            },
            false,
        )
        .await;
    let going_on = p
        .start(
            Then::Wait {
                signal: "approve".into(),
                deadline_ms: Some(300),
                default: Some(json!("by default")),
            },
            false,
        )
        .await;

    let failed = p.h.wait_end(failing).await;
    assert_eq!(failed.state, RunState::Failed);
    let error = failed.error.expect("an error");
    assert_eq!(
        (error.step.as_str(), error.code.as_str()),
        ("act", "approval_expired")
    );
    assert_eq!(p.h.wait_end(going_on).await.state, RunState::Completed);
    assert_eq!(p.acted(going_on).await.signal, Some(json!("by default")));
    let resumed = p.h.events(going_on, EventKind::Resumed).await;
    assert_eq!(resumed[0].detail.as_ref().unwrap()["by"], "deadline");
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_can_be_cancelled() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), false).await;
    p.wait_state(run, RunState::Waiting).await;

    p.h.engine.cancel(run).await.unwrap();
    assert_eq!(p.h.wait_end(run).await.state, RunState::Cancelled);
    assert_eq!(p.task(run).await, None);
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_parked_by_one_worker_resumes_on_another_after_the_first_stops() {
    let p = Parked::new().await;
    let first = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), false).await;
    p.wait_state(run, RunState::Waiting).await;
    first.stop().await;

    let _second = p.h.workers(1, test_worker_config());
    p.h.engine
        .signal(run, "approve", &json!("later"), None)
        .await
        .unwrap();
    assert_eq!(p.h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(p.acted(run).await.signal, Some(json!("later")));
    let parked_by = p.h.events(run, EventKind::Waiting).await[0].worker_id;
    let resumed_on =
        p.h.wait_event(run, EventKind::StepStarted, Some("act"), None)
            .await
            .worker_id;
    assert_ne!(parked_by, resumed_on);
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_run_is_held_by_no_one_and_goes_on_at_its_time_across_a_restart() {
    let p = Parked::new().await;
    let first = p.h.workers(1, test_worker_config());
    let run = p.start(Then::Sleep { ms: 1500 }, false).await;
    let sleeping =
        p.h.wait_event(run, EventKind::Sleeping, Some("act"), None)
            .await;
    let until: DateTime<Utc> =
        serde_json::from_value(sleeping.detail.unwrap()["until"].clone()).expect("until");
    assert_eq!(
        p.task(run).await,
        Some((false, false)),
        "due later, unleased"
    );
    first.stop().await;

    let _second = p.h.workers(1, test_worker_config());
    assert_eq!(p.h.wait_end(run).await.state, RunState::Completed);
    assert!(
        p.acted(run).await.at >= until,
        "the next step ran at its time, not before"
    );
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_a_finished_runs_history_deletes_its_signals() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), false).await;
    p.wait_state(run, RunState::Waiting).await;
    p.h.engine
        .signal(run, "approve", &json!(1), None)
        .await
        .unwrap();
    p.h.wait_end(run).await;

    let mut scheduler = p.h.engine.scheduler(Default::default());
    assert_eq!(scheduler.trim(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(p.signals(run).await, 0);
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_from_the_step_after_a_wait_resumes_with_the_same_signal_unless_afresh() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), false).await;
    p.wait_state(run, RunState::Waiting).await;
    p.h.engine
        .signal(run, "approve", &json!("yes"), None)
        .await
        .unwrap();
    p.h.wait_end(run).await;

    let fork =
        p.h.engine
            .fork(run, "act", Default::default())
            .await
            .unwrap()
            .run_id;
    assert_eq!(p.h.wait_end(fork).await.state, RunState::Completed);
    assert_eq!(p.acted(fork).await.signal, Some(json!("yes")));

    let options = ForkOptions::default().afresh();
    let afresh = p.h.engine.fork(run, "act", options).await.unwrap().run_id;
    assert_eq!(p.h.wait_end(afresh).await.state, RunState::Completed);
    assert_eq!(p.acted(afresh).await.signal, None, "afresh: no signal");
    p.h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_in_the_callers_transaction_exists_only_if_that_transaction_commits() {
    let p = Parked::new().await;
    let _workers = p.h.workers(1, test_worker_config());
    let run = p.start(approve_without_deadline(), false).await;
    p.wait_state(run, RunState::Waiting).await;
    p.h.engine
        .signal(run, "approve", &json!(1), None)
        .await
        .unwrap();
    p.h.wait_end(run).await;

    let mut tx = p.h.db.pool.begin().await.unwrap();
    let options = ForkOptions::default();
    let rolled_back = p.h.engine.fork_using(&mut tx, run, "act", options).await;
    tx.rollback().await.unwrap();
    let rolled_back = rolled_back.unwrap().run_id;
    assert!(p.h.engine.run(rolled_back).await.unwrap().is_none());

    let mut tx = p.h.db.pool.begin().await.unwrap();
    let options = ForkOptions::default();
    let fork = p.h.engine.fork_using(&mut tx, run, "act", options).await;
    tx.commit().await.unwrap();
    let fork = fork.unwrap().run_id;
    assert_eq!(p.h.wait_end(fork).await.state, RunState::Completed);
    assert_eq!(p.acted(fork).await.signal, Some(json!(1)));
    p.h.db.drop().await;
}
