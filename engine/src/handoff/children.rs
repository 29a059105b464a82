//! The hand-off of children's attempts: one statement that fences each on its child's row
//! (`lease_owner`, `attempt`) and checkpoints its result (output or error, and cost), queues it
//! again after a retryable failure, or gives it back after an interruption. A child's failure
//! and a dropped late result are recorded in its run's history.

use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::batch::{Action, Item, Outcome};
use crate::{artifact::Journaled, channels::TASKS_CHANNEL, ids::RunId};

/// Writes the hand-offs of the children's attempts among `batch`; returns the positions in
/// `batch` of those that still held their lease.
pub(super) async fn write(
    conn: &mut PgConnection,
    worker_id: Uuid,
    batch: &[Item],
) -> sqlx::Result<Vec<i32>> {
    let mut c = Columns::default();
    for (position, item) in (0..).zip(batch) {
        let lease = item.finished.attempt.lease;
        let Some(child) = lease.child else { continue };
        let (output, cost_usd, error) = match &item.finished.outcome {
            Outcome::Succeeded {
                output, cost_usd, ..
            } => (output.clone(), *cost_usd, Value::Null),
            Outcome::Failed(error) => (Journaled::default(), 0.0, json!(error)),
            Outcome::Interrupted | Outcome::AwaitingChildren(_) => {
                (Journaled::default(), 0.0, Value::Null)
            }
        };
        let delay_ms = match &item.action {
            Action::Retry(delay) => delay.as_secs_f64() * 1000.0,
            _ => 0.0,
        };
        c.item.push(position);
        c.child.push(child);
        c.attempt.push(lease.attempt);
        c.action.push(item.action.name());
        c.output.push(output.value);
        c.artifacts.push(output.artifacts);
        c.cost_usd.push(cost_usd);
        c.delay_ms.push(delay_ms);
        c.error.push(error);
        c.run_id.push(lease.run_id);
        c.function.push(item.step_name());
    }
    if c.item.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(CHILD_HAND_OFF)
        .bind(worker_id)
        .bind(&c.item)
        .bind(&c.child)
        .bind(&c.attempt)
        .bind(&c.action)
        .bind(&c.output)
        .bind(&c.cost_usd)
        .bind(&c.delay_ms)
        .bind(&c.error)
        .bind(&c.run_id)
        .bind(&c.function)
        .bind(TASKS_CHANNEL)
        .bind(&c.artifacts)
        .fetch_all(conn)
        .await
}

/// The children's attempts of a batch, as the columns of the statement's `unnest`.
#[derive(Default)]
struct Columns {
    item: Vec<i32>,
    child: Vec<i64>,
    attempt: Vec<i32>,
    action: Vec<&'static str>,
    output: Vec<Value>,
    /// The artifacts each output names (a JSON array of keys).
    artifacts: Vec<Value>,
    cost_usd: Vec<f64>,
    delay_ms: Vec<f64>,
    error: Vec<Value>,
    run_id: Vec<RunId>,
    function: Vec<&'static str>,
}

/// The hand-off of children's attempts, keyed by attempt and fenced row by row like the steps'
/// (see `statement::HAND_OFF`); a child completes or fails for good (`complete`, `fail`), is
/// queued again (`retry`) or given back (`release`).
const CHILD_HAND_OFF: &str = "
WITH input AS (
    SELECT * FROM unnest($2::int[], $3::bigint[], $4::int[], $5::text[], $6::jsonb[],
                         $7::float8[], $8::float8[], $9::jsonb[], $10::uuid[], $11::text[],
                         $13::jsonb[])
        AS i(item, child, attempt, action, output, cost_usd, delay_ms, error, run_id, function,
             artifacts)
), fenced AS (
    SELECT i.* FROM (SELECT * FROM input ORDER BY child) i
    CROSS JOIN LATERAL (
        SELECT 1 FROM children c
        WHERE c.id = i.child AND c.attempt = i.attempt AND c.lease_owner = $1
        FOR UPDATE
    ) owned
), finished AS (
    UPDATE children c
    SET lease_owner = NULL, leased_at = NULL, finished_at = now(), cost_usd = f.cost_usd,
        output = CASE f.action WHEN 'complete' THEN f.output END,
        artifacts = CASE f.action WHEN 'complete' THEN f.artifacts ELSE '[]' END,
        error = CASE f.action WHEN 'fail' THEN f.error END
    FROM fenced f WHERE c.id = f.child AND f.action IN ('complete', 'fail')
), retried AS (
    UPDATE children c
    SET lease_owner = NULL, leased_at = NULL, run_at = now() + f.delay_ms * interval '1 ms'
    FROM fenced f WHERE c.id = f.child AND f.action = 'retry'
), released AS (
    UPDATE children c
    SET lease_owner = NULL, leased_at = NULL, run_at = now(), interrupted = c.interrupted + 1
    FROM fenced f WHERE c.id = f.child AND f.action = 'release'
), logged AS (
    INSERT INTO events (run_id, kind, step, attempt, worker_id, detail)
    SELECT i.run_id, 'result_dropped'::event_kind, i.function, i.attempt, $1,
           jsonb_build_object('child', i.child,
                              'reason', 'the attempt no longer held its lease')
    FROM input i WHERE i.item NOT IN (SELECT item FROM fenced)
    UNION ALL
    SELECT run_id, 'step_failed'::event_kind, function, attempt, $1,
           error || jsonb_build_object('child', child)
    FROM fenced WHERE error <> 'null'::jsonb
)
SELECT item FROM fenced
WHERE action NOT IN ('retry', 'release') OR pg_notify($12, '') IS NOT NULL";
