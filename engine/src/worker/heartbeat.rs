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
        let mut previous: Option<DateTime<Utc>> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return conn,
                _ = ticks.tick() => {}
            }
            match self.beat(&mut conn, previous, Instant::now()).await {
                Ok(beat) => previous = Some(beat),
                Err(error) => {
                    tracing::warn!(%error, "heartbeat failed");
                    conn.reset();
                }
            }
        }
    }

    /// One heartbeat: renews the leases, reconciles them with the running attempts and gives back
    /// the orphans. Returns the database's time of the beat.
    async fn beat(
        &self,
        conn: &mut Dedicated,
        previous: Option<DateTime<Utc>>,
        asked: Instant,
    ) -> Result<DateTime<Utc>> {
        let conn = conn.get().await?;
        let beat = liveness::heartbeat(conn, self.id, self.config.lease_ttl).await?;
        let orphans = self.reconcile(&beat.held, asked, previous);
        if let (false, Some(since)) = (orphans.is_empty(), previous) {
            let reason = "no attempt of its worker holds it";
            liveness::release(conn, self.id, Some((&orphans, since)), reason).await?;
        }
        Ok(beat.now)
    }

    /// Compares the leases the database says this worker holds with the attempts running here,
    /// lease by lease. Returns the held leases that no attempt has run since before the previous
    /// heartbeat.
    fn reconcile(
        &self,
        held: &[(Lease, DateTime<Utc>)],
        asked: Instant,
        previous: Option<DateTime<Utc>>,
    ) -> Vec<Lease> {
        let held_leases: HashSet<Lease> = held.iter().map(|(lease, _)| *lease).collect();
        let running = self.running.lock().expect("running lock");
        for (lease, attempt) in running.iter() {
            if attempt.since < asked
                && !held_leases.contains(lease)
                && !attempt.stopper.is_stopped()
            {
                tracing::info!(run.id = %lease.run_id, attempt = lease.attempt, "task no longer held: stopping its attempt");
                attempt.stopper.stop(StopCause::LeaseGone);
            }
        }
        let Some(previous) = previous else {
            return Vec::new();
        };
        held.iter()
            .filter(|(lease, leased_at)| !running.contains_key(lease) && *leased_at < previous)
            .map(|(lease, _)| *lease)
            .collect()
    }
}
