//! Starting runs. One statement writes a batch of new runs, each with its first task and its
//! events. [`start_using`] writes one inside the caller's transaction; the starter commits the
//! concurrent [`crate::Engine::start`] calls of a process together (whatever piled up while the
//! last batch committed goes in the next, and a lone start commits at once), leasing first steps
//! to local workers with room (see [`crate::eager`]).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    channels::TASKS_CHANNEL,
    connection::Dedicated,
    eager::{LocalWorkers, Reservation},
    error::{Error, Result},
    hook::{Transition, TransitionKind},
    ids::RunId,
    registry::Registry,
    workflow::{run_hooks, Workflow, WorkflowDef},
};

/// The most starts one transaction takes.
const MAX_BATCH: usize = 512;

/// Options of a start.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The run's id; a new one when `None`.
    pub run_id: Option<RunId>,
    /// A second start of the same workflow with the same key returns the first run.
    pub idempotency_key: Option<String>,
}

/// The outcome of a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub run_id: RunId,
    /// False when the idempotency key named an existing run, which is returned instead.
    pub created: bool,
}

/// Starts a run of `workflow` inside the caller's transaction: the run, its first task and its
/// first event are written with whatever else the transaction writes, and idle workers are
/// notified when it commits.
pub async fn start_using<I: Serialize>(
    conn: &mut PgConnection,
    workflow: &Workflow<I>,
    input: &I,
    options: StartOptions,
) -> Result<Started> {
    let run = NewRun::new(workflow.def.clone(), serde_json::to_value(input)?, options);
    let (started, _) = insert(conn, &[&run]).await?[0];
    Ok(started)
}

/// A run to write.
pub(crate) struct NewRun {
    run_id: RunId,
    def: Arc<WorkflowDef>,
    input: Value,
    idempotency_key: Option<String>,
    /// The local worker its first step is leased to, if any.
    owner: Option<Uuid>,
}

impl NewRun {
    pub fn new(def: Arc<WorkflowDef>, input: Value, options: StartOptions) -> Self {
        Self {
            run_id: options.run_id.unwrap_or_default(),
            def,
            input,
            idempotency_key: options.idempotency_key,
            owner: None,
        }
    }
}

/// Writes `runs`: each run, its first task and its `run_started` event; for a run with an owner,
/// the task is leased to it and its `step_started` event written, and otherwise idle workers are
/// notified. Returns, in order, how each started and, for a leased one, the lease's time. A run
/// whose idempotency key names an existing run writes nothing and returns that run.
async fn insert(
    conn: &mut PgConnection,
    runs: &[&NewRun],
) -> Result<Vec<(Started, Option<DateTime<Utc>>)>> {
    let inserted: Vec<(RunId, DateTime<Utc>)> = sqlx::query_as(
        "WITH new AS (
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::jsonb[], $5::text[],
                                  $6::text[], $7::uuid[], $9::text[])
                 WITH ORDINALITY AS n(id, workflow, version, input, idempotency_key, step, owner,
                                      limit_key, n)
         ), run AS (
             INSERT INTO runs (id, workflow, workflow_version, input, idempotency_key)
             SELECT id, workflow, version, input, idempotency_key FROM new ORDER BY n
             ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
             RETURNING id
         ), started AS (
             SELECT new.* FROM new JOIN run USING (id)
         ), task AS (
             INSERT INTO tasks (run_id, workflow, workflow_version, generation, step_index, step,
                                limit_key, lease_owner, attempt, leased_at, step_started_at)
             SELECT id, workflow, version, 0, 0, step, limit_key, owner,
                    CASE WHEN owner IS NULL THEN 0 ELSE 1 END,
                    CASE WHEN owner IS NULL THEN NULL ELSE now() END,
                    CASE WHEN owner IS NULL THEN NULL ELSE now() END
             FROM started
         ), event AS (
             INSERT INTO events (run_id, kind, step, attempt, worker_id, detail)
             SELECT s.id, e.kind, e.step, e.attempt, e.worker_id, e.detail
             FROM started s, LATERAL (VALUES
                 (1, 'run_started'::event_kind, NULL, NULL, NULL::uuid,
                  jsonb_build_object('workflow', s.workflow, 'version', s.version)),
                 (2, 'step_started'::event_kind, s.step, 1, s.owner, NULL)
             ) AS e(ord, kind, step, attempt, worker_id, detail)
             WHERE e.ord = 1 OR s.owner IS NOT NULL
             ORDER BY s.n, e.ord
         )
         SELECT run.id, now() FROM run
         LEFT JOIN LATERAL (
             SELECT pg_notify($8, '') WHERE EXISTS (SELECT 1 FROM started WHERE owner IS NULL)
         ) AS notified ON true",
    )
    .bind(runs.iter().map(|r| r.run_id).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| r.def.name).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| r.def.version).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| &r.input).collect::<Vec<_>>())
    .bind(
        runs.iter()
            .map(|r| r.idempotency_key.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(runs.iter().map(|r| r.def.steps[0].name).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| r.owner).collect::<Vec<_>>())
    .bind(TASKS_CHANNEL)
    .bind(runs.iter().map(|r| r.def.limit_key(0)).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let existing: Vec<(String, String, RunId)> = if inserted.len() < runs.len() {
        let keyed: Vec<_> = runs
            .iter()
            .filter(|r| r.idempotency_key.is_some())
            .collect();
        sqlx::query_as(
            "SELECT workflow, idempotency_key, id FROM runs
             WHERE (workflow, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        )
        .bind(keyed.iter().map(|r| r.def.name).collect::<Vec<_>>())
        .bind(
            keyed
                .iter()
                .map(|r| r.idempotency_key.as_deref())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *conn)
        .await?
    } else {
        Vec::new()
    };
    let outcomes = runs.iter().map(|run| {
        if let Some((run_id, at)) = inserted.iter().find(|(id, _)| *id == run.run_id) {
            let started = Started {
                run_id: *run_id,
                created: true,
            };
            return (started, run.owner.map(|_| *at));
        }
        let first = existing.iter().find(|(workflow, key, _)| {
            workflow == run.def.name && Some(key.as_str()) == run.idempotency_key.as_deref()
        });
        let started = Started {
            run_id: first.map_or(run.run_id, |(_, _, id)| *id),
            created: false,
        };
        (started, None)
    });
    Ok(outcomes.collect())
}

/// A start waiting for its batch.
struct Request {
    run: NewRun,
    reply: oneshot::Sender<Result<Started>>,
}

/// The process's starter: [`Starter::start`] queues a start for the task that commits them.
#[derive(Default)]
pub(crate) struct Starter {
    queue: Mutex<Option<mpsc::UnboundedSender<Request>>>,
}

impl Starter {
    /// Starts `run` in the next batch; spawns the committing task on first use (and again if the
    /// runtime it ran on is gone).
    pub async fn start(
        &self,
        run: NewRun,
        pool: &PgPool,
        registry: &Arc<Registry>,
        local: &Arc<LocalWorkers>,
    ) -> Result<Started> {
        let (reply, answer) = oneshot::channel();
        let mut request = Request { run, reply };
        loop {
            let queue = {
                let mut queue = self.queue.lock().expect("starter lock");
                match &*queue {
                    Some(queue) if !queue.is_closed() => queue.clone(),
                    _ => {
                        let (sender, requests) = mpsc::unbounded_channel();
                        let committer = Committer {
                            conn: Dedicated::new(pool, "slate-starter"),
                            registry: registry.clone(),
                            local: local.clone(),
                        };
                        tokio::spawn(committer.run(requests));
                        queue.insert(sender).clone()
                    }
                }
            };
            match queue.send(request) {
                Ok(()) => break,
                Err(mpsc::error::SendError(back)) => request = back,
            }
        }
        answer.await.map_err(|_| Error::StartAbandoned)?
    }
}

/// Commits queued starts in batches.
struct Committer {
    conn: Dedicated,
    registry: Arc<Registry>,
    local: Arc<LocalWorkers>,
}

impl Committer {
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        while let Some(first) = requests.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit(batch).await;
        }
    }

    /// Commits `batch`, or, if it fails, each start alone, so that one bad start fails alone.
    async fn commit(&mut self, mut batch: Vec<Request>) {
        let mut leases: Vec<Option<(Arc<WorkflowDef>, Reservation)>> = Vec::new();
        for request in &mut batch {
            let def = &request.run.def;
            // A limited first step waits for a claim, which counts its key's attempts.
            let lease = self
                .registry
                .get(def.name, def.version)
                .filter(|registered| registered.limit_key(0).is_none())
                .and_then(|registered| {
                    let reservation = self.local.reserve(registered.steps[0].name)?;
                    Some((registered, reservation))
                });
            request.run.owner = lease.as_ref().map(|(_, r)| r.worker_id());
            leases.push(lease);
        }
        let runs: Vec<&NewRun> = batch.iter().map(|r| &r.run).collect();
        match self.write(&runs, &leases).await {
            Ok(outcomes) => {
                for ((request, lease), (started, leased_at)) in
                    batch.into_iter().zip(leases).zip(outcomes)
                {
                    if let (Some((workflow, reservation)), Some(leased_at)) = (lease, leased_at) {
                        let attempt = reservation.attempt(
                            workflow,
                            started.run_id,
                            request.run.input,
                            leased_at,
                        );
                        reservation.hand(attempt);
                    }
                    let _ = request.reply.send(Ok(started));
                }
            }
            Err(error) if batch.len() > 1 => {
                tracing::warn!(%error, size = batch.len(), "start batch failed; starting one by one");
                drop(leases);
                for request in batch {
                    Box::pin(self.commit(vec![request])).await;
                }
            }
            Err(error) => {
                let request = batch.pop().expect("one start");
                let _ = request.reply.send(Err(error));
            }
        }
    }

    /// Writes the runs, in one statement that commits by itself unless a workflow's hook must
    /// see a first step start in the same transaction.
    async fn write(
        &mut self,
        runs: &[&NewRun],
        leases: &[Option<(Arc<WorkflowDef>, Reservation)>],
    ) -> Result<Vec<(Started, Option<DateTime<Utc>>)>> {
        let written = async {
            let conn = self.conn.get().await?;
            let hooked = leases.iter().flatten().any(|(w, _)| w.hook.is_some());
            if !hooked {
                return insert(conn, runs).await;
            }
            let mut tx = conn.begin().await?;
            let outcomes = insert(&mut tx, runs).await?;
            let transitions: Vec<_> = leases
                .iter()
                .zip(&outcomes)
                .filter_map(|(lease, (started, leased_at))| {
                    let (workflow, _) = lease.as_ref().filter(|_| leased_at.is_some())?;
                    Some((&**workflow, first_step_started(workflow, started.run_id)))
                })
                .collect();
            run_hooks(&mut tx, &transitions)
                .await
                .map_err(Error::Hook)?;
            tx.commit().await?;
            Ok(outcomes)
        }
        .await;
        if matches!(written, Err(Error::Database(_))) {
            self.conn.reset();
        }
        written
    }
}

/// The transition that tells `workflow`'s hook the first step of `run_id` began.
fn first_step_started(workflow: &WorkflowDef, run_id: RunId) -> Transition<'static> {
    Transition {
        run_id,
        kind: TransitionKind::StepStarted {
            step: workflow.steps[0].name,
            step_index: 0,
            attempt: 1,
        },
    }
}
