//! What the engine tells about its load and its history without showing its tables: the counts
//! metrics scrape, the recent lengths of a workflow's steps, and when a run's current step began.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    error::Result,
    ids::{RunId, RunState},
};

/// The engine's figures across the whole database, at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// How many runs are in each state; every state is listed.
    pub runs: Vec<(RunState, i64)>,
    /// Tasks due now that no worker holds.
    pub tasks_due: i64,
    /// Tasks a worker holds.
    pub tasks_leased: i64,
    /// How long the oldest due task has waited, in seconds; 0 when none waits.
    pub oldest_due_seconds: f64,
    /// Workers registered and live.
    pub workers_active: i64,
}

pub(crate) async fn stats(pool: &PgPool) -> Result<Stats> {
    let runs = sqlx::query_as(
        "SELECT s, count(r.id) FROM unnest(enum_range(NULL::run_state)) s
         LEFT JOIN runs r ON r.state = s GROUP BY s ORDER BY s",
    )
    .fetch_all(pool)
    .await?;
    let (tasks_due, tasks_leased, oldest_due_seconds, workers_active) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE lease_owner IS NULL AND run_at <= now()),
                count(*) FILTER (WHERE lease_owner IS NOT NULL),
                coalesce(extract(epoch FROM now() - min(run_at)
                         FILTER (WHERE lease_owner IS NULL AND run_at <= now())), 0)::float8,
                (SELECT count(*) FROM workers WHERE state = 'active')
         FROM tasks",
    )
    .fetch_one(pool)
    .await?;
    Ok(Stats {
        runs,
        tasks_due,
        tasks_leased,
        oldest_due_seconds,
        workers_active,
    })
}

/// The median length in seconds of each step of `workflow`, over its last `last` checkpoints
/// committed within `within` (those a step made, not a fork's shared or overridden ones); a
/// step with none is left out.
pub(crate) async fn step_medians(
    pool: &PgPool,
    workflow: &str,
    within: Duration,
    last: i64,
) -> Result<Vec<(String, f64)>> {
    Ok(sqlx::query_as(
        "SELECT step, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)
         FROM (SELECT c.step, extract(epoch FROM c.completed_at - c.started_at)::float8 AS seconds,
                      row_number() OVER (PARTITION BY c.step ORDER BY c.completed_at DESC) AS n
               FROM checkpoints c JOIN runs r ON r.id = c.run_id
               WHERE r.workflow = $1 AND c.completed_at > now() - $2 * interval '1 ms'
                 AND c.attempt > 0) recent
         WHERE n <= $3 GROUP BY step",
    )
    .bind(workflow)
    .bind(within.as_secs_f64() * 1000.0)
    .bind(last)
    .fetch_all(pool)
    .await?)
}

/// When `run_id`'s current step began: its first attempt's lease, kept across its retries and its
/// waits for children; `None` before it has begun, and once the run has ended.
pub(crate) async fn step_started_at(pool: &PgPool, run_id: RunId) -> Result<Option<DateTime<Utc>>> {
    Ok(
        sqlx::query_scalar("SELECT step_started_at FROM tasks WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(pool)
            .await?
            .flatten(),
    )
}
