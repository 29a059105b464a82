//! Workers: claim due tasks in batches, run each step under its timeout (and its run's
//! cancellation), and hand each result to the completer, which commits it fenced on the lease.
//! A worker keeps the next step of a run it just advanced and starts it at once (sticky
//! continuation), so a run usually costs one claim, or none when it was started in the worker's
//! own process (see [`crate::eager`]). On shutdown it stops claiming, lets running attempts
//! finish within a grace period, and gives the tasks of the rest back.

mod attempt;
mod claim;
mod heartbeat;
mod stopper;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio::{
    sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    connection::Dedicated,
    eager::{Eager, LocalWorker},
    engine::Engine,
    error::Result,
    handoff::{Completer, Finished},
    lease::Lease,
    liveness,
    task::Attempt,
};

use self::stopper::Stopper;

/// The `application_name` of a worker's heartbeat connection.
const HEARTBEAT: &str = "slate-worker-heartbeat";
/// The `application_name` of the connections of a worker's steps.
const STEPS: &str = "slate-worker-steps";

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Shown in the worker registry; host and process id by default.
    pub name: String,
    /// The most attempts running at once.
    pub concurrency: usize,
    /// The most tasks one claim takes.
    pub claim_batch: usize,
    /// How long the worker's leases outlive its last heartbeat.
    pub lease_ttl: Duration,
    pub heartbeat_interval: Duration,
    /// How often an idle worker looks for due tasks without having been notified.
    pub poll_interval: Duration,
    /// How long running attempts may take to finish after shutdown is asked.
    pub shutdown_grace: Duration,
    /// How long a cancelled attempt may take to stop by itself before it is dropped.
    pub cancel_grace: Duration,
    /// The connections of the worker's own pool for its steps' reads and memos.
    pub step_connections: u32,
    /// The steps and child functions this worker takes, by name (for example the steps that
    /// need a GPU); every one when `None`. It claims no others, keeps no other next step for
    /// itself, and takes no other first step of a run started in its process.
    pub steps: Option<Vec<String>>,
}

impl WorkerConfig {
    /// Whether this worker takes the step or child function `name`.
    pub fn takes(&self, name: &str) -> bool {
        self.steps
            .as_ref()
            .is_none_or(|steps| steps.iter().any(|s| s == name))
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        Self {
            name: format!("{host}:{}", std::process::id()),
            concurrency: 16,
            claim_batch: 64,
            lease_ttl: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(3),
            poll_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(5),
            step_connections: 4,
            steps: None,
        }
    }
}

/// A worker process's loop (several may run in one process, each with its own id).
pub struct Worker {
    engine: Engine,
    config: WorkerConfig,
    id: Uuid,
}

/// What the worker's tasks share.
pub(crate) struct Shared {
    engine: Engine,
    config: WorkerConfig,
    pub id: Uuid,
    /// One permit per attempt that may run at once.
    pub slots: Arc<Semaphore>,
    /// The pool of the worker's steps (their checkpoint reads and memos): its own, so that no
    /// other load of the process can hold up a step's memo past its lease.
    pub steps: PgPool,
    /// Where this process's starts hand the runs they leased to this worker.
    pub inbox: mpsc::UnboundedSender<Eager>,
    /// The attempts running now, by lease (one run may have two here: a stopped attempt still in
    /// its grace, and the one that replaced it), with what stops each.
    running: Mutex<HashMap<Lease, Running>>,
    /// Woken by notifications and by the worker's own retries.
    wake: Notify,
    /// Cleared on shutdown, so that finished steps queue their successors for other workers.
    keep_next: AtomicBool,
    /// Whether the liveness lock is held; the worker claims only while it is.
    locked: AtomicBool,
}

struct Running {
    stopper: Stopper,
    /// When the attempt was registered; the heartbeat judges it only by what it read after.
    since: Instant,
}

impl Engine {
    /// A worker that runs the registered workflows; start it with [`Worker::run`].
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        Worker {
            engine: self.clone(),
            config,
            id: Uuid::now_v7(),
        }
    }
}

impl Worker {
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Runs until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let Self { engine, config, id } = self;
        let listener = liveness::connect(&engine.pool, id, &config.name, config.lease_ttl).await?;
        tracing::info!(worker.id = %id, name = %config.name, "worker started");
        let (inbox, mut eager) = mpsc::unbounded_channel();
        let steps = PgPoolOptions::new()
            .max_connections(config.step_connections.max(1))
            .connect_lazy_with(
                (*engine.pool.connect_options())
                    .clone()
                    .application_name(STEPS),
            );
        let shared = Arc::new(Shared {
            steps: steps.clone(),
            slots: Arc::new(Semaphore::new(config.concurrency)),
            engine,
            config,
            id,
            inbox,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            keep_next: AtomicBool::new(true),
            locked: AtomicBool::new(true),
        });
        let (finished_tx, finished_rx) = mpsc::channel(1024);
        let give_up = CancellationToken::new();
        let mut completer = tokio::spawn(
            Completer {
                conn: Dedicated::new(&shared.engine.pool, "slate-worker-completer"),
                worker_id: id,
                finished: finished_rx,
                pauses: shared.engine.pauses.clone(),
                give_up: give_up.clone(),
            }
            .run(),
        );
        let background = CancellationToken::new();
        let listen = tokio::spawn({
            let signalled = shared.clone();
            liveness::listen(
                listener,
                id,
                shared.config.name.clone(),
                shared.config.lease_ttl,
                background.clone(),
                shared.engine.pauses.clone(),
                move |signal| signalled.on_liveness(signal),
            )
        });
        let heartbeat = tokio::spawn(shared.clone().heartbeat(
            Dedicated::new(&shared.engine.pool, HEARTBEAT),
            background.clone(),
        ));

        shared.engine.local.add(&shared);
        let mut attempts = JoinSet::new();
        shared
            .claim(&mut attempts, &mut eager, &finished_tx, &shutdown)
            .await;

        shared.keep_next.store(false, Ordering::SeqCst);
        shared.engine.local.remove(&shared);
        eager.close();
        while let Ok(leased) = eager.try_recv() {
            shared.spawn(&mut attempts, leased.attempt, leased.slot, &finished_tx);
        }
        let grace = shared.config.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = attempts.len(),
                "shutdown grace elapsed; stopping attempts"
            );
            attempts.shutdown().await;
        }
        drop(finished_tx);
        // A result the database would not take yet gets the grace too; its task is given back below.
        if tokio::time::timeout(grace, &mut completer).await.is_err() {
            give_up.cancel();
            let _ = completer.await;
        }
        background.cancel();
        let (_, heartbeat) = tokio::join!(listen, heartbeat);
        let mut conn = heartbeat.unwrap_or_else(|_| Dedicated::new(&shared.engine.pool, HEARTBEAT));
        let conn = conn.get().await?;
        let released = liveness::release(conn, id, None, "the worker shut down").await?;
        liveness::deregister(conn, id).await?;
        steps.close().await;
        tracing::info!(worker.id = %id, released, "worker stopped");
        Ok(())
    }
}

impl LocalWorker for Shared {
    fn id(&self) -> Uuid {
        self.id
    }

    /// It holds its liveness lock, is not shutting down, and takes `step`.
    fn takes_work(&self, step: &str) -> bool {
        self.locked.load(Ordering::SeqCst)
            && self.keep_next.load(Ordering::SeqCst)
            && self.config.takes(step)
    }

    fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    fn hand(&self, eager: Eager) {
        let _ = self.inbox.send(eager);
    }
}

impl Shared {
    /// Runs `attempt` in the worker's slot `slot` as one of `attempts`.
    fn spawn(
        self: &Arc<Self>,
        attempts: &mut JoinSet<()>,
        attempt: Attempt,
        slot: OwnedSemaphorePermit,
        finished: &mpsc::Sender<Finished>,
    ) {
        attempts.spawn(self.clone().drive(attempt, finished.clone(), slot));
    }
}
