//! Signals: sending one to a run, and resuming the parked runs that wait for one. A waiting
//! run's task names its signal in `tasks.wait` (see [`crate::Wait`]); the signal's delivery and
//! the hand-off that parks the run both lock the task row, and each consumes a signal the other
//! left, so a signal sent before its wait is kept for it and never lost.

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    channels::TASKS_CHANNEL,
    error::{Error, Result},
    ids::{RunId, RunState},
    registry::Registry,
};

/// The largest payload a signal may carry, in bytes of JSON.
pub const MAX_SIGNAL_BYTES: usize = 256 * 1024;

/// The outcome of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signalled {
    /// The signal's id in the run's history.
    pub id: i64,
    /// False when its idempotency key named a signal already sent, which stands instead.
    pub created: bool,
    /// Whether a waiting run resumed with it; otherwise it is kept for the run's next wait.
    pub resumed: bool,
}

/// Sends signal `name` with `payload` to `run_id` in the caller's transaction.
pub(crate) async fn send(
    conn: &mut PgConnection,
    registry: &Registry,
    run_id: RunId,
    name: &str,
    payload: &Value,
    idempotency_key: Option<&str>,
) -> Result<Signalled> {
    let size = serde_json::to_vec(payload)?.len();
    if size > MAX_SIGNAL_BYTES {
        return Err(Error::SignalTooLarge {
            size,
            limit: MAX_SIGNAL_BYTES,
        });
    }
    // The task first, as every transaction that touches both: a hand-off parking the run waits
    // for this one, and then sees the signal.
    sqlx::query("SELECT 1 FROM tasks WHERE run_id = $1 FOR UPDATE")
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
    let (workflow, version, state): (String, i32, RunState) =
        sqlx::query_as("SELECT workflow, workflow_version, state FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(Error::RunNotFound(run_id))?;
    let def = registry
        .get(&workflow, version)
        .ok_or_else(|| Error::UnknownWorkflow {
            name: workflow.clone(),
            version,
        })?;
    if !def.signals.contains(&name) {
        return Err(Error::UndeclaredSignal {
            workflow,
            signal: name.to_owned(),
        });
    }
    if state.is_terminal() {
        return Err(Error::InvalidState {
            run: run_id,
            state,
            action: "a signal",
            expected: "running or waiting",
        });
    }
    let inserted: Option<i64> = sqlx::query_scalar(
        "WITH signal AS (
             INSERT INTO signals (run_id, name, payload, idempotency_key)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (run_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
             RETURNING id
         ), event AS (
             INSERT INTO events (run_id, kind, detail)
             SELECT $1, 'signal_received', jsonb_build_object('signal', $2::text, 'id', id, 'bytes', $5::int)
             FROM signal
         )
         SELECT id FROM signal",
    )
    .bind(run_id)
    .bind(name)
    .bind(payload)
    .bind(idempotency_key)
    .bind(size as i32)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = inserted else {
        let id =
            sqlx::query_scalar("SELECT id FROM signals WHERE run_id = $1 AND idempotency_key = $2")
                .bind(run_id)
                .bind(idempotency_key)
                .fetch_one(&mut *conn)
                .await?;
        return Ok(Signalled {
            id,
            created: false,
            resumed: false,
        });
    };
    let resumed = resume(conn, &[run_id]).await? > 0;
    Ok(Signalled {
        id,
        created: true,
        resumed,
    })
}

/// Resumes those of `runs` that wait for a signal they have been sent: each takes the oldest
/// such signal (consumed by the step it resumes), and its task falls due now. The caller holds
/// the runs' task rows, so this statement's fresh snapshot sees every signal committed before.
/// Returns how many resumed.
pub(crate) async fn resume(conn: &mut PgConnection, runs: &[RunId]) -> sqlx::Result<u64> {
    let resumed: i64 = sqlx::query_scalar(
        "WITH ready AS (
             SELECT t.run_id, t.generation, t.step_index, t.step, s.id AS signal_id, s.name
             FROM tasks t
             CROSS JOIN LATERAL (
                 SELECT id, name FROM signals s
                 WHERE s.run_id = t.run_id AND s.name = t.wait->>'signal' AND s.consumed_at IS NULL
                 ORDER BY id LIMIT 1
             ) s
             WHERE t.run_id = ANY($1) AND t.wait IS NOT NULL AND t.lease_owner IS NULL
               AND t.attempt = 0
         ), consumed AS (
             UPDATE signals s SET consumed_at = now(), generation = r.generation,
                                  step_index = r.step_index
             FROM ready r WHERE s.id = r.signal_id
         ), task AS (
             UPDATE tasks t SET wait = NULL, run_at = now()
             FROM ready r WHERE t.run_id = r.run_id
         ), run AS (
             UPDATE runs SET state = 'running' FROM ready r
             WHERE runs.id = r.run_id AND runs.state = 'waiting'
         ), event AS (
             INSERT INTO events (run_id, kind, step, detail)
             SELECT run_id, 'resumed', step,
                    jsonb_build_object('signal', name, 'id', signal_id, 'by', 'signal')
             FROM ready
         )
         SELECT count(*) FROM ready WHERE pg_notify($2, '') IS NOT NULL",
    )
    .bind(runs)
    .bind(TASKS_CHANNEL)
    .fetch_one(conn)
    .await?;
    Ok(resumed as u64)
}
