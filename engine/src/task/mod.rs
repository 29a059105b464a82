//! Tasks, the outbox: claiming due ones (and children) in batches, and the attempt a claim (or a
//! hand-off that keeps the next step) gives a worker.

mod statements;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{types::Json, Connection, PgConnection};
use uuid::Uuid;

use crate::{
    error::{Error, Result},
    hook::{Transition, TransitionKind},
    ids::RunId,
    lease::Lease,
    limits::{self, Served, BUCKET_PREFIX},
    registry::Registry,
    wait::Wait,
    workflow::{run_hooks, StepDef, WorkflowDef},
};

/// One attempt of one step, owned by this worker.
pub(crate) struct Attempt {
    pub lease: Lease,
    pub workflow: Arc<WorkflowDef>,
    /// The step's name as the task recorded it; it must match the definition.
    pub step_name: String,
    pub input: Value,
    pub leased_at: DateTime<Utc>,
    /// How many attempts of this step before this one were interrupted (see [`MAX_INTERRUPTIONS`]).
    pub interrupted: i32,
    /// How many attempts of this step before this one ended waiting for its children.
    pub suspended: i32,
    /// The wait before this step, when its deadline passed without the signal: the step takes
    /// the path the wait declared.
    pub expired: Option<Wait>,
}

/// How many interrupted attempts a step survives: a step that keeps taking its workers down
/// (running out of memory, say) must not loop forever.
pub(crate) const MAX_INTERRUPTIONS: i32 = 20;

impl Attempt {
    /// The attempt's number among those that ended on their own: the one the retry policy counts.
    pub fn tries(&self) -> u32 {
        (self.lease.attempt - self.interrupted - self.suspended).max(1) as u32
    }

    /// The transition that tells the workflow's hook this attempt began (none for a child's).
    pub fn started(&self) -> Option<(&WorkflowDef, Transition<'static>)> {
        if self.lease.child.is_some() {
            return None;
        }
        let step = self.step()?;
        let kind = TransitionKind::StepStarted {
            step: step.name,
            step_index: self.lease.step_index as usize,
            attempt: self.lease.attempt as u32,
        };
        let run_id = self.lease.run_id;
        Some((&*self.workflow, Transition { run_id, kind }))
    }

    /// The step the attempt runs, if the definition still has it at this index.
    /// A child's attempt runs the child function of its name.
    pub fn step(&self) -> Option<&StepDef> {
        if self.lease.child.is_some() {
            return self.workflow.child(&self.step_name);
        }
        self.workflow
            .steps
            .get(self.lease.step_index as usize)
            .filter(|s| s.name == self.step_name)
    }
}

#[derive(sqlx::FromRow)]
struct Claimed {
    run_id: RunId,
    workflow: String,
    workflow_version: i32,
    generation: i32,
    step_index: i32,
    step: String,
    attempt: i32,
    leased_at: DateTime<Utc>,
    interrupted: i32,
    suspended: i32,
    wait: Option<Json<Wait>>,
    limit_key: Option<String>,
    child: Option<i64>,
    input: Option<Value>,
}

/// What a claim found: the attempts it leased, and, when it took fewer than it could, how long
/// until the next free task falls due by the database's clock (zero or less: due already, as a
/// task committed while the claim ran is).
pub(crate) struct Claim {
    pub attempts: Vec<Attempt>,
    pub next_due_in: Option<f64>,
}

/// Leases up to `limit` due tasks, then children, of the registered workflows to `worker`, of
/// the `steps` it takes (any when `None`), records the tasks' `step_started` events and runs the
/// hooks, in one transaction.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    registry: &Registry,
    worker: Uuid,
    steps: Option<&[String]>,
    limit: usize,
) -> Result<Claim> {
    let mut tx = conn.begin().await?;
    let served = match registry.limits() {
        [] => Served::default(),
        limits => limits::serve(&mut tx, limits).await?,
    };
    let all_keys: Vec<&str> = registry.limits().iter().map(|l| l.key.as_str()).collect();
    let lease = |statement: &'static str, limit: usize| {
        sqlx::query_as::<_, Claimed>(statement)
            .bind(worker)
            .bind(limit as i64)
            .bind(registry.names())
            .bind(registry.versions())
            .bind(&served.key)
            .bind(&served.concurrency)
            .bind(&served.capacity)
            .bind(&served.per_second)
            .bind(&all_keys)
            .bind(BUCKET_PREFIX)
            .bind(steps)
    };
    let mut rows = lease(&statements::CLAIM, limit).fetch_all(&mut *tx).await?;
    if rows.len() < limit && registry.has_children() {
        let left = limit - rows.len();
        rows.extend(
            lease(&statements::CLAIM_CHILDREN, left)
                .fetch_all(&mut *tx)
                .await?,
        );
    }
    if !served.key.is_empty() {
        let leased: Vec<&str> = rows.iter().filter_map(|r| r.limit_key.as_deref()).collect();
        limits::take_tokens(&mut tx, &served, &leased).await?;
    }
    let attempts: Vec<Attempt> = rows
        .into_iter()
        .filter_map(|row| {
            let workflow = registry.get(&row.workflow, row.workflow_version)?;
            Some(Attempt {
                lease: Lease {
                    run_id: row.run_id,
                    generation: row.generation,
                    step_index: row.step_index,
                    attempt: row.attempt,
                    worker_id: worker,
                    child: row.child,
                },
                workflow,
                step_name: row.step,
                input: row.input.unwrap_or(Value::Null),
                leased_at: row.leased_at,
                interrupted: row.interrupted,
                suspended: row.suspended,
                expired: row.wait.map(|Json(wait)| wait),
            })
        })
        .collect();
    let transitions: Vec<_> = attempts.iter().filter_map(Attempt::started).collect();
    run_hooks(&mut tx, &transitions)
        .await
        .map_err(Error::Hook)?;
    let next_due_in = if attempts.len() < limit {
        sqlx::query_scalar(statements::NEXT_DUE)
            .bind(registry.names())
            .bind(registry.versions())
            .bind(&all_keys)
            .bind(&served.key)
            .bind(&served.capacity)
            .bind(&served.per_second)
            .bind(BUCKET_PREFIX)
            .bind(steps)
            .fetch_one(&mut *tx)
            .await?
    } else {
        None
    };
    tx.commit().await?;
    Ok(Claim {
        attempts,
        next_due_in,
    })
}
