//! The engine handle: the database pool and the registered workflows. Everything an application
//! does with runs goes through it, and workers and schedulers are made from it.

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{postgres::PgListener, PgConnection, PgPool};

use crate::{
    artifact,
    channels::RUNS_CHANNEL,
    eager::LocalWorkers,
    error::{Error, Result},
    event::{self, Event},
    fork::{self, ForkOptions},
    ids::{RunId, RunState},
    metrics::Metrics,
    pause::PausePoints,
    registry::Registry,
    run::{self, Checkpoint, RunSummary},
    scheduler::{Scheduler, SchedulerConfig},
    signal::{self, Signalled},
    start::{NewRun, StartOptions, Started, Starter},
    stats::{self, Stats},
    workflow::Workflow,
};

/// The handle to the engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) pool: PgPool,
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Metrics,
    /// The workers running in this process, for eager starts.
    pub(crate) local: Arc<LocalWorkers>,
    pub(crate) starter: Arc<Starter>,
    pub(crate) pauses: PausePoints,
}

/// Registers the workflows an [`Engine`] knows.
pub struct EngineBuilder {
    pool: PgPool,
    registry: Registry,
}

impl EngineBuilder {
    /// Lets this engine's workers run `workflow`, and its replays and cancels call its hook.
    pub fn register<I>(mut self, workflow: &Workflow<I>) -> Self {
        let def = &workflow.def;
        assert!(
            self.registry.get(def.name, def.version).is_none(),
            "workflow {def:?} is registered twice"
        );
        self.registry.add(def.clone());
        self
    }

    pub fn build(self) -> Engine {
        Engine {
            pool: self.pool,
            registry: Arc::new(self.registry),
            metrics: Metrics::default(),
            local: Arc::default(),
            starter: Arc::default(),
            pauses: Default::default(),
        }
    }
}

impl Engine {
    pub fn builder(pool: PgPool) -> EngineBuilder {
        EngineBuilder {
            pool,
            registry: Registry::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pause points of this engine, its workers and its steps, for tests of interleavings.
    #[cfg(feature = "pause-points")]
    pub fn pause_points(&self) -> &PausePoints {
        &self.pauses
    }

    /// A scheduler; start it with [`Scheduler::run`].
    pub fn scheduler(&self, config: SchedulerConfig) -> Scheduler {
        Scheduler::new(&self.pool, config)
    }

    /// Starts a run and returns once it is committed (see [`crate::start_using`] to start one in
    /// your own transaction). Concurrent starts of this engine commit together. When a worker of
    /// this engine runs in this process and has room, the run's first step is leased to it in the
    /// same transaction and starts at once, without a claim.
    pub async fn start<I: Serialize>(
        &self,
        workflow: &Workflow<I>,
        input: &I,
        options: StartOptions,
    ) -> Result<Started> {
        let run = NewRun::new(workflow.def.clone(), serde_json::to_value(input)?, options);
        self.starter
            .start(run, &self.pool, &self.registry, &self.local)
            .await
    }

    /// Re-runs a completed, failed or cancelled run from the step named `from_step`; the later
    /// checkpoints are superseded and kept in its history.
    pub async fn replay(&self, run_id: RunId, from_step: &str) -> Result<()> {
        run::replay(
            &self.pool,
            |n, v| self.registry.get(n, v),
            run_id,
            from_step,
        )
        .await
    }

    /// Starts a new run of `run_id`'s workflow version from the step named `from_step`: the
    /// steps before it are not run again (their checkpoints are the parent's, shared, or the
    /// outputs `options` overrides), and the fork inherits the parent's memos of `from_step` and
    /// later (minus those `options` drops). Refused when a step before `from_step` has no
    /// checkpoint (of a running parent: it has not got there), and when the parent's workflow
    /// version is not registered with this engine.
    pub async fn fork(
        &self,
        run_id: RunId,
        from_step: &str,
        options: ForkOptions,
    ) -> Result<Started> {
        fork::fork(&self.pool, &self.registry, run_id, from_step, options).await
    }

    /// [`Engine::fork`] inside the caller's transaction, so that the fork and the caller's own
    /// writes commit together; idle workers are notified at that commit.
    pub async fn fork_using(
        &self,
        conn: &mut PgConnection,
        run_id: RunId,
        from_step: &str,
        options: ForkOptions,
    ) -> Result<Started> {
        fork::fork_using(conn, &self.registry, run_id, from_step, options).await
    }

    /// Which of `keys` (of artifacts, see [`StepContext::artifact`](crate::StepContext::artifact))
    /// a checkpoint, memo or child result names, in any run: live or superseded, in a fork or
    /// not. A stored file under [`ARTIFACTS_PREFIX`](crate::ARTIFACTS_PREFIX) that none names,
    /// and that is older than [`Engine::artifact_grace`], belongs to no value that may still be
    /// journaled, and may be removed.
    pub async fn named_artifacts(&self, keys: &[String]) -> Result<HashSet<String>> {
        artifact::named(&self.pool, keys).await
    }

    /// How long an artifact may go unnamed while the attempt that made it may still journal it:
    /// the longest timeout of the registered steps, plus `lease_ttl` (within which a worker that
    /// went quiet may still hand off), plus a minute for the hand-off itself.
    pub fn artifact_grace(&self, lease_ttl: Duration) -> Duration {
        self.registry.longest_timeout() + lease_ttl + Duration::from_secs(60)
    }

    /// The tree of forks `run_id` belongs to, read from any of its runs: the root first, then
    /// every descendant after its parent (see [`RunSummary::parent_run_id`]).
    pub async fn tree(&self, run_id: RunId) -> Result<Vec<RunSummary>> {
        run::tree(&self.pool, run_id).await
    }

    /// Sends signal `name` with `payload` to a running or waiting run, and returns once it is
    /// committed (see [`Engine::signal_using`] to send it in your own transaction). A run waiting
    /// for it resumes at once, on any worker; otherwise it is kept for the run's next wait for
    /// it. A second signal with the same idempotency key is not delivered again. Refused when the
    /// run's workflow does not declare `name`, when the run has finished, and when the payload
    /// is larger than [`crate::MAX_SIGNAL_BYTES`].
    pub async fn signal<T: Serialize>(
        &self,
        run_id: RunId,
        name: &str,
        payload: &T,
        idempotency_key: Option<&str>,
    ) -> Result<Signalled> {
        let mut tx = self.pool.begin().await?;
        let sent = self
            .signal_using(&mut tx, run_id, name, payload, idempotency_key)
            .await?;
        tx.commit().await?;
        Ok(sent)
    }

    /// [`Engine::signal`] inside the caller's transaction, so that the signal and the caller's
    /// own writes commit together. It locks the run's task until that commit: keep the
    /// transaction short.
    pub async fn signal_using<T: Serialize>(
        &self,
        conn: &mut PgConnection,
        run_id: RunId,
        name: &str,
        payload: &T,
        idempotency_key: Option<&str>,
    ) -> Result<Signalled> {
        let payload = serde_json::to_value(payload)?;
        signal::send(
            conn,
            &self.registry,
            run_id,
            name,
            &payload,
            idempotency_key,
        )
        .await
    }

    /// Cancels a running run: no further step runs, and the running attempt is told to stop.
    pub async fn cancel(&self, run_id: RunId) -> Result<()> {
        run::cancel(
            &self.pool,
            |n, v| self.registry.get(n, v),
            run_id,
            &self.pauses,
        )
        .await
    }

    pub async fn run(&self, run_id: RunId) -> Result<Option<RunSummary>> {
        run::find(&self.pool, run_id).await
    }

    /// The newest runs, of one state or all.
    pub async fn runs(&self, state: Option<RunState>, limit: i64) -> Result<Vec<RunSummary>> {
        run::list(&self.pool, state, limit).await
    }

    /// Every checkpoint of a run, live and superseded.
    /// What this process's workers have measured.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Takes a token from `key`'s bucket (see [`crate::take_token_using`] to take it in a
    /// transaction of the caller's).
    pub async fn take_token(&self, key: &str, bucket: crate::Bucket) -> Result<crate::Taken> {
        let mut conn = self.pool.acquire().await?;
        crate::take_token_using(&mut conn, key, bucket).await
    }

    /// The engine's figures across the whole database: runs by state, the queue, live workers.
    pub async fn stats(&self) -> Result<Stats> {
        stats::stats(&self.pool).await
    }

    /// The median length in seconds of each step of `workflow`, over its last `last` checkpoints
    /// committed within `within`; a step with none is left out.
    pub async fn step_medians(
        &self,
        workflow: &str,
        within: Duration,
        last: i64,
    ) -> Result<Vec<(String, f64)>> {
        stats::step_medians(&self.pool, workflow, within, last).await
    }

    /// When `run_id`'s current step began: its first attempt's lease, kept across its retries and
    /// its waits for children; `None` before it has begun, and once the run has ended.
    pub async fn step_started_at(&self, run_id: RunId) -> Result<Option<DateTime<Utc>>> {
        stats::step_started_at(&self.pool, run_id).await
    }

    pub async fn checkpoints(&self, run_id: RunId) -> Result<Vec<Checkpoint>> {
        run::checkpoints(&self.pool, run_id).await
    }

    /// A run's history, after the event `after` when given.
    pub async fn events(&self, run_id: RunId, after: Option<i64>) -> Result<Vec<Event>> {
        event::list(&self.pool, run_id, after).await
    }

    /// Waits until the run is completed, failed or cancelled, for at most `timeout`; `None` when
    /// the time ran out first.
    pub async fn wait_for_end(
        &self,
        run_id: RunId,
        timeout: Duration,
    ) -> Result<Option<RunSummary>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(RUNS_CHANNEL).await?;
        let wanted = run_id.to_string();
        loop {
            let run = self.run(run_id).await?.ok_or(Error::RunNotFound(run_id))?;
            if run.state.is_terminal() {
                return Ok(Some(run));
            }
            loop {
                match tokio::time::timeout_at(deadline, listener.recv()).await {
                    Err(_) => return Ok(None),
                    Ok(notification) => {
                        if notification?.payload() == wanted {
                            break;
                        }
                    }
                }
            }
        }
    }
}
