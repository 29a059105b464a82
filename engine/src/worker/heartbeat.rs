//! The worker's side of liveness: its heartbeat renews its leases, stops attempts whose task is
//! no longer its own, and gives back tasks no attempt holds; losing the liveness lock stops every
//! attempt and all claiming until the lock is back.

use std::{
    collections::HashSet,
    sync::{atomic::Ordering, Arc},
};

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::{
    liveness::{self, Signal},
    run::RunId,
};

impl Shared {
    /// Acts on what the liveness connection heard: losing the lock stops every attempt and all
    /// claiming; a cancel stops its run's attempt.
    pub(super) fn on_liveness(&self, signal: Signal) {
        match signal {
            Signal::Wake => {}
            Signal::Cancelled(run_id) => {
                if let Some(running) = self.running.lock().expect("running lock").get(&run_id) {
                    tracing::info!(run.id = %run_id, "run cancelled: stopping its attempt");
                    running.stop.cancel();
                }
                return;
            }
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
    pub(super) async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
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
