//! The claim loop: leases due tasks in batches while the worker has free slots, runs the
//! attempts this process's starts hand it, and sleeps until notified, until the next task falls
//! due, or for the slow poll.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use tokio::{
    sync::{mpsc, OwnedSemaphorePermit},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::{connection::Dedicated, eager::Eager, handoff::Finished, liveness, task};

impl Shared {
    /// Claims while there are free slots and due tasks; sleeps until woken otherwise. Runs the
    /// attempts this process's starts lease to it as they arrive.
    pub(super) async fn claim(
        self: &Arc<Self>,
        attempts: &mut JoinSet<()>,
        eager: &mut mpsc::UnboundedReceiver<Eager>,
        finished: &mpsc::Sender<Finished>,
        shutdown: &CancellationToken,
    ) {
        let mut conn = Dedicated::new(&self.engine.pool, "slate-worker-claim");
        loop {
            while attempts.try_join_next().is_some() {}
            let first = tokio::select! {
                () = shutdown.cancelled() => return,
                Some(leased) = eager.recv() => {
                    self.spawn(attempts, leased.attempt, leased.slot, finished);
                    continue;
                }
                slot = self.slots.clone().acquire_owned() => slot.expect("the semaphore stays open"),
            };
            let pause = match self.claim_batch(&mut conn, first, attempts, finished).await {
                Next::Claim => continue,
                Next::Sleep(pause) => Some(pause),
                Next::AwaitWake => None,
            };
            let woken = async {
                match pause {
                    Some(pause) => {
                        tokio::select! {
                            () = self.wake.notified() => {}
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                    None => self.wake.notified().await,
                }
            };
            tokio::pin!(woken);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    Some(leased) = eager.recv() => {
                        self.spawn(attempts, leased.attempt, leased.slot, finished);
                    }
                    () = &mut woken => break,
                }
            }
        }
    }

    /// Claims due tasks for `first` and every other free slot, and runs them.
    async fn claim_batch(
        self: &Arc<Self>,
        conn: &mut Dedicated,
        first: OwnedSemaphorePermit,
        attempts: &mut JoinSet<()>,
        finished: &mpsc::Sender<Finished>,
    ) -> Next {
        if !self.locked.load(Ordering::SeqCst) {
            return Next::AwaitWake;
        }
        let mut slots = vec![first];
        while slots.len() < self.config.claim_batch {
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => slots.push(slot),
                Err(_) => break,
            }
        }
        let wanted = slots.len();
        let claimed = match conn.get_for(wanted).await {
            Ok(c) => {
                let steps = self.config.steps.as_deref();
                task::claim(c, &self.engine.registry, self.id, steps, wanted).await
            }
            Err(error) => Err(error.into()),
        };
        match claimed {
            Ok(claim) => {
                let got = claim.attempts.len();
                for (attempt, slot) in claim.attempts.into_iter().zip(slots) {
                    self.spawn(attempts, attempt, slot, finished);
                }
                if got == wanted {
                    return Next::Claim;
                }
                // A task due already (committed while the claim ran, or held by another
                // worker's claim) is looked for again a millisecond later, not at the next poll.
                let until_due = claim.next_due_in.map_or(self.config.poll_interval, |s| {
                    Duration::from_secs_f64(s.clamp(0.001, 3600.0))
                });
                Next::Sleep(until_due.min(self.config.poll_interval))
            }
            Err(error) => {
                tracing::warn!(%error, "claim failed");
                conn.reset();
                Next::Sleep(liveness::RECONNECT_DELAY)
            }
        }
    }
}

/// What the claim loop does after a claim.
enum Next {
    /// Claim again at once: every slot was filled, so more tasks may be due.
    Claim,
    /// Sleep until woken or for this long (the next task falls due, or the database was out).
    Sleep(Duration),
    /// Sleep until woken: the worker lost its liveness lock and may not claim.
    AwaitWake,
}
