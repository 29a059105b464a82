//! Eager starts: a run started through [`crate::Engine::start`] in a process whose worker has a
//! free slot is leased to that worker in the start's own transaction and handed to it in memory
//! once that commits. The run then costs no claim and waits for no notification. If the process
//! dies before the worker runs the step, the task is an ordinary leased task, rescued like any
//! other.

use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::{ids::RunId, lease::Lease, task::Attempt, workflow::WorkflowDef};

/// An attempt leased at its run's start, with the worker slot reserved for it.
pub(crate) struct Eager {
    pub attempt: Attempt,
    pub slot: OwnedSemaphorePermit,
}

/// A worker running in this process, as the starts see it.
pub(crate) trait LocalWorker: Send + Sync {
    fn id(&self) -> Uuid;
    /// Whether this process's starts may lease it a run's first step, `step`, now.
    fn takes_work(&self, step: &str) -> bool;
    /// Its attempt slots, one of which a start reserves.
    fn slots(&self) -> &Arc<Semaphore>;
    /// Gives it an attempt whose start has committed.
    fn hand(&self, eager: Eager);
}

/// The workers running in this process, which take runs as they are started.
#[derive(Default)]
pub(crate) struct LocalWorkers {
    workers: Mutex<Vec<Weak<dyn LocalWorker>>>,
}

impl LocalWorkers {
    pub fn add<W: LocalWorker + 'static>(&self, worker: &Arc<W>) {
        let worker: Arc<dyn LocalWorker> = worker.clone();
        self.lock().push(Arc::downgrade(&worker));
    }

    pub fn remove<W: LocalWorker + 'static>(&self, worker: &Arc<W>) {
        let gone = Arc::as_ptr(worker).cast::<()>();
        self.lock().retain(|w| w.as_ptr().cast::<()>() != gone);
    }

    /// A slot of the local worker with the most room, if any has room and may take `step`.
    pub fn reserve(&self, step: &str) -> Option<Reservation> {
        let mut workers = self.lock();
        workers.retain(|w| w.strong_count() > 0);
        let worker = workers
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|w| w.takes_work(step))
            .max_by_key(|w| w.slots().available_permits())?;
        let slot = worker.slots().clone().try_acquire_owned().ok()?;
        Some(Reservation { worker, slot })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn LocalWorker>>> {
        self.workers.lock().expect("local workers lock")
    }
}

/// A free slot of a local worker, held while the start that will fill it commits. Dropping it
/// gives the slot back.
pub(crate) struct Reservation {
    worker: Arc<dyn LocalWorker>,
    slot: OwnedSemaphorePermit,
}

impl Reservation {
    pub fn worker_id(&self) -> Uuid {
        self.worker.id()
    }

    /// The first attempt of the run `run_id`, leased to this worker at `leased_at`.
    pub fn attempt(
        &self,
        workflow: Arc<WorkflowDef>,
        run_id: RunId,
        input: Value,
        leased_at: DateTime<Utc>,
    ) -> Attempt {
        Attempt {
            lease: Lease {
                run_id,
                generation: 0,
                step_index: 0,
                attempt: 1,
                worker_id: self.worker.id(),
                child: None,
            },
            step_name: workflow.steps[0].name.to_owned(),
            workflow,
            input,
            leased_at,
            interrupted: 0,
            suspended: 0,
            expired: None,
        }
    }

    /// Gives the worker `attempt`, once the start that leased it has committed. The task of a
    /// worker that stopped meanwhile is given back by its shutdown or taken back by the
    /// scheduler's rescue.
    pub fn hand(self, attempt: Attempt) {
        self.worker.hand(Eager {
            attempt,
            slot: self.slot,
        });
    }
}
