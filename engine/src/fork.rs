//! Forks: a new run of the same workflow version, started from a step of another run (its
//! parent). The steps before the fork point are not run again: the fork's checkpoints of them
//! share the parent's by reference (rows that name the checkpoint they share), unless the caller
//! overrides some of their outputs. The fork inherits the parent's memos and children's results
//! of the fork point and later steps, minus those it is told to drop, and the signal its first
//! step resumed with.
//! Runs form trees through their parents; replay stays the operators' fork in place.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    artifact::{self, Journaled},
    channels::TASKS_CHANNEL,
    error::{Error, Result},
    ids::{RunId, RunState},
    registry::Registry,
    start::Started,
};

/// How to fork a run.
#[derive(Debug, Clone, Default)]
pub struct ForkOptions {
    /// The fork's id; a new one when `None`.
    pub run_id: Option<RunId>,
    /// A second fork of the same workflow with the same key returns the first.
    pub idempotency_key: Option<String>,
    /// Outputs to use instead of the parent's, by the name of a step before the fork point
    /// ([`ForkOptions::override_output`]).
    overrides: BTreeMap<String, Journaled>,
    /// Memos of the fork point and later steps not to inherit, as (step, key): those parts are
    /// made again.
    pub drop_memos: Vec<(String, String)>,
    /// Children of the fork point and later steps whose results not to inherit, as (step, key):
    /// those children run again.
    pub drop_children: Vec<(String, String)>,
    /// Whether the fork inherits nothing of its fork point and later steps: no memo, no
    /// child's result and no signal.
    pub afresh: bool,
}

impl ForkOptions {
    /// Uses `output` as the output of `step`, a step before the fork point.
    pub fn override_output<T: Serialize>(mut self, step: &str, output: &T) -> Result<Self> {
        self.overrides
            .insert(step.to_owned(), artifact::journal(output)?);
        Ok(self)
    }

    /// Leaves out memo `key` of `step`, so that the fork makes that part again.
    pub fn drop_memo(mut self, step: &str, key: &str) -> Self {
        self.drop_memos.push((step.to_owned(), key.to_owned()));
        self
    }

    /// Leaves out the result of `step`'s child `key`, so that the fork runs that child again.
    pub fn drop_child(mut self, step: &str, key: &str) -> Self {
        self.drop_children.push((step.to_owned(), key.to_owned()));
        self
    }

    /// Leaves out every memo and child's result of the fork point and later steps, and the
    /// signal the fork point resumed with: the fork makes every part of them again (what it
    /// should keep, its input or an overridden output says), and its first step reads no
    /// signal ([`StepContext::signal`](crate::StepContext::signal)).
    pub fn afresh(mut self) -> Self {
        self.afresh = true;
        self
    }
}

#[derive(sqlx::FromRow)]
struct Parent {
    workflow: String,
    workflow_version: i32,
    state: RunState,
}

/// A checkpoint of the parent that the fork shares, resolved to the original it names.
#[derive(sqlx::FromRow)]
struct Shared {
    step_index: i32,
    source_run_id: RunId,
    source_generation: i32,
}

pub(crate) async fn fork(
    pool: &PgPool,
    registry: &Registry,
    parent_id: RunId,
    from_step: &str,
    options: ForkOptions,
) -> Result<Started> {
    let mut tx = pool.begin().await?;
    let started = fork_using(&mut tx, registry, parent_id, from_step, options).await?;
    tx.commit().await?;
    Ok(started)
}

pub(crate) async fn fork_using(
    tx: &mut PgConnection,
    registry: &Registry,
    parent_id: RunId,
    from_step: &str,
    options: ForkOptions,
) -> Result<Started> {
    // FOR SHARE: a replay of the parent waits until the fork has taken what it shares.
    let parent: Parent = sqlx::query_as(
        "SELECT workflow, workflow_version, state FROM runs WHERE id = $1 FOR SHARE",
    )
    .bind(parent_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::RunNotFound(parent_id))?;
    let def = registry
        .get(&parent.workflow, parent.workflow_version)
        .ok_or_else(|| Error::UnknownWorkflow {
            name: parent.workflow.clone(),
            version: parent.workflow_version,
        })?;
    let unknown = |step: &str| Error::UnknownStep {
        workflow: parent.workflow.clone(),
        step: step.to_owned(),
    };
    let from = def
        .step_index(from_step)
        .ok_or_else(|| unknown(from_step))?;
    let mut overrides = BTreeMap::new();
    for (step, output) in &options.overrides {
        let index = def.step_index(step).ok_or_else(|| unknown(step))?;
        if index >= from {
            return Err(Error::InvalidFork(format!(
                "step {step:?} is not before the fork point {from_step:?}: only earlier steps' outputs can be overridden"
            )));
        }
        overrides.insert(index, output);
    }
    let mut drops = [Drops::default(), Drops::default()];
    let lists = [&options.drop_memos, &options.drop_children];
    for (drops, list) in drops.iter_mut().zip(lists) {
        for (step, key) in list {
            let index = def.step_index(step).ok_or_else(|| unknown(step))?;
            if index < from {
                return Err(Error::InvalidFork(format!(
                    "step {step:?} is before the fork point {from_step:?}: nothing of it is inherited"
                )));
            }
            drops.step_index.push(index as i32);
            drops.key.push(key.clone());
        }
    }
    let shared: Vec<Shared> = sqlx::query_as(
        "SELECT step_index, COALESCE(source_run_id, run_id) AS source_run_id,
                COALESCE(source_generation, generation) AS source_generation
         FROM checkpoints
         WHERE run_id = $1 AND step_index < $2 AND superseded_at IS NULL",
    )
    .bind(parent_id)
    .bind(from as i32)
    .fetch_all(&mut *tx)
    .await?;
    let mut rows = Rows::default();
    for (index, step) in def.steps.iter().enumerate().take(from) {
        if let Some(output) = overrides.get(&index) {
            rows.push(index, step.name, Some(output), None);
        } else if let Some(s) = shared.iter().find(|s| s.step_index == index as i32) {
            rows.push(index, step.name, None, Some(s));
        } else {
            return Err(Error::NotCheckpointed {
                run: parent_id,
                state: parent.state,
                step: step.name.to_owned(),
            });
        }
    }
    let fork_id = options.run_id.unwrap_or_default();
    let created: Option<RunId> = sqlx::query_scalar(
        "INSERT INTO runs (id, workflow, workflow_version, input, idempotency_key,
                           parent_run_id, fork_step_index)
         SELECT $1, workflow, workflow_version, input, $2, id, $3 FROM runs WHERE id = $4
         ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING id",
    )
    .bind(fork_id)
    .bind(&options.idempotency_key)
    .bind(from as i32)
    .bind(parent_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(fork_id) = created else {
        let existing =
            sqlx::query_scalar("SELECT id FROM runs WHERE workflow = $1 AND idempotency_key = $2")
                .bind(&parent.workflow)
                .bind(&options.idempotency_key)
                .fetch_one(&mut *tx)
                .await?;
        return Ok(Started {
            run_id: existing,
            created: false,
        });
    };
    let point = ForkPoint {
        parent_id,
        fork_id,
        index: from,
        step: def.steps[from].name,
        limit_key: def.limit_key(from),
    };
    write(&mut *tx, &point, &rows, &drops, options.afresh).await?;
    Ok(Started {
        run_id: fork_id,
        created: true,
    })
}

/// The fork's checkpoints of the steps before its fork point, as the columns of an `unnest`.
#[derive(Default)]
struct Rows {
    step_index: Vec<i32>,
    step: Vec<&'static str>,
    output: Vec<Option<Value>>,
    artifacts: Vec<Value>,
    source_run_id: Vec<Option<RunId>>,
    source_generation: Vec<Option<i32>>,
}

impl Rows {
    fn push(
        &mut self,
        index: usize,
        step: &'static str,
        output: Option<&Journaled>,
        shared: Option<&Shared>,
    ) {
        self.step_index.push(index as i32);
        self.step.push(step);
        self.output.push(output.map(|o| o.value.clone()));
        self.artifacts
            .push(output.map_or_else(|| Value::from(Vec::<Value>::new()), |o| o.artifacts.clone()));
        self.source_run_id.push(shared.map(|s| s.source_run_id));
        self.source_generation
            .push(shared.map(|s| s.source_generation));
    }
}

/// Where a fork starts: the parent and the fork, and the step the fork is due at.
struct ForkPoint<'a> {
    parent_id: RunId,
    fork_id: RunId,
    index: usize,
    step: &'static str,
    limit_key: Option<&'a str>,
}

/// The memos (or children) not to inherit, as the columns of an `unnest`.
#[derive(Default)]
struct Drops {
    step_index: Vec<i32>,
    key: Vec<String>,
}

/// Writes the fork's checkpoints before its fork point, its inherited memos and signal, its
/// task and the events of both runs, and notifies idle workers.
async fn write(
    conn: &mut PgConnection,
    point: &ForkPoint<'_>,
    rows: &Rows,
    [memos, children]: &[Drops; 2],
    afresh: bool,
) -> Result<()> {
    sqlx::query(
        "WITH checkpoint AS (
             INSERT INTO checkpoints (run_id, step_index, generation, step, attempt, output,
                                      artifacts, cost_usd, worker_id, started_at, completed_at,
                                      source_run_id, source_generation)
             SELECT $1, step_index, 0, step, 0, output, artifacts, 0, $11, now(), now(),
                    source_run_id, source_generation
             FROM unnest($4::int[], $5::text[], $6::jsonb[], $7::uuid[], $8::int[], $17::jsonb[])
                 AS r(step_index, step, output, source_run_id, source_generation, artifacts)
         ), memo AS (
             INSERT INTO memos (run_id, step_index, key, generation, value, attempt, artifacts)
             SELECT DISTINCT ON (step_index, key) $1, step_index, key, 0, value, attempt,
                    artifacts
             FROM memos
             WHERE run_id = $2 AND step_index >= $3 AND superseded_at IS NULL AND NOT $18
               AND (step_index, key) NOT IN (SELECT * FROM unnest($9::int[], $10::text[]))
             ORDER BY step_index, key, generation DESC
         ), child AS (
             INSERT INTO children (run_id, generation, step_index, key, workflow,
                                   workflow_version, function, input, limit_key, attempt, output,
                                   artifacts, finished_at)
             SELECT $1, 0, step_index, key, workflow, workflow_version, function, input,
                    limit_key, attempt, output, artifacts, finished_at
             FROM children c
             WHERE run_id = $2 AND step_index >= $3 AND output IS NOT NULL AND NOT $18
               AND generation = (SELECT max(generation) FROM children x
                                 WHERE x.run_id = $2 AND x.step_index = c.step_index)
               AND (step_index, key) NOT IN (SELECT * FROM unnest($15::int[], $16::text[]))
         ), signal AS (
             INSERT INTO signals (run_id, name, payload, sent_at, generation, step_index,
                                  consumed_at)
             SELECT DISTINCT ON (name) $1, name, payload, sent_at, 0, step_index, now()
             FROM signals
             WHERE run_id = $2 AND step_index = $3 AND consumed_at IS NOT NULL AND NOT $18
             ORDER BY name, generation DESC, id DESC
         ), task AS (
             INSERT INTO tasks (run_id, workflow, workflow_version, generation, step_index, step,
                                limit_key)
             SELECT id, workflow, workflow_version, 0, $3, $12, $14 FROM runs WHERE id = $1
         ), event AS (
             INSERT INTO events (run_id, kind, step, detail)
             SELECT $1, 'run_started'::event_kind, NULL,
                    jsonb_build_object('workflow', workflow, 'version', workflow_version,
                                       'parent', $2::uuid, 'from_step', $12::text)
             FROM runs WHERE id = $1
             UNION ALL
             SELECT $2, 'forked'::event_kind, $12, jsonb_build_object('fork', $1::uuid)
         )
         SELECT pg_notify($13, '')",
    )
    .bind(point.fork_id)
    .bind(point.parent_id)
    .bind(point.index as i32)
    .bind(&rows.step_index)
    .bind(&rows.step)
    .bind(&rows.output)
    .bind(&rows.source_run_id)
    .bind(&rows.source_generation)
    .bind(&memos.step_index)
    .bind(&memos.key)
    .bind(Uuid::nil())
    .bind(point.step)
    .bind(TASKS_CHANNEL)
    .bind(point.limit_key)
    .bind(&children.step_index)
    .bind(&children.key)
    .bind(&rows.artifacts)
    .bind(afresh)
    .execute(conn)
    .await?;
    Ok(())
}
