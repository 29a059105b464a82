//! The hand-off's one statement: the batch as the columns of its `unnest`s, and the SQL that
//! fences the attempts on their leases and moves every run on.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::batch::{Action, Item, Outcome};
use crate::{
    channels::{RUNS_CHANNEL, TASKS_CHANNEL},
    event::EventKind,
    ids::RunId,
    lease::Lease,
};

/// Writes the hand-offs of `batch`; returns the positions in `batch` of the attempts that still
/// held their lease. Everything is keyed by the attempt, never by its run alone: a stale result and
/// the current one of the same run may share a batch.
pub(super) async fn write(
    conn: &mut PgConnection,
    worker_id: Uuid,
    batch: &[Item],
) -> sqlx::Result<Vec<i32>> {
    let columns = Columns::new(batch);
    if columns.item.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(HAND_OFF)
        .bind(worker_id)
        .bind(&columns.item)
        .bind(&columns.run_id)
        .bind(&columns.generation)
        .bind(&columns.step_index)
        .bind(&columns.attempt)
        .bind(&columns.step)
        .bind(&columns.action)
        .bind(&columns.next_step)
        .bind(&columns.delay_ms)
        .bind(&columns.output)
        .bind(&columns.cost_usd)
        .bind(&columns.started_at)
        .bind(&columns.error)
        .bind(&columns.events.item)
        .bind(&columns.events.kind)
        .bind(&columns.events.step)
        .bind(&columns.events.attempt)
        .bind(&columns.events.detail)
        .bind(RUNS_CHANNEL)
        .bind(TASKS_CHANNEL)
        .bind(&columns.run_at)
        .bind(&columns.wait)
        .bind(&columns.next_limit_key)
        .bind(&columns.limited)
        .bind(&columns.awaiting)
        .bind(&columns.artifacts)
        .fetch_all(conn)
        .await
}

/// The batch as the columns of the statement's `unnest`s.
#[derive(Default)]
struct Columns<'a> {
    /// The attempt's position in the batch, by which the statement keys every outcome.
    item: Vec<i32>,
    run_id: Vec<RunId>,
    generation: Vec<i32>,
    step_index: Vec<i32>,
    attempt: Vec<i32>,
    step: Vec<&'static str>,
    action: Vec<&'static str>,
    next_step: Vec<Option<&'static str>>,
    delay_ms: Vec<f64>,
    output: Vec<Value>,
    /// The artifacts each output names (a JSON array of keys).
    artifacts: Vec<Value>,
    cost_usd: Vec<f64>,
    started_at: Vec<chrono::DateTime<Utc>>,
    error: Vec<Value>,
    /// When a sleeping or waiting run's next step falls due (never, for a wait without deadline).
    run_at: Vec<Option<DateTime<Utc>>>,
    wait: Vec<Value>,
    next_limit_key: Vec<Option<&'a str>>,
    /// Whether the attempt's step is limited, so that its end frees room for another.
    limited: Vec<bool>,
    /// The policy a step that waits for its children waits under.
    awaiting: Vec<Option<&'static str>>,
    events: EventBatch,
}

impl<'a> Columns<'a> {
    fn new(batch: &'a [Item]) -> Self {
        let mut c = Self::default();
        for (position, item) in (0..).zip(batch) {
            if item.finished.attempt.lease.child.is_some() {
                continue;
            }
            let Lease {
                run_id,
                generation,
                step_index,
                attempt,
                ..
            } = item.finished.attempt.lease;
            let step = item.step_name();
            c.item.push(position);
            c.run_id.push(run_id);
            c.generation.push(generation);
            c.step_index.push(step_index);
            c.attempt.push(attempt);
            c.step.push(step);
            c.action.push(item.action.name());
            c.next_step.push(item.next_step());
            c.next_limit_key.push(item.next_limit_key());
            c.limited.push(item.limited());
            c.awaiting.push(match &item.action {
                Action::Await(policy) => Some(policy.as_str()),
                _ => None,
            });
            c.started_at.push(item.finished.attempt.leased_at);
            let attempt = attempt as u32;
            c.events.push(
                position,
                EventKind::ResultDropped,
                step,
                attempt,
                json!({"reason": "the attempt no longer held its lease"}),
            );
            match &item.finished.outcome {
                Outcome::Succeeded {
                    output, cost_usd, ..
                } => {
                    c.output.push(output.value.clone());
                    c.artifacts.push(output.artifacts.clone());
                    c.cost_usd.push(*cost_usd);
                    c.events.push(
                        position,
                        EventKind::StepCompleted,
                        step,
                        attempt,
                        json!({"cost_usd": cost_usd}),
                    );
                }
                Outcome::Failed(error) => {
                    c.output.push(Value::Null);
                    c.artifacts.push(Value::Null);
                    c.cost_usd.push(0.0);
                    c.events
                        .push(position, EventKind::StepFailed, step, attempt, json!(error));
                }
                Outcome::Interrupted | Outcome::AwaitingChildren(_) => {
                    c.output.push(Value::Null);
                    c.artifacts.push(Value::Null);
                    c.cost_usd.push(0.0);
                }
            }
            c.delay_ms.push(0.0);
            c.error.push(Value::Null);
            c.run_at.push(None);
            c.wait.push(Value::Null);
            match &item.action {
                Action::Keep => {
                    let next = item.next_step().expect("a next step");
                    c.events
                        .push(position, EventKind::StepStarted, next, 1, Value::Null);
                }
                Action::Enqueue => {}
                Action::Sleep(until) => {
                    *c.run_at.last_mut().expect("pushed") = Some(*until);
                    let next = item.next_step().expect("a next step");
                    c.events.push(
                        position,
                        EventKind::Sleeping,
                        next,
                        0,
                        json!({"until": until}),
                    );
                }
                Action::Wait(wait) => {
                    *c.run_at.last_mut().expect("pushed") = wait.deadline;
                    *c.wait.last_mut().expect("pushed") = json!(wait);
                    let next = item.next_step().expect("a next step");
                    c.events.push(
                        position,
                        EventKind::Waiting,
                        next,
                        0,
                        json!({"signal": wait.signal, "deadline": wait.deadline}),
                    );
                }
                Action::Complete => {
                    c.events.push(
                        position,
                        EventKind::RunCompleted,
                        step,
                        attempt,
                        Value::Null,
                    );
                }
                Action::Retry(delay) => {
                    let delay_ms = delay.as_secs_f64() * 1000.0;
                    *c.delay_ms.last_mut().expect("pushed") = delay_ms;
                    c.events.push(
                        position,
                        EventKind::RetryScheduled,
                        step,
                        attempt,
                        json!({"delay_ms": delay_ms.round(), "next_attempt": attempt + 1}),
                    );
                }
                Action::Await(policy) => c.events.push(
                    position,
                    EventKind::AwaitingChildren,
                    step,
                    attempt,
                    json!({"until": policy.as_str()}),
                ),
                Action::Release => c.events.push(
                    position,
                    EventKind::LeaseReleased,
                    step,
                    attempt,
                    json!({"reason": "its worker lost its liveness connection"}),
                ),
                Action::Fail(error) => {
                    *c.error.last_mut().expect("pushed") = json!(error);
                    c.events
                        .push(position, EventKind::RunFailed, step, attempt, json!(error));
                }
            }
        }
        c
    }
}

/// The events of a batch, as the columns of an `unnest`; each names the attempt (its position in
/// the batch) it belongs to.
#[derive(Default)]
struct EventBatch {
    item: Vec<i32>,
    kind: Vec<&'static str>,
    step: Vec<&'static str>,
    attempt: Vec<i32>,
    detail: Vec<Value>,
}

impl EventBatch {
    fn push(
        &mut self,
        item: i32,
        kind: EventKind,
        step: &'static str,
        attempt: u32,
        detail: Value,
    ) {
        self.item.push(item);
        self.kind.push(kind.as_str());
        self.step.push(step);
        self.attempt.push(attempt as i32);
        self.detail.push(detail);
    }
}

/// The hand-off of a batch, in one statement. `fenced` keeps the attempts that still own their
/// task (row-locked, in run-id order, so no rescuer can take it before commit); every other write
/// joins it. It looks each task up by its key, row by row (`LATERAL`): joined as a set, the
/// planner fenced with the worker's leases instead (`tasks_leased`), and read some 1900 index
/// entries, most of them dead versions, at each hand-off of the benchmark's lone runs.
/// `result_dropped` events are written for the others only, matched by item, not by run.
const HAND_OFF: &str = "
WITH input AS (
    SELECT * FROM unnest($2::int[], $3::uuid[], $4::int[], $5::int[], $6::int[], $7::text[],
                         $8::text[], $9::text[], $10::float8[], $11::jsonb[], $12::float8[],
                         $13::timestamptz[], $14::jsonb[], $22::timestamptz[], $23::jsonb[],
                         $24::text[], $25::bool[], $26::text[], $27::jsonb[])
        AS i(item, run_id, generation, step_index, attempt, step, action, next_step, delay_ms,
             output, cost_usd, started_at, error, run_at, wait, next_limit_key, limited, awaiting,
             artifacts)
), fenced AS (
    SELECT i.*, owned.began FROM (SELECT * FROM input ORDER BY run_id) i
    CROSS JOIN LATERAL (
        SELECT t.step_started_at AS began FROM tasks t
        WHERE t.run_id = i.run_id AND t.generation = i.generation AND t.step_index = i.step_index
          AND t.attempt = i.attempt AND t.lease_owner = $1
        FOR UPDATE
    ) owned
), journaled AS (
    INSERT INTO checkpoints (run_id, step_index, generation, step, attempt, output, artifacts,
                             cost_usd, worker_id, started_at)
    SELECT run_id, step_index, generation, step, attempt, output, artifacts, cost_usd, $1,
           coalesce(began, started_at)
    FROM fenced WHERE action IN ('keep', 'enqueue', 'complete', 'sleep', 'wait')
), advanced AS (
    UPDATE tasks t
    SET step_index = f.step_index + 1, step = f.next_step, limit_key = f.next_limit_key,
        run_at = CASE f.action WHEN 'sleep' THEN f.run_at
                               WHEN 'wait' THEN COALESCE(f.run_at, 'infinity')
                               ELSE now() END,
        wait = CASE f.action WHEN 'wait' THEN f.wait END,
        attempt = CASE f.action WHEN 'keep' THEN 1 ELSE 0 END,
        interrupted = 0,
        lease_owner = CASE f.action WHEN 'keep' THEN $1 END,
        leased_at = CASE f.action WHEN 'keep' THEN now() END,
        step_started_at = CASE f.action WHEN 'keep' THEN now() END
    FROM fenced f WHERE t.run_id = f.run_id AND f.action IN ('keep', 'enqueue', 'sleep', 'wait')
), parked AS (
    UPDATE runs r SET state = 'waiting'
    FROM fenced f WHERE r.id = f.run_id AND f.action = 'wait'
), awaited AS (
    UPDATE tasks t
    SET lease_owner = NULL, leased_at = NULL, run_at = 'infinity', awaiting = f.awaiting,
        suspended = t.suspended + 1
    FROM fenced f WHERE t.run_id = f.run_id AND f.action = 'await'
), retried AS (
    UPDATE tasks t
    SET lease_owner = NULL, leased_at = NULL, run_at = now() + f.delay_ms * interval '1 ms'
    FROM fenced f WHERE t.run_id = f.run_id AND f.action = 'retry'
), released AS (
    UPDATE tasks t
    SET lease_owner = NULL, leased_at = NULL, run_at = now(), interrupted = t.interrupted + 1
    FROM fenced f WHERE t.run_id = f.run_id AND f.action = 'release'
), removed AS (
    DELETE FROM tasks t USING fenced f
    WHERE t.run_id = f.run_id AND f.action IN ('complete', 'fail')
), finished AS (
    UPDATE runs r
    SET state = CASE f.action WHEN 'complete' THEN 'completed'::run_state
                              ELSE 'failed'::run_state END,
        error = NULLIF(f.error, 'null'::jsonb), finished_at = now()
    FROM fenced f WHERE r.id = f.run_id AND f.action IN ('complete', 'fail')
), logged AS (
    INSERT INTO events (run_id, kind, step, attempt, worker_id, detail)
    SELECT i.run_id, e.kind::event_kind, e.step, NULLIF(e.attempt, 0), $1,
           NULLIF(e.detail, 'null'::jsonb)
    FROM unnest($15::int[], $16::text[], $17::text[], $18::int[], $19::jsonb[])
        WITH ORDINALITY AS e(item, kind, step, attempt, detail, n)
    JOIN input i ON i.item = e.item
    WHERE (e.item IN (SELECT item FROM fenced)) = (e.kind <> 'result_dropped')
    -- Each run's events are numbered in the order they happened.
    ORDER BY e.n
)
SELECT f.item FROM fenced f
WHERE (NOT f.limited OR pg_notify($21, '') IS NOT NULL)
  AND CASE f.action
    WHEN 'complete' THEN pg_notify($20, f.run_id::text) IS NOT NULL
    WHEN 'fail' THEN pg_notify($20, f.run_id::text) IS NOT NULL
    WHEN 'enqueue' THEN pg_notify($21, '') IS NOT NULL
    WHEN 'sleep' THEN pg_notify($21, '') IS NOT NULL
    WHEN 'release' THEN pg_notify($21, '') IS NOT NULL
    ELSE true
END";
