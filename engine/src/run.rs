//! Runs: replaying, cancelling and reading them.
//! A run's row says where it stands; its task (the outbox) says what is due next.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    channels::{CANCELS_CHANNEL, RUNS_CHANNEL, TASKS_CHANNEL},
    error::{Error, Result},
    hook::{Transition, TransitionKind},
    ids::{RunError, RunId, RunState},
    pause::{PausePoint, PausePoints},
    workflow::WorkflowDef,
};

/// A run as the engine sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunSummary {
    pub id: RunId,
    pub workflow: String,
    pub workflow_version: i32,
    pub state: RunState,
    pub generation: i32,
    #[sqlx(json(nullable))]
    pub error: Option<RunError>,
    /// The sum of the costs of the live checkpoints (a fork's shared ones cost it nothing).
    pub cost_usd: f64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The run this one was forked from, if any.
    pub parent_run_id: Option<RunId>,
    /// The index of the step it was forked from.
    pub fork_step_index: Option<i32>,
}

pub(crate) const SUMMARY_COLUMNS: &str =
    "r.id, r.workflow, r.workflow_version, r.state, r.generation, r.error,
    COALESCE((SELECT sum(c.cost_usd) FROM checkpoints c
              WHERE c.run_id = r.id AND c.superseded_at IS NULL), 0) AS cost_usd,
    r.created_at, r.finished_at, r.parent_run_id, r.fork_step_index";

pub(crate) async fn find(pool: &PgPool, run_id: RunId) -> Result<Option<RunSummary>> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM runs r WHERE r.id = $1");
    Ok(sqlx::query_as(&sql)
        .bind(run_id)
        .fetch_optional(pool)
        .await?)
}

pub(crate) async fn list(
    pool: &PgPool,
    state: Option<RunState>,
    limit: i64,
) -> Result<Vec<RunSummary>> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM runs r
         WHERE $1::run_state IS NULL OR r.state = $1
         ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(&sql)
        .bind(state)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// The tree of forks that `run_id` belongs to: its root first, then every descendant, each
/// after its parent. Empty if the run does not exist.
pub(crate) async fn tree(pool: &PgPool, run_id: RunId) -> Result<Vec<RunSummary>> {
    let sql = format!(
        "WITH RECURSIVE up AS (
             SELECT id, parent_run_id, 0 AS depth FROM runs WHERE id = $1
             UNION ALL
             SELECT r.id, r.parent_run_id, up.depth + 1 FROM runs r JOIN up ON r.id = up.parent_run_id
         ), root AS (
             SELECT id FROM up ORDER BY depth DESC LIMIT 1
         ), down AS (
             SELECT id, 0 AS depth FROM root
             UNION ALL
             SELECT r.id, down.depth + 1 FROM runs r JOIN down ON r.parent_run_id = down.id
         )
         SELECT {SUMMARY_COLUMNS} FROM down JOIN runs r ON r.id = down.id
         ORDER BY down.depth, r.created_at, r.id"
    );
    Ok(sqlx::query_as(&sql).bind(run_id).fetch_all(pool).await?)
}

/// The committed output of a step, live or superseded by a replay.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Checkpoint {
    pub step: String,
    pub step_index: i32,
    pub generation: i32,
    pub attempt: i32,
    pub output: Value,
    pub cost_usd: f64,
    pub worker_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
    /// For a fork's step before its fork point: the run whose checkpoint it shares (the output
    /// is that one's).
    pub shared_from: Option<RunId>,
}

pub(crate) async fn checkpoints(pool: &PgPool, run_id: RunId) -> Result<Vec<Checkpoint>> {
    Ok(sqlx::query_as(
        "SELECT c.step, c.step_index, c.generation, c.attempt,
                COALESCE(c.output, s.output) AS output, c.cost_usd, c.worker_id, c.started_at,
                c.completed_at, c.superseded_at, c.source_run_id AS shared_from
         FROM checkpoints c
         LEFT JOIN checkpoints s ON s.run_id = c.source_run_id AND s.step_index = c.step_index
                                AND s.generation = c.source_generation
         WHERE c.run_id = $1 ORDER BY c.generation, c.step_index",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?)
}

/// The row a replay or a cancel locks and checks.
#[derive(sqlx::FromRow)]
struct Locked {
    workflow: String,
    workflow_version: i32,
    state: RunState,
    generation: i32,
}

/// Locks the run's row against other replays and cancels, and against the hand-off that ends it.
/// `FOR NO KEY UPDATE`, not `FOR UPDATE`: the foreign-key checks of event and checkpoint inserts
/// (`FOR KEY SHARE`) must not wait for it, or a hand-off holding the run's task would.
async fn lock(conn: &mut PgConnection, run_id: RunId) -> Result<Locked> {
    sqlx::query_as(
        "SELECT workflow, workflow_version, state, generation FROM runs WHERE id = $1
         FOR NO KEY UPDATE",
    )
    .bind(run_id)
    .fetch_optional(conn)
    .await?
    .ok_or(Error::RunNotFound(run_id))
}

/// Re-runs a finished run from `step`: the checkpoints and memos of that step and the ones after
/// it are superseded (kept as history), their unfinished children cancelled, and the step is due
/// again.
pub(crate) async fn replay(
    pool: &PgPool,
    find_workflow: impl Fn(&str, i32) -> Option<std::sync::Arc<WorkflowDef>>,
    run_id: RunId,
    step: &str,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let run = lock(&mut tx, run_id).await?;
    let def = find_workflow(&run.workflow, run.workflow_version).ok_or_else(|| {
        Error::UnknownWorkflow {
            name: run.workflow.clone(),
            version: run.workflow_version,
        }
    })?;
    let index = def.step_index(step).ok_or_else(|| Error::UnknownStep {
        workflow: run.workflow.clone(),
        step: step.to_owned(),
    })?;
    if !run.state.is_terminal() {
        return Err(Error::InvalidState {
            run: run_id,
            state: run.state,
            action: "a replay",
            expected: "completed, failed or cancelled",
        });
    }
    let generation = run.generation + 1;
    let step = def.steps[index].name;
    sqlx::query(
        "WITH cp AS (
             UPDATE checkpoints SET superseded_at = now()
             WHERE run_id = $1 AND step_index >= $2 AND superseded_at IS NULL
         ), memo AS (
             UPDATE memos SET superseded_at = now()
             WHERE run_id = $1 AND step_index >= $2 AND superseded_at IS NULL
         ), children AS (
             UPDATE children
             SET finished_at = now(), lease_owner = NULL, leased_at = NULL,
                 error = jsonb_build_object('retryable', false, 'code', 'superseded',
                                            'message', 'a replay superseded its step')
             WHERE run_id = $1 AND step_index >= $2 AND finished_at IS NULL
         ), task AS (
             INSERT INTO tasks (run_id, workflow, workflow_version, generation, step_index, step,
                                limit_key)
             VALUES ($1, $3, $4, $5, $2, $6, $7)
         ), event AS (
             INSERT INTO events (run_id, kind, step, detail)
             VALUES ($1, 'replayed', $6, jsonb_build_object('generation', $5::int))
         )
         UPDATE runs SET state = 'running', generation = $5, error = NULL, finished_at = NULL
         WHERE id = $1",
    )
    .bind(run_id)
    .bind(index as i32)
    .bind(def.name)
    .bind(def.version)
    .bind(generation)
    .bind(step)
    .bind(def.limit_key(index))
    .execute(&mut *tx)
    .await?;
    let kind = TransitionKind::Replayed {
        step,
        step_index: index,
    };
    run_hook(&mut tx, &def, run_id, kind).await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(TASKS_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Cancels a running run: its task is removed and its unfinished children cancelled, so no
/// further step or child is claimed, and the workers of the attempts that may be running are
/// notified when the cancel commits (their next heartbeat catches a lost notification).
///
/// Like every transaction that touches a run and its task, it locks the task first, then the run
/// (docs/state-machine.md). A running run always has its task, so a running run whose task was
/// not there to lock has just been replayed: the cancel then looks again.
pub(crate) async fn cancel(
    pool: &PgPool,
    find_workflow: impl Fn(&str, i32) -> Option<std::sync::Arc<WorkflowDef>>,
    run_id: RunId,
    pauses: &PausePoints,
) -> Result<()> {
    let mut looked_again = false;
    loop {
        let mut tx = pool.begin().await?;
        let task = lock_task(&mut tx, run_id).await?;
        pauses.reach(PausePoint::CancelLocked).await;
        let run = lock(&mut tx, run_id).await?;
        if run.state.is_terminal() {
            return Err(Error::InvalidState {
                run: run_id,
                state: run.state,
                action: "a cancel",
                expected: "running",
            });
        }
        if !task && !looked_again {
            looked_again = true;
            continue;
        }
        sqlx::query(
            "WITH task AS (
                 DELETE FROM tasks WHERE run_id = $1
             ), children AS (
                 UPDATE children
                 SET finished_at = now(), lease_owner = NULL, leased_at = NULL,
                     error = jsonb_build_object('retryable', false, 'code', 'cancelled',
                                                'message', 'the run was cancelled')
                 WHERE run_id = $1 AND finished_at IS NULL
             ), event AS (
                 INSERT INTO events (run_id, kind) VALUES ($1, 'cancelled')
             )
             UPDATE runs SET state = 'cancelled', finished_at = now() WHERE id = $1",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        if let Some(def) = find_workflow(&run.workflow, run.workflow_version) {
            run_hook(&mut tx, &def, run_id, TransitionKind::Cancelled).await?;
        }
        // Idle workers too: a cancelled attempt's end may free room under a limit.
        sqlx::query("SELECT pg_notify($1, $3), pg_notify($2, $3), pg_notify($4, '')")
            .bind(RUNS_CHANNEL)
            .bind(CANCELS_CHANNEL)
            .bind(run_id.to_string())
            .bind(TASKS_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(());
    }
}

/// Locks the run's task, if it has one; returns whether it had.
async fn lock_task(conn: &mut PgConnection, run_id: RunId) -> Result<bool> {
    let task: Option<RunId> =
        sqlx::query_scalar("SELECT run_id FROM tasks WHERE run_id = $1 FOR UPDATE")
            .bind(run_id)
            .fetch_optional(conn)
            .await?;
    Ok(task.is_some())
}

async fn run_hook(
    conn: &mut PgConnection,
    def: &WorkflowDef,
    run_id: RunId,
    kind: TransitionKind<'_>,
) -> Result<()> {
    if let Some(hook) = &def.hook {
        hook.on_transitions(conn, &[Transition { run_id, kind }])
            .await
            .map_err(Error::Hook)?;
    }
    Ok(())
}
