//! Tasks, the outbox: claiming due ones in batches, and the attempt a claim (or a hand-off that
//! keeps the next step) gives a worker.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{types::Json, Connection, PgConnection};
use uuid::Uuid;

use crate::{
    context::Lease,
    error::{Error, Result},
    hook::{Transition, TransitionKind},
    ids::RunId,
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
        (self.lease.attempt - self.interrupted).max(1) as u32
    }

    /// The transition that tells the workflow's hook this attempt began.
    pub fn started(&self) -> Option<(&WorkflowDef, Transition<'static>)> {
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
    pub fn step(&self) -> Option<&StepDef> {
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
    wait: Option<Json<Wait>>,
    limit_key: Option<String>,
    input: Option<Value>,
}

/// What a claim found: the attempts it leased, and, when it took fewer than it could, how long
/// until the next free task falls due by the database's clock (zero or less: due already, as a
/// task committed while the claim ran is).
pub(crate) struct Claim {
    pub attempts: Vec<Attempt>,
    pub next_due_in: Option<f64>,
}

/// Leases up to `limit` due tasks of the registered workflows to `worker`, records their
/// `step_started` events and runs the hooks, in one transaction.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    registry: &Registry,
    worker: Uuid,
    limit: usize,
) -> Result<Claim> {
    let mut tx = conn.begin().await?;
    let served = match registry.limits() {
        [] => Served::default(),
        limits => limits::serve(&mut tx, limits).await?,
    };
    let all_keys: Vec<&str> = registry.limits().iter().map(|l| l.key.as_str()).collect();
    let rows: Vec<Claimed> = sqlx::query_as(CLAIM)
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
        .fetch_all(&mut *tx)
        .await?;
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
                },
                workflow,
                step_name: row.step,
                input: row.input.unwrap_or(Value::Null),
                leased_at: row.leased_at,
                interrupted: row.interrupted,
                expired: row.wait.map(|Json(wait)| wait),
            })
        })
        .collect();
    let transitions: Vec<_> = attempts.iter().filter_map(Attempt::started).collect();
    run_hooks(&mut tx, &transitions)
        .await
        .map_err(Error::Hook)?;
    let next_due_in = if attempts.len() < limit {
        sqlx::query_scalar(NEXT_DUE)
            .bind(registry.names())
            .bind(registry.versions())
            .bind(&all_keys)
            .bind(&served.key)
            .bind(&served.capacity)
            .bind(&served.per_second)
            .bind(BUCKET_PREFIX)
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

/// The claim: leases up to $2 due tasks of the registered workflows ($3, $4) to worker $1, in
/// order of due time; those under a limit ($9: every key the registry knows) only if the claim
/// serves their key ($5 to $8, see [`limits`]) and as many as the key has room for: its
/// concurrency less its leased tasks, and the whole tokens in its bucket. Each key's due tasks
/// are looked at apart, so that one key's backlog never hides another's, and come before the
/// free tasks (those under no limit), which fill the rest of the batch. A waiting run whose
/// deadline passed is running again; its `resumed` event comes before its `step_started`.
const CLAIM: &str = "
WITH registered AS (
    SELECT * FROM unnest($3::text[], $4::int[]) AS w(workflow, version)
), served AS (
    SELECT * FROM unnest($5::text[], $6::int[], $7::float8[], $8::float8[])
        AS l(key, concurrency, capacity, per_second)
), rooms AS (
    SELECT l.key, GREATEST(COALESCE(LEAST(
               l.concurrency - (SELECT count(*) FROM tasks t
                                WHERE t.limit_key = l.key AND t.lease_owner IS NOT NULL),
               floor(LEAST(l.capacity, COALESCE(
                   b.tokens + EXTRACT(EPOCH FROM statement_timestamp() - b.refilled_at)::float8
                              * l.per_second,
                   l.capacity)))
           ), $2), 0)::int AS room
    FROM served l LEFT JOIN token_buckets b ON b.key = $10 || l.key
), limited AS (
    SELECT c.run_id FROM rooms r CROSS JOIN LATERAL (
        SELECT run_id FROM tasks
        WHERE limit_key = r.key AND lease_owner IS NULL AND run_at <= statement_timestamp()
          AND (workflow, workflow_version) IN (SELECT * FROM registered)
        ORDER BY run_at
        LIMIT r.room
        FOR UPDATE SKIP LOCKED
    ) c
    LIMIT $2
), free AS (
    SELECT run_id FROM tasks
    WHERE lease_owner IS NULL AND run_at <= statement_timestamp()
      AND (limit_key IS NULL OR limit_key <> ALL($9::text[]))
      AND (workflow, workflow_version) IN (SELECT * FROM registered)
    ORDER BY run_at
    LIMIT $2 - (SELECT count(*) FROM limited)
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT run_id FROM limited UNION ALL SELECT run_id FROM free
), claimed AS (
    UPDATE tasks t SET lease_owner = $1, attempt = t.attempt + 1, leased_at = now()
    FROM due WHERE t.run_id = due.run_id
    RETURNING t.run_id, t.workflow, t.workflow_version, t.generation, t.step_index,
              t.step, t.attempt, t.leased_at, t.interrupted, t.wait, t.limit_key
), expired AS (
    UPDATE runs r SET state = 'running'
    FROM claimed c WHERE r.id = c.run_id AND c.wait IS NOT NULL AND r.state = 'waiting'
    RETURNING c.run_id, c.step, c.wait->>'signal' AS signal
), started AS (
    INSERT INTO events (run_id, kind, step, attempt, worker_id, detail)
    SELECT run_id, kind::event_kind, step, attempt, $1, detail FROM (
        SELECT run_id, 0 AS ord, 'resumed' AS kind, step, NULL::int AS attempt,
               jsonb_build_object('signal', signal, 'by', 'deadline') AS detail
        FROM expired
        UNION ALL
        SELECT run_id, 1, 'step_started', step, attempt, NULL FROM claimed
    ) e ORDER BY run_id, ord
)
SELECT c.*, CASE WHEN c.step_index = 0 THEN r.input
                 ELSE COALESCE(p.output, s.output) END AS input
FROM claimed c
JOIN runs r ON r.id = c.run_id
LEFT JOIN checkpoints p ON p.run_id = c.run_id AND p.step_index = c.step_index - 1
                       AND p.superseded_at IS NULL
LEFT JOIN checkpoints s ON s.run_id = p.source_run_id AND s.step_index = p.step_index
                       AND s.generation = p.source_generation";

/// How long, by the database's clock, until a task this worker could claim falls due (zero or
/// less: due already): a free task's due time, or the next token of a served rate limit whose
/// key has due tasks. Tasks due under a limit wait for the notification that frees room.
const NEXT_DUE: &str = "
WITH registered AS (
    SELECT * FROM unnest($1::text[], $2::int[]) AS w(workflow, version)
)
SELECT LEAST(
    (SELECT extract(epoch FROM min(run_at) - clock_timestamp())::float8 FROM tasks
     WHERE lease_owner IS NULL AND run_at < 'infinity'
       AND NOT (limit_key = ANY($3::text[]) AND run_at <= clock_timestamp())
       AND (workflow, workflow_version) IN (SELECT * FROM registered)),
    (SELECT min((1 - LEAST(l.capacity, b.tokens + EXTRACT(EPOCH FROM clock_timestamp()
                                                   - b.refilled_at)::float8 * l.per_second))
                / l.per_second)
     FROM unnest($4::text[], $5::float8[], $6::float8[]) AS l(key, capacity, per_second)
     JOIN token_buckets b ON b.key = $7 || l.key
     WHERE l.per_second IS NOT NULL
       AND EXISTS (SELECT 1 FROM tasks t WHERE t.limit_key = l.key AND t.lease_owner IS NULL
                                           AND t.run_at <= clock_timestamp())))";
