//! Races reproduced deterministically: one side is held at a pause point of the engine, or a
//! second SQL connection takes a lock by hand, while the test drives the other side.

use std::{sync::Arc, time::Duration};

use slate_engine::{
    pause::{PausePoint, PausePoints, Paused},
    EventKind, RunId, RunState, WorkerConfig,
};
use slate_integration_tests::{
    probe::{self, Behaviour, Probe},
    wait,
};

use crate::harness::{checkpoints_by, test_worker_config, Harness, PATIENCE};

/// Workers whose stopped attempts linger: a step that ignores its stop runs on for a minute.
fn lingering() -> WorkerConfig {
    WorkerConfig {
        cancel_grace: Duration::from_secs(60),
        ..test_worker_config()
    }
}

/// Makes the one worker re-claim `run` while the attempt it was running lingers: its liveness
/// connection is cut and its lock held back until the scheduler has rescued the task. Returns
/// once attempt 2 of step `two` runs beside the lingering attempt 1.
async fn reclaim_while_the_first_attempt_lingers(h: &Harness, run: RunId) {
    let relock = h.engine.pause_points().arm(PausePoint::Relock);
    h.wait_executions(run, "two", 1).await;
    assert_eq!(h.cut_liveness().await, 1, "one liveness connection");
    h.wait_event(run, EventKind::LeaseExpired, Some("two"), Some(1))
        .await;
    relock.release();
    h.wait_executions(run, "two", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reclaimed_by_the_worker_whose_stopped_attempt_lingers_stays_supervised() {
    let h = Harness::with_step_timeout(Duration::from_secs(3600)).await;
    let _workers = h.workers(1, lingering());
    let run = h.start(Probe::at("two", Behaviour::Gated)).await;
    reclaim_while_the_first_attempt_lingers(&h, run).await;

    probe::open_gate(&h.db.pool, run, "two", 1).await.unwrap();
    h.wait_event(run, EventKind::ResultDropped, Some("two"), Some(1))
        .await;
    // Two beats later an attempt 2 unknown to its worker would have been given back as an orphan.
    h.wait_heartbeats(3).await;
    assert!(
        h.events(run, EventKind::LeaseReleased).await.is_empty(),
        "attempt 2 was given back while it ran"
    );

    probe::open_gate(&h.db.pool, run, "two", 2).await.unwrap();
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 2, 1, 1, 1])
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_result_in_one_hand_off_batch_with_the_current_one_is_dropped_alone() {
    let h = Harness::with_step_timeout(Duration::from_secs(3600)).await;
    let _workers = h.workers(1, lingering());
    let run = h.start(Probe::at("two", Behaviour::Gated)).await;
    reclaim_while_the_first_attempt_lingers(&h, run).await;

    let pauses = h.engine.pause_points();
    let (batch, queued) = (
        pauses.arm(PausePoint::HandOffBatch),
        pauses.arm(PausePoint::ResultQueued),
    );
    probe::open_gate(&h.db.pool, run, "two", 1).await.unwrap();
    queued.reached(1).await;
    batch.reached(1).await;
    probe::open_gate(&h.db.pool, run, "two", 2).await.unwrap();
    queued.reached(2).await;
    batch.release();
    queued.release();

    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(
        h.live_checkpoints(run).await,
        checkpoints_by([1, 2, 1, 1, 1])
    );
    assert_eq!(h.executions(run, "three").await, 1, "step three ran once");
    assert_eq!(
        attempts(&h, run, EventKind::StepCompleted, "two").await,
        vec![2]
    );
    assert_eq!(
        attempts(&h, run, EventKind::ResultDropped, "two").await,
        vec![1]
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_interleaved_with_a_hand_off_of_its_run_neither_deadlocks_nor_fails() {
    let h = Harness::new().await;
    // A deadlock would stay one instead of being broken after a second by aborting a side.
    sqlx::query(&format!(
        "ALTER DATABASE {} SET deadlock_timeout = '10min'",
        h.db.name
    ))
    .execute(&h.db.pool)
    .await
    .unwrap();
    let _workers = h.workers(1, test_worker_config());
    let run = h.start(Probe::at("two", Behaviour::Gated)).await;
    h.wait_executions(run, "two", 1).await;

    let locked = h.engine.pause_points().arm(PausePoint::CancelLocked);
    let cancel = tokio::spawn({
        let engine = h.engine.clone();
        async move { engine.cancel(run).await }
    });
    locked.reached(1).await;
    probe::open_gate(&h.db.pool, run, "two", 1).await.unwrap();
    h.wait_lock_waiter().await;
    locked.release();

    tokio::time::timeout(PATIENCE, cancel)
        .await
        .expect("the cancel and the hand-off deadlocked")
        .unwrap()
        .expect("the cancel commits");
    assert_eq!(h.wait_end(run).await.state, RunState::Cancelled);
    h.wait_event(run, EventKind::ResultDropped, Some("two"), Some(1))
        .await;
    assert_eq!(h.executions(run, "three").await, 0, "step three never ran");
    assert_eq!(h.tasks_left().await, 0);
    h.db.drop().await;
}

/// Holds a worker's heartbeat between beats, so that a test decides when each beat runs.
struct Beats {
    pauses: PausePoints,
    held: Arc<Paused>,
}

impl Beats {
    /// Holds the heartbeat before its next beat.
    fn arm(pauses: &PausePoints) -> Self {
        let held = pauses.arm(PausePoint::Heartbeat);
        Self {
            pauses: pauses.clone(),
            held,
        }
    }

    /// Lets one whole beat run, and holds the heartbeat again before the next.
    async fn step(&mut self) {
        let next = self.pauses.arm(PausePoint::Heartbeat);
        self.held.release();
        next.reached(1).await;
        self.held = next;
    }

    fn release(self) {
        self.held.release();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_step_leased_by_a_hand_off_spanning_a_beat_is_not_given_back_before_its_driver_takes_it(
) {
    let h = Harness::new().await;
    let pauses = h.engine.pause_points();
    let mut beats = Beats::arm(pauses);
    let _workers = h.workers(1, test_worker_config());
    let run = h.start(Probe::at("one", Behaviour::Gated)).await;
    h.wait_executions(run, "one", 1).await;

    // The hand-off of step one, which leases step two to the worker, begins, and waits for the
    // task's row while a whole beat runs: the lease it writes is dated before that beat.
    let mut lock = h.db.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tasks WHERE run_id = $1 FOR UPDATE")
        .bind(run)
        .execute(&mut *lock)
        .await
        .unwrap();
    probe::open_gate(&h.db.pool, run, "one", 1).await.unwrap();
    h.wait_lock_waiter().await;
    beats.step().await;

    // It commits; its driver is told Next, and has not taken step two's lease yet when the next
    // beat finds that lease held and run by no attempt.
    let next = pauses.arm(PausePoint::NextLeased);
    lock.commit().await.unwrap();
    next.reached(1).await;
    beats.step().await;
    assert!(
        h.events(run, EventKind::LeaseReleased).await.is_empty(),
        "step two's lease was given back while its driver was taking it"
    );

    next.release();
    beats.release();
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(h.executions(run, "two").await, 1, "step two ran once");
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_leased_to_a_worker_that_runs_no_attempt_of_it_is_given_back_by_the_second_beat_to_find_it(
) {
    let h = Harness::new().await;
    let run = h.start(Probe::default()).await;
    let mut beats = Beats::arm(h.engine.pause_points());
    let config = WorkerConfig {
        steps: Some(vec!["two".to_owned()]),
        ..test_worker_config()
    };
    let _workers = h.workers(1, config);
    h.wait_active_workers(1).await;
    // A claim of step one whose answer never reached the worker.
    sqlx::query(
        "UPDATE tasks SET lease_owner = (SELECT id FROM workers WHERE state = 'active'),
                          attempt = attempt + 1, leased_at = now()
         WHERE run_id = $1",
    )
    .bind(run)
    .execute(&h.db.pool)
    .await
    .unwrap();

    beats.step().await;
    assert!(
        h.events(run, EventKind::LeaseReleased).await.is_empty(),
        "given back at its first sighting"
    );
    beats.step().await;
    let released = h.events(run, EventKind::LeaseReleased).await;
    assert_eq!(released.len(), 1, "given back at its second sighting");
    assert_eq!(released[0].attempt, Some(1));
    assert_eq!(h.lease_owner(run).await, None, "due again for any worker");
    beats.release();
    h.db.drop().await;
}

/// What a memo's write did while a release of its task was uncommitted.
#[derive(Debug, PartialEq)]
enum MemoWrite {
    WaitedForTheRelease,
    CommittedPastIt,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memo_written_while_its_task_is_being_released_waits_for_it_and_is_refused() {
    let h = Harness::new().await;
    let _workers = h.workers(1, test_worker_config());
    let write = h.engine.pause_points().arm(PausePoint::MemoWrite);
    let parts = Behaviour::Parts {
        parts: 2,
        hang_after: None,
    };
    let run = h.start(Probe::at("three", parts)).await;
    write.reached(1).await;

    // A release of the task (as a rescuer's), committed only once the memo's write is under way.
    let mut release = h.db.pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE tasks SET lease_owner = NULL, leased_at = NULL, interrupted = interrupted + 1
         WHERE run_id = $1",
    )
    .bind(run)
    .execute(&mut *release)
    .await
    .unwrap();
    write.release();
    let outcome = wait::until("the memo's write to wait or commit", PATIENCE, || async {
        if h.lock_waiters().await > 0 {
            return Some(MemoWrite::WaitedForTheRelease);
        }
        (!memos(&h, run).await.is_empty()).then_some(MemoWrite::CommittedPastIt)
    })
    .await;
    assert_eq!(outcome, MemoWrite::WaitedForTheRelease);
    release.commit().await.unwrap();

    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    assert_eq!(
        memos(&h, run).await,
        vec![("part-1".to_owned(), 2), ("part-2".to_owned(), 2)],
        "every part was recorded by the attempt that held the task"
    );
    h.db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_memo_of_an_earlier_generation_is_not_taken_for_done_by_a_replay() {
    let h = Harness::new().await;
    let parts = Behaviour::Parts {
        parts: 2,
        hang_after: None,
    };
    let workers = h.workers(1, test_worker_config());
    let run = h.start(Probe::at("three", parts)).await;
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);
    workers.stop().await;

    h.engine.replay(run, "three").await.unwrap();
    // What a late write of the first generation would have left, had its fence let it through.
    sqlx::query(
        "UPDATE memos SET superseded_at = NULL
         WHERE run_id = $1 AND generation = 0 AND key = 'part-1'",
    )
    .bind(run)
    .execute(&h.db.pool)
    .await
    .unwrap();
    let _workers = h.workers(1, test_worker_config());
    assert_eq!(h.wait_end(run).await.state, RunState::Completed);

    let parts: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT part, count(*) FROM probe_executions
         WHERE run_id = $1 AND part IS NOT NULL GROUP BY part ORDER BY part",
    )
    .bind(run)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        parts,
        vec![(1, 2), (2, 2)],
        "each part ran once per generation"
    );
    h.db.drop().await;
}

/// The attempts of `step` of `run` that have an event of `kind`.
async fn attempts(h: &Harness, run: RunId, kind: EventKind, step: &str) -> Vec<i32> {
    let events = h.events(run, kind).await;
    let of_step = events
        .into_iter()
        .filter(|e| e.step.as_deref() == Some(step));
    of_step.map(|e| e.attempt.unwrap()).collect()
}

/// The memos of `run`'s current generation: key and the attempt that wrote each.
async fn memos(h: &Harness, run: RunId) -> Vec<(String, i32)> {
    sqlx::query_as(
        "SELECT m.key, m.attempt FROM memos m JOIN runs r ON r.id = m.run_id
         WHERE m.run_id = $1 AND m.generation = r.generation ORDER BY m.key",
    )
    .bind(run)
    .fetch_all(&h.db.pool)
    .await
    .unwrap()
}
