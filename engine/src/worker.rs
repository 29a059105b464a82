//! Workers: claim due tasks in batches, run each step under its timeout (and its run's
//! cancellation), and hand each result to the completer, which commits it fenced on the lease.
//! A worker keeps the next step of a run it just advanced and starts it at once (sticky
//! continuation), so a run usually costs one claim. On shutdown it stops claiming, lets running
//! attempts finish within a grace period, and gives the tasks of the rest back.

use std::{
    collections::{HashMap, HashSet},
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use tokio::{
    sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    connection::Dedicated,
    context::StepContext,
    engine::Engine,
    error::Result,
    handoff::{Completer, Finished, HandOff, Outcome},
    liveness::{self, Signal},
    run::RunId,
    step_error::StepError,
    task::{self, Attempt, MAX_INTERRUPTIONS},
};

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
struct Shared {
    engine: Engine,
    config: WorkerConfig,
    id: Uuid,
    /// The attempts running now, by run, with the token that stops them.
    running: Mutex<HashMap<RunId, Running>>,
    /// Woken by notifications and by the worker's own retries.
    wake: Notify,
    /// Cleared on shutdown, so that finished steps queue their successors for other workers.
    keep_next: AtomicBool,
    /// Whether the liveness lock is held; the worker claims only while it is.
    locked: AtomicBool,
}

struct Running {
    stop: CancellationToken,
    since: Instant,
}

impl Worker {
    pub(crate) fn new(engine: Engine, config: WorkerConfig) -> Self {
        Self {
            engine,
            config,
            id: Uuid::now_v7(),
        }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Runs until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let Self { engine, config, id } = self;
        let listener = liveness::connect(&engine.pool, id, &config.name, config.lease_ttl).await?;
        tracing::info!(worker.id = %id, name = %config.name, "worker started");
        let shared = Arc::new(Shared {
            engine,
            config,
            id,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            keep_next: AtomicBool::new(true),
            locked: AtomicBool::new(true),
        });
        let (finished_tx, finished_rx) = mpsc::channel(1024);
        let completer = tokio::spawn(
            Completer {
                conn: Dedicated::new(&shared.engine.pool),
                worker_id: id,
                finished: finished_rx,
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
                move |signal| signalled.on_liveness(signal),
            )
        });
        let heartbeat = tokio::spawn(shared.clone().heartbeat(background.clone()));

        let mut attempts = JoinSet::new();
        shared.claim(&mut attempts, &finished_tx, &shutdown).await;

        shared.keep_next.store(false, Ordering::SeqCst);
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
        let _ = completer.await;
        background.cancel();
        let _ = tokio::join!(listen, heartbeat);
        let released =
            liveness::release(&shared.engine.pool, id, None, "the worker shut down").await?;
        liveness::deregister(&shared.engine.pool, id).await?;
        tracing::info!(worker.id = %id, released, "worker stopped");
        Ok(())
    }
}

impl Shared {
    /// Claims while there are free slots and due tasks; sleeps until woken otherwise.
    async fn claim(
        self: &Arc<Self>,
        attempts: &mut JoinSet<()>,
        finished: &mpsc::Sender<Finished>,
        shutdown: &CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut conn = Dedicated::new(&self.engine.pool);
        loop {
            while attempts.try_join_next().is_some() {}
            let first = tokio::select! {
                () = shutdown.cancelled() => return,
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore stays open"),
            };
            let mut permits = vec![first];
            while permits.len() < self.config.claim_batch {
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let wanted = permits.len();
            if !self.locked.load(Ordering::SeqCst) {
                drop(permits);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.wake.notified() => continue,
                }
            }
            let claimed = match conn.get().await {
                Ok(c) => task::claim(c, &self.engine.registry, self.id, wanted).await,
                Err(error) => Err(error.into()),
            };
            let wait = match claimed {
                Ok(claim) => {
                    let got = claim.attempts.len();
                    for (attempt, permit) in claim.attempts.into_iter().zip(permits.drain(..)) {
                        attempts.spawn(self.clone().drive(attempt, finished.clone(), permit));
                    }
                    if got == wanted {
                        continue;
                    }
                    let until_due = claim
                        .next_due
                        .and_then(|due| (due - Utc::now()).to_std().ok())
                        .unwrap_or(self.config.poll_interval);
                    until_due.min(self.config.poll_interval)
                }
                Err(error) => {
                    tracing::warn!(%error, "claim failed");
                    conn.reset();
                    liveness::RECONNECT_DELAY
                }
            };
            drop(permits);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Runs an attempt, hands its result on, and goes on with the run's next step while the
    /// hand-off leaves it to this worker.
    async fn drive(
        self: Arc<Self>,
        mut attempt: Attempt,
        finished: mpsc::Sender<Finished>,
        _slot: OwnedSemaphorePermit,
    ) {
        let run_id = attempt.lease.run_id;
        let _registration = Registration {
            shared: self.clone(),
            run_id,
        };
        loop {
            let stop = CancellationToken::new();
            self.running.lock().expect("running lock").insert(
                run_id,
                Running {
                    stop: stop.clone(),
                    since: Instant::now(),
                },
            );
            let began = Instant::now();
            let outcome = self.execute(&mut attempt, stop).await;
            let workflow = attempt.workflow.name;
            let step = attempt.step().map_or("unknown", |step| step.name);
            self.engine.metrics.attempt_finished(
                workflow,
                step,
                matches!(outcome, Outcome::Succeeded { .. }),
                began.elapsed().as_secs_f64(),
            );
            let (reply, answer) = oneshot::channel();
            let keep_next = self.keep_next.load(Ordering::SeqCst);
            let sent = finished.send(Finished {
                attempt,
                outcome,
                keep_next,
                reply,
            });
            if sent.await.is_err() {
                return;
            }
            match answer.await {
                Ok(HandOff::Next(next)) => attempt = next,
                Ok(HandOff::Retrying(delay)) => {
                    self.engine.metrics.retry_scheduled(workflow, step);
                    return self.wake_after(delay);
                }
                Ok(HandOff::Done | HandOff::Dropped) | Err(_) => return,
            }
        }
    }

    async fn execute(&self, attempt: &mut Attempt, stop: CancellationToken) -> Outcome {
        let lease = attempt.lease;
        let Some(step) = attempt.step().cloned() else {
            return Outcome::Failed(StepError::permanent(
                "workflow_mismatch",
                format!(
                    "step {:?} is not step {} of workflow {:?}",
                    attempt.step_name, lease.step_index, attempt.workflow
                ),
            ));
        };
        if attempt.interrupted > MAX_INTERRUPTIONS {
            return Outcome::Failed(StepError::interrupted_too_often(attempt.interrupted));
        }
        let span = tracing::info_span!("step", run.id = %lease.run_id, step = step.name, attempt = lease.attempt);
        let ctx = StepContext::new(self.engine.pool.clone(), lease, step.name, stop.clone());
        let input = std::mem::take(&mut attempt.input);
        let work = AssertUnwindSafe((step.run)(ctx.clone(), input)).catch_unwind();
        let grace = self.config.cancel_grace;
        let stopped = async {
            stop.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        let result = async {
            tokio::select! {
                biased;
                done = tokio::time::timeout(step.timeout, work) => match done {
                    Ok(Ok(result)) => result,
                    Ok(Err(panic)) => Err(StepError::retryable("panicked", panic_message(&*panic))),
                    Err(_) => Err(StepError::timeout(step.timeout)),
                },
                () = stopped => Err(StepError::retryable(
                    "stopped",
                    "the attempt was stopped: its run was cancelled or its lease lost",
                )),
            }
        }
        .instrument(span)
        .await;
        match result {
            Ok(output) => Outcome::Succeeded {
                output,
                cost_usd: ctx.cost(),
            },
            Err(error) => {
                tracing::warn!(run.id = %lease.run_id, step = step.name, attempt = lease.attempt, %error, "step failed");
                Outcome::Failed(error)
            }
        }
    }

    /// Wakes the claim loop after `delay` (a retry of this worker falls due then).
    fn wake_after(self: &Arc<Self>, delay: Duration) {
        let shared = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(shared) = shared.upgrade() {
                shared.wake.notify_one();
            }
        });
    }

    fn on_liveness(&self, signal: Signal) {
        match signal {
            Signal::Wake => {}
            Signal::Lost => {
                self.locked.store(false, Ordering::SeqCst);
                for running in self.running.lock().expect("running lock").values() {
                    running.stop.cancel();
                }
            }
            Signal::Restored => self.locked.store(true, Ordering::SeqCst),
        }
        self.wake.notify_one();
    }

    /// Renews the worker's leases; stops the attempts whose task is no longer this worker's
    /// (cancelled, or rescued by the scheduler) and gives back tasks no attempt holds.
    async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.config.heartbeat_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut previous: Option<DateTime<Utc>> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let asked = Instant::now();
            let pool = &self.engine.pool;
            let beat = match liveness::heartbeat(pool, self.id, self.config.lease_ttl).await {
                Ok(beat) => beat,
                Err(error) => {
                    tracing::warn!(%error, "heartbeat failed");
                    continue;
                }
            };
            let orphans = self.reconcile(&beat.held, asked, previous);
            if !orphans.is_empty() {
                let reason = "no attempt of its worker holds it";
                let since = previous.expect("orphans need a previous beat");
                if let Err(error) =
                    liveness::release(&self.engine.pool, self.id, Some((&orphans, since)), reason)
                        .await
                {
                    tracing::warn!(%error, "could not give back orphaned tasks");
                }
            }
            previous = Some(beat.now);
        }
    }

    /// Compares the tasks the database says this worker holds with the attempts running here.
    /// Returns the held tasks that no attempt has run since before the previous heartbeat.
    fn reconcile(
        &self,
        held: &[(RunId, Option<DateTime<Utc>>)],
        asked: Instant,
        previous: Option<DateTime<Utc>>,
    ) -> Vec<RunId> {
        let held_runs: HashSet<RunId> = held.iter().map(|(run, _)| *run).collect();
        let running = self.running.lock().expect("running lock");
        for (run_id, attempt) in running.iter() {
            if attempt.since < asked && !held_runs.contains(run_id) && !attempt.stop.is_cancelled()
            {
                tracing::info!(run.id = %run_id, "task no longer held: stopping its attempt");
                attempt.stop.cancel();
            }
        }
        let Some(previous) = previous else {
            return Vec::new();
        };
        held.iter()
            .filter(|(run, leased_at)| {
                !running.contains_key(run) && leased_at.is_some_and(|at| at < previous)
            })
            .map(|(run, _)| *run)
            .collect()
    }
}

/// Removes a run from the running attempts when its driver ends, however it ends.
struct Registration {
    shared: Arc<Shared>,
    run_id: RunId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut running) = self.shared.running.lock() {
            running.remove(&self.run_id);
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .map_or_else(
            || "the step panicked".to_owned(),
            |m| format!("the step panicked: {m}"),
        )
}
