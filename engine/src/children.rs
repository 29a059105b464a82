//! Fan-out: a step starts children (a function of its workflow and an input each, under a key)
//! that run in parallel on any workers, each an attempt of its own with its lease, fencing,
//! retries and timeout, its result checkpointed in `children`. Children belong to the step's
//! generation, not to an attempt: starting them is idempotent by key, so an attempt that took
//! over from a crashed or fenced one finds the same children. Until they have finished, the
//! step's task is parked (`tasks.awaiting`) holding no lease and no worker slot; whatever may
//! finish the last of them (a child's hand-off, the park itself) wakes the step after it commits,
//! and the scheduler's sweep wakes any a crash in between left parked. The step then runs again
//! and finds their results.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::{
    channels::TASKS_CHANNEL, ids::RunId, lease::Lease, step_error::StepError, wait::Policy,
};

/// What a step may start: its workflow's child functions (with the limit key of each) and the
/// most children one step may have.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    pub workflow: &'static str,
    pub version: i32,
    pub functions: Vec<(&'static str, Option<String>)>,
    pub max_children: usize,
}

/// A child's state as its step reads it.
#[derive(sqlx::FromRow)]
struct ChildRow {
    key: String,
    output: Option<Value>,
    error: Option<sqlx::types::Json<StepError>>,
    finished: bool,
}

/// Where the children stand, after starting those not started yet.
pub(crate) enum Progress<O> {
    /// Every child finished (or, failing fast, one failed): each one's result, in the order of
    /// the keys.
    Settled(Vec<Result<O, StepError>>),
    /// Some still run.
    Running,
}

/// Starts the children of `function` under `keys` (one input each) that the step's generation
/// has not started yet, fenced on the attempt's lease, and reads where they all stand.
pub(crate) async fn start<I: Serialize, O: DeserializeOwned>(
    pool: &PgPool,
    lease: &Lease,
    rules: &Rules,
    function: &str,
    children: Vec<(String, I)>,
    policy: Policy,
) -> Result<Progress<O>, StepError> {
    if lease.child.is_some() {
        return Err(StepError::permanent(
            "nested_fan_out",
            "a child cannot start children",
        ));
    }
    let limit_key = match rules.functions.iter().find(|(name, _)| *name == function) {
        Some((_, limit_key)) => limit_key.as_deref(),
        None => {
            return Err(StepError::permanent(
                "unknown_child",
                format!("the workflow declares no child function {function:?}"),
            ))
        }
    };
    if children.len() > rules.max_children {
        return Err(StepError::permanent(
            "too_many_children",
            format!(
                "{} children asked for; a step may have at most {}",
                children.len(),
                rules.max_children
            ),
        ));
    }
    let mut keys = Vec::with_capacity(children.len());
    let mut inputs = Vec::with_capacity(children.len());
    for (key, input) in children {
        inputs.push(serde_json::to_value(input).map_err(|e| {
            StepError::permanent("invalid_input", format!("a child's input is not JSON: {e}"))
        })?);
        keys.push(key);
    }
    let owned: bool = sqlx::query_scalar(
        "WITH owned AS (
             SELECT 1 FROM tasks
             WHERE run_id = $1 AND generation = $2 AND step_index = $3
               AND attempt = $4 AND lease_owner = $5
             FOR SHARE
         ), started AS (
             INSERT INTO children (run_id, generation, step_index, key, workflow, workflow_version,
                                   function, input, limit_key)
             SELECT $1, $2, $3, c.key, $11, $12, $6, c.input, $7
             FROM owned, unnest($8::text[], $9::jsonb[]) AS c(key, input)
             ON CONFLICT (run_id, generation, step_index, key) DO NOTHING
             RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM owned)
                AND ((SELECT count(*) FROM started) = 0 OR pg_notify($10, '') IS NOT NULL)",
    )
    .bind(lease.run_id)
    .bind(lease.generation)
    .bind(lease.step_index)
    .bind(lease.attempt)
    .bind(lease.worker_id)
    .bind(function)
    .bind(limit_key)
    .bind(&keys)
    .bind(&inputs)
    .bind(TASKS_CHANNEL)
    .bind(rules.workflow)
    .bind(rules.version)
    .fetch_one(pool)
    .await
    .map_err(StepError::database)?;
    if !owned {
        return Err(StepError::lease_lost());
    }
    let rows: Vec<ChildRow> = sqlx::query_as(
        "SELECT key, output, error, finished_at IS NOT NULL AS finished FROM children
         WHERE run_id = $1 AND generation = $2 AND step_index = $3 AND key = ANY($4)",
    )
    .bind(lease.run_id)
    .bind(lease.generation)
    .bind(lease.step_index)
    .bind(&keys)
    .fetch_all(pool)
    .await
    .map_err(StepError::database)?;
    let failed = rows.iter().any(|r| r.error.is_some());
    let running = rows.iter().any(|r| !r.finished);
    if running && !(failed && policy == Policy::FirstFailure) {
        return Ok(Progress::Running);
    }
    let results = keys
        .iter()
        .filter_map(|key| rows.iter().find(|r| r.key == *key))
        .filter(|row| row.finished)
        .map(|row| match (&row.output, &row.error) {
            (_, Some(error)) => Err(error.0.clone()),
            (Some(output), None) => serde_json::from_value(output.clone()).map_err(|e| {
                StepError::permanent(
                    "invalid_journal",
                    format!("child {:?}'s result does not parse: {e}", row.key),
                )
            }),
            (None, None) => unreachable!("a finished child has an output or an error"),
        })
        .collect();
    Ok(Progress::Settled(results))
}

/// Wakes the parked steps (of `runs`, or all) whose children let them go on: every child
/// finished, or, failing fast, one failed. Run after the commit of whatever may have finished
/// the last child, and by the scheduler's sweep; waking twice is harmless. Returns how many
/// woke.
pub(crate) async fn wake(conn: &mut PgConnection, runs: Option<&[RunId]>) -> sqlx::Result<u64> {
    let woken: i64 = sqlx::query_scalar(
        "WITH ready AS (
             SELECT t.run_id FROM tasks t
             WHERE t.awaiting IS NOT NULL AND t.lease_owner IS NULL
               AND ($1::uuid[] IS NULL OR t.run_id = ANY($1))
               AND (NOT EXISTS (SELECT 1 FROM children c
                                WHERE c.run_id = t.run_id AND c.generation = t.generation
                                  AND c.step_index = t.step_index AND c.finished_at IS NULL)
                    OR (t.awaiting = 'first_failure'
                        AND EXISTS (SELECT 1 FROM children c
                                    WHERE c.run_id = t.run_id AND c.generation = t.generation
                                      AND c.step_index = t.step_index AND c.error IS NOT NULL)))
             ORDER BY t.run_id
             FOR UPDATE OF t
         ), woken AS (
             UPDATE tasks t SET awaiting = NULL, run_at = now()
             FROM ready WHERE t.run_id = ready.run_id AND t.awaiting IS NOT NULL
             RETURNING t.run_id
         )
         SELECT count(*) FROM woken WHERE pg_notify($2, '') IS NOT NULL",
    )
    .bind(runs)
    .bind(TASKS_CHANNEL)
    .fetch_one(conn)
    .await?;
    Ok(woken as u64)
}
