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

use super::{stopper::StopCause, Shared};
use crate::{
    connection::Dedicated,
    error::Result,
    lease::Lease,
    liveness::{self, Signal},
    pause::PausePoint,
};

impl Shared {
    /// Acts on what the liveness connection heard: losing the lock stops every attempt and all
    /// claiming; a cancel stops its run's attempt.
    pub(super) fn on_liveness(&self, signal: Signal) {
        match signal {
            Signal::Wake => {}
            Signal::Cancelled(run_id) => {
                let running = self.running.lock().expect("running lock");
                for (lease, attempt) in running.iter().filter(|(l, _)| l.run_id == run_id) {
                    tracing::info!(run.id = %run_id, attempt = lease.attempt, "run cancelled: stopping its attempt");
                    attempt.stopper.stop(StopCause::Cancelled);
                }
                return;
            }
            Signal::Lost => {
                self.locked.store(false, Ordering::SeqCst);
                for running in self.running.lock().expect("running lock").values() {
                    running.stopper.stop(StopCause::LivenessLost);
                }
            }
            Signal::Restored => self.locked.store(true, Ordering::SeqCst),
        }
        self.wake.notify_one();
    }

    /// Renews the worker's leases on `conn`, a connection of the heartbeat's own that no other
    /// load can take; stops the attempts whose task is no longer this worker's (cancelled, or
    /// rescued by the scheduler) and gives back tasks no attempt holds. Returns the connection for
    /// the shutdown's last release.
    pub(super) async fn heartbeat(
        self: Arc<Self>,
        mut conn: Dedicated,
        stop: CancellationToken,
    ) -> Dedicated {
        let mut ticks = tokio::time::interval(self.config.heartbeat_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut previous: Option<Beat> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return conn,
                _ = ticks.tick() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return conn,
                () = self.engine.pauses.reach(PausePoint::Heartbeat) => {}
            }
            match self
                .beat(&mut conn, previous.as_ref(), Instant::now())
                .await
            {
                Ok(beat) => previous = Some(beat),
                Err(error) => {
                    tracing::warn!(%error, "heartbeat failed");
                    conn.reset();
                }
            }
        }
    }

    /// One heartbeat: renews the leases, reconciles them with the running attempts, and gives back
    /// the orphans: the leases that this beat and the previous one both found held by the worker
    /// and run by no attempt of it. One sighting is not enough: a lease is dated by the start of
    /// the transaction that granted it, which may commit after a beat has read, just before its
    /// attempt registers.
    async fn beat(
        &self,
        conn: &mut Dedicated,
        previous: Option<&Beat>,
        asked: Instant,
    ) -> Result<Beat> {
        let conn = conn.get().await?;
        let beat = liveness::heartbeat(conn, self.id, self.config.lease_ttl).await?;
        let unrun = self.reconcile(beat.held, asked);
        if let Some(previous) = previous {
            let orphans: Vec<Lease> = unrun.intersection(&previous.unrun).copied().collect();
            if !orphans.is_empty() {
                let reason = "no attempt of its worker holds it";
                liveness::release(conn, self.id, Some((&orphans, previous.at)), reason).await?;
            }
        }
        Ok(Beat {
            at: beat.now,
            unrun,
        })
    }

    /// Compares the leases the database says this worker holds with the attempts running here,
    /// lease by lease: stops the attempts whose lease is gone, and returns the held leases that
    /// no attempt runs.
    fn reconcile(&self, held: HashSet<Lease>, asked: Instant) -> HashSet<Lease> {
        let running = self.running.lock().expect("running lock");
        for (lease, attempt) in running.iter() {
            if attempt.since < asked && !held.contains(lease) && !attempt.stopper.is_stopped() {
                tracing::info!(run.id = %lease.run_id, attempt = lease.attempt, "task no longer held: stopping its attempt");
                attempt.stopper.stop(StopCause::LeaseGone);
            }
        }
        held.into_iter()
            .filter(|lease| !running.contains_key(lease))
            .collect()
    }
}

/// What a beat found: the database's time of its read, and the leases held that no attempt ran.
struct Beat {
    at: DateTime<Utc>,
    unrun: HashSet<Lease>,
}
