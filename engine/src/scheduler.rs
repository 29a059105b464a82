//! The scheduler loop: rescues the tasks and children of dead workers (their advisory lock is
//! free: the process or its connection is gone) and of silent ones (their lease lapsed: paused
//! or cut off), wakes steps whose children finished while their wake was lost, and trims the
//! history of runs finished longer ago than the retention. Every statement is safe to run from
//! any number of processes at once.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{channels::TASKS_CHANNEL, children, connection::Dedicated, error::Result};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often it looks for dead and silent workers.
    pub tick: Duration,
    /// How long the history of a finished run is kept; forever when `None`.
    pub retention: Option<Duration>,
    /// How often history is trimmed, when a retention is set.
    pub trim_interval: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(250),
            retention: None,
            trim_interval: Duration::from_secs(60),
        }
    }
}

/// What one rescue found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rescue {
    pub dead_workers: u64,
    pub tasks_released: u64,
}

/// The scheduler loop.
pub struct Scheduler {
    /// Its own connection, which no other load of the process can take.
    conn: Dedicated,
    config: SchedulerConfig,
}

impl Scheduler {
    pub(crate) fn new(pool: &PgPool, config: SchedulerConfig) -> Self {
        let conn = Dedicated::new(pool, "slate-scheduler");
        Self { conn, config }
    }

    /// Ticks until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.config.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_trim = Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.rescue().await {
                Ok(rescue) if rescue.tasks_released > 0 || rescue.dead_workers > 0 => {
                    tracing::info!(?rescue, "rescued the tasks of dead or silent workers");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "rescue failed"),
            }
            if let Some(retention) = self.config.retention {
                if last_trim.elapsed() >= self.config.trim_interval {
                    last_trim = Instant::now();
                    match self.trim(retention).await {
                        Ok(0) => {}
                        Ok(runs) => tracing::info!(runs, "trimmed the history of old runs"),
                        Err(error) => tracing::warn!(%error, "trim failed"),
                    }
                }
            }
        }
    }

    /// Marks dead the workers whose lock is free or whose lease lapsed, and queues their tasks and
    /// children again for any worker; wakes the steps whose children have all finished.
    pub async fn rescue(&mut self) -> Result<Rescue> {
        let rescued = self.rescue_on_own_connection().await;
        if rescued.is_err() {
            self.conn.reset();
        }
        rescued
    }

    async fn rescue_on_own_connection(&mut self) -> Result<Rescue> {
        let (dead_workers, tasks_released): (i64, i64) = sqlx::query_as(
            "WITH candidates AS (
                 SELECT id, lease_expires_at < now() AS expired FROM workers
                 WHERE state = 'active'
                    OR id IN (SELECT DISTINCT lease_owner FROM tasks WHERE lease_owner IS NOT NULL)
                    OR id IN (SELECT DISTINCT lease_owner FROM children
                              WHERE lease_owner IS NOT NULL)
             ), dead AS (
                 SELECT id, expired FROM candidates
                 WHERE expired OR pg_try_advisory_xact_lock(worker_lock_key(id))
             ), marked AS (
                 UPDATE workers w SET state = 'dead', stopped_at = now()
                 FROM dead WHERE w.id = dead.id AND w.state = 'active'
             ), locked AS (
                 SELECT t.run_id, t.lease_owner, dead.expired FROM tasks t
                 JOIN dead ON t.lease_owner = dead.id
                 ORDER BY t.run_id
                 FOR UPDATE OF t
             ), released AS (
                 UPDATE tasks t SET lease_owner = NULL, leased_at = NULL, run_at = now(),
                                  interrupted = t.interrupted + 1
                 FROM locked l WHERE t.run_id = l.run_id AND t.lease_owner = l.lease_owner
                 RETURNING t.run_id, l.lease_owner, t.step, t.attempt, l.expired
             ), logged AS (
                 INSERT INTO events (run_id, kind, step, attempt, worker_id, detail)
                 SELECT run_id, 'lease_expired', step, attempt, lease_owner,
                        jsonb_build_object('reason', CASE WHEN expired
                            THEN 'the worker stopped heartbeating'
                            ELSE 'the worker''s process or connection is gone' END)
                 FROM released
             ), locked_children AS (
                 SELECT c.id, c.lease_owner FROM children c
                 JOIN dead ON c.lease_owner = dead.id
                 ORDER BY c.id
                 FOR UPDATE OF c SKIP LOCKED
             ), released_children AS (
                 UPDATE children c SET lease_owner = NULL, leased_at = NULL, run_at = now(),
                                       interrupted = c.interrupted + 1
                 FROM locked_children l WHERE c.id = l.id AND c.lease_owner = l.lease_owner
                 RETURNING c.id
             )
             SELECT (SELECT count(*) FROM dead), n
             FROM (SELECT (SELECT count(*) FROM released)
                          + (SELECT count(*) FROM released_children) AS n) AS given_back
             WHERE n = 0 OR pg_notify($1, '') IS NOT NULL",
        )
        .bind(TASKS_CHANNEL)
        .fetch_one(self.conn.get().await?)
        .await?;
        // The sweep: steps whose children finished while their wake was lost to a crash.
        children::wake(self.conn.get().await?, None).await?;
        Ok(Rescue {
            dead_workers: dead_workers as u64,
            tasks_released: tasks_released as u64,
        })
    }

    /// Deletes the events, signals, children, memos and superseded checkpoints (but those a fork shares) of
    /// runs finished more than `retention` ago, and the registry rows of workers gone as long.
    /// Returns how many runs were trimmed.
    pub async fn trim(&mut self, retention: Duration) -> Result<u64> {
        let trimmed = self.trim_on_own_connection(retention).await;
        if trimmed.is_err() {
            self.conn.reset();
        }
        trimmed
    }

    async fn trim_on_own_connection(&mut self, retention: Duration) -> Result<u64> {
        let millis = retention.as_secs_f64() * 1000.0;
        let mut trimmed = 0;
        loop {
            let runs: i64 = sqlx::query_scalar(
                "WITH old AS (
                     SELECT r.id FROM runs r
                     WHERE r.finished_at < now() - $1 * interval '1 ms'
                       AND EXISTS (SELECT 1 FROM events e WHERE e.run_id = r.id)
                     LIMIT 500
                 ), events AS (
                     DELETE FROM events WHERE run_id IN (SELECT id FROM old)
                 ), signals AS (
                     DELETE FROM signals WHERE run_id IN (SELECT id FROM old)
                 ), children AS (
                     DELETE FROM children WHERE run_id IN (SELECT id FROM old)
                 ), memos AS (
                     DELETE FROM memos WHERE run_id IN (SELECT id FROM old)
                 ), checkpoints AS (
                     DELETE FROM checkpoints c
                     WHERE run_id IN (SELECT id FROM old) AND superseded_at IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM checkpoints f
                                       WHERE f.source_run_id = c.run_id
                                         AND f.step_index = c.step_index
                                         AND f.source_generation = c.generation)
                 )
                 SELECT count(*) FROM old",
            )
            .bind(millis)
            .fetch_one(self.conn.get().await?)
            .await?;
            trimmed += runs as u64;
            if runs == 0 {
                break;
            }
        }
        sqlx::query(
            "DELETE FROM workers
             WHERE state <> 'active' AND stopped_at < now() - $1 * interval '1 ms'",
        )
        .bind(millis)
        .execute(self.conn.get().await?)
        .await?;
        Ok(trimmed)
    }
}
