//! What every engine test starts from: its own database with the probe's tables, an engine with
//! the probe workflow, in-process workers on demand, and the queries the assertions need.

use std::time::Duration;

use slate_engine::{
    Engine, EngineBuilder, Event, EventKind, RunId, RunSummary, SchedulerConfig, StartOptions,
    WorkerConfig, Workflow,
};
use slate_integration_tests::{
    database::TestDatabase,
    probe::{self, Probe},
    process::WorkerProcess,
    wait,
};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The `test-worker` binary.
pub const WORKER_BINARY: &str = env!("CARGO_BIN_EXE_test-worker");

/// How long a test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Harness {
    pub db: TestDatabase,
    pub engine: Engine,
    pub probe: Workflow<Probe>,
}

/// Workers and a scheduler running in this process until dropped or stopped.
pub struct InProcess {
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl InProcess {
    /// Shuts the workers down gracefully and waits for them.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while let Some(done) = self.tasks.join_next().await {
            done.expect("worker task");
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A worker configuration for tests: short leases and heartbeats.
pub fn test_worker_config() -> WorkerConfig {
    WorkerConfig {
        lease_ttl: Duration::from_secs(5),
        heartbeat_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        cancel_grace: Duration::from_secs(5),
        ..WorkerConfig::default()
    }
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_step_timeout(Duration::from_secs(30)).await
    }

    pub async fn with_step_timeout(timeout: Duration) -> Self {
        Self::build(timeout, |_, engine| engine).await
    }

    /// A harness whose engine also registers what `register` adds (given the test's pool).
    pub async fn with(register: impl FnOnce(&PgPool, EngineBuilder) -> EngineBuilder) -> Self {
        Self::build(Duration::from_secs(30), register).await
    }

    async fn build(
        timeout: Duration,
        register: impl FnOnce(&PgPool, EngineBuilder) -> EngineBuilder,
    ) -> Self {
        let db = TestDatabase::new().await;
        probe::create_tables(&db.pool).await.expect("probe tables");
        let probe = probe::workflow(db.pool.clone(), timeout);
        let builder = Engine::builder(db.pool.clone()).register(&probe);
        let engine = register(&db.pool, builder).build();
        Self { db, engine, probe }
    }

    /// `count` workers with `config`, and a scheduler, in this process.
    pub fn workers(&self, count: usize, config: WorkerConfig) -> InProcess {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for _ in 0..count {
            let worker = self.engine.worker(config.clone());
            let shutdown = shutdown.clone();
            tasks.spawn(async move { worker.run(shutdown).await.expect("worker") });
        }
        let scheduler = self.engine.scheduler(SchedulerConfig {
            tick: Duration::from_millis(100),
            ..SchedulerConfig::default()
        });
        tasks.spawn(scheduler.run(shutdown.clone()));
        InProcess { shutdown, tasks }
    }

    /// One worker in this process, and no scheduler: nobody rescues its tasks.
    pub fn worker_alone(&self, config: WorkerConfig) -> InProcess {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let worker = self.engine.worker(config);
        let stop = shutdown.clone();
        tasks.spawn(async move { worker.run(stop).await.expect("worker") });
        InProcess { shutdown, tasks }
    }

    /// A worker process (with a scheduler) on this test's database.
    pub fn spawn_worker(&self, args: &[&str]) -> WorkerProcess {
        WorkerProcess::spawn(WORKER_BINARY, &self.db.url, args)
    }

    pub async fn start(&self, probe: Probe) -> RunId {
        self.engine
            .start(&self.probe, &probe, StartOptions::default())
            .await
            .expect("start a run")
            .run_id
    }

    pub async fn wait_end(&self, run: RunId) -> RunSummary {
        self.engine
            .wait_for_end(run, PATIENCE)
            .await
            .expect("wait for the run")
            .unwrap_or_else(|| panic!("run {run} did not end within {PATIENCE:?}"))
    }

    /// How many times `step` of `run` executed (memoized parts not counted).
    pub async fn executions(&self, run: RunId, step: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM probe_executions WHERE run_id = $1 AND step = $2 AND part IS NULL",
        )
        .bind(run)
        .bind(step)
        .fetch_one(&self.db.pool)
        .await
        .expect("count executions")
    }

    /// Waits until `step` of `run` has executed `times` times.
    pub async fn wait_executions(&self, run: RunId, step: &str, times: i64) {
        let what = format!("{step} of {run} to execute {times} times");
        wait::until(&what, PATIENCE, || async {
            (self.executions(run, step).await >= times).then_some(())
        })
        .await;
    }

    /// Waits until `count` workers are registered as active.
    pub async fn wait_active_workers(&self, count: i64) {
        wait::until("workers to register", PATIENCE, || async {
            let active: i64 =
                sqlx::query_scalar("SELECT count(*) FROM workers WHERE state = 'active'")
                    .fetch_one(&self.db.pool)
                    .await
                    .expect("count workers");
            (active >= count).then_some(())
        })
        .await;
    }

    /// The steps of the live checkpoints of `run`, in order, with the attempt that made each.
    pub async fn live_checkpoints(&self, run: RunId) -> Vec<(String, i32)> {
        sqlx::query_as(
            "SELECT step, attempt FROM checkpoints
             WHERE run_id = $1 AND superseded_at IS NULL ORDER BY step_index",
        )
        .bind(run)
        .fetch_all(&self.db.pool)
        .await
        .expect("checkpoints")
    }

    pub async fn events(&self, run: RunId, kind: EventKind) -> Vec<Event> {
        let events = self.engine.events(run, None).await.expect("events");
        events.into_iter().filter(|e| e.kind == kind).collect()
    }

    /// Waits until `run` has an event of `kind` (of `step` and `attempt` when given).
    pub async fn wait_event(
        &self,
        run: RunId,
        kind: EventKind,
        step: Option<&str>,
        attempt: Option<i32>,
    ) -> Event {
        let what = format!("a {kind:?} event of {run} ({step:?}, attempt {attempt:?})");
        wait::until(&what, PATIENCE, || async {
            let events = self.events(run, kind).await;
            events.into_iter().find(|e| {
                step.is_none_or(|s| e.step.as_deref() == Some(s))
                    && attempt.is_none_or(|a| e.attempt == Some(a))
            })
        })
        .await
    }

    /// Terminates the liveness connection of every worker on this database, as a network fault
    /// would; returns how many there were.
    pub async fn cut_liveness(&self) -> i64 {
        sqlx::query_scalar(
            "WITH liveness AS MATERIALIZED (
                 SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'slate-worker-liveness'
             )
             SELECT count(*) FROM liveness WHERE pg_terminate_backend(pid)",
        )
        .fetch_one(&self.db.pool)
        .await
        .expect("terminate the liveness connections")
    }

    /// How many sessions on this database wait for a lock.
    pub async fn lock_waiters(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&self.db.pool)
        .await
        .expect("count lock waiters")
    }

    /// Waits until a session on this database waits for a lock.
    pub async fn wait_lock_waiter(&self) {
        wait::until("a session to wait for a lock", PATIENCE, || async {
            (self.lock_waiters().await > 0).then_some(())
        })
        .await;
    }

    /// Waits until the one active worker has heartbeaten `beats` more times.
    pub async fn wait_heartbeats(&self, beats: usize) {
        let beat_at = || async {
            sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
                "SELECT heartbeat_at FROM workers WHERE state = 'active'",
            )
            .fetch_one(&self.db.pool)
            .await
            .expect("the active worker's heartbeat")
        };
        let mut last = beat_at().await;
        for _ in 0..beats {
            last = wait::until("a heartbeat", PATIENCE, || async {
                let now = beat_at().await;
                (now > last).then_some(now)
            })
            .await;
        }
    }

    /// The worker `run`'s task is leased to; none while it is due for any worker.
    pub async fn lease_owner(&self, run: RunId) -> Option<uuid::Uuid> {
        sqlx::query_scalar("SELECT lease_owner FROM tasks WHERE run_id = $1")
            .bind(run)
            .fetch_one(&self.db.pool)
            .await
            .expect("the run's task")
    }

    pub async fn tasks_left(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM tasks")
            .fetch_one(&self.db.pool)
            .await
            .expect("count tasks")
    }
}

/// The probe's five steps, each checkpointed once, by the given attempts.
pub fn checkpoints_by(attempts: [i32; 5]) -> Vec<(String, i32)> {
    probe::STEPS
        .iter()
        .zip(attempts)
        .map(|(step, attempt)| (step.to_string(), attempt))
        .collect()
}

/// The most spans of `workflow` that overlap at one moment.
pub async fn most_at_once(h: &Harness, workflow: &str) -> usize {
    let spans: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT started_at, ended_at FROM probe_spans WHERE workflow = $1")
            .bind(workflow)
            .fetch_all(&h.db.pool)
            .await
            .expect("spans");
    let mut edges: Vec<(chrono::DateTime<chrono::Utc>, i32)> = spans
        .iter()
        .flat_map(|(start, end)| [(*start, 1), (*end, -1)])
        .collect();
    // At one instant, an end comes before a start.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}
