//! A connection of its own for a hot loop (the claim loop, the completer): its prepared
//! statements stay cached and planned once, and it skips the pool. It reconnects after a failure.

use std::time::{Duration, Instant};

use sqlx::{postgres::PgConnectOptions, Connection, Executor, PgConnection, PgPool};

pub(crate) struct Dedicated {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
    /// When the connection's cached plans were last made afresh (see [`Dedicated::get_for`]).
    replanned: Instant,
}

/// From how many rows a batch may find its statement's plan out of date.
const BIG_BATCH: usize = 64;
/// How often a connection that runs big batches makes its plans afresh, at most.
const REPLAN_EVERY: Duration = Duration::from_millis(250);

impl Dedicated {
    pub fn new(pool: &PgPool) -> Self {
        Self {
            options: (*pool.connect_options()).clone(),
            conn: None,
            replanned: Instant::now(),
        }
    }

    /// The connection, opened if needed. The engine's statements take arrays, whose generic
    /// plans are as good as custom ones, so planning is done once per statement.
    pub async fn get(&mut self) -> sqlx::Result<&mut PgConnection> {
        if self.conn.is_none() {
            let mut conn = PgConnection::connect_with(&self.options).await?;
            conn.execute("SET plan_cache_mode = force_generic_plan")
                .await?;
            self.conn = Some(conn);
            self.replanned = Instant::now();
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// The connection, for a statement over a batch of `rows`. A generic plan is made with the
    /// table sizes of the moment, and kept until PostgreSQL's statistics change. One made while
    /// the queue was empty scans the whole tasks table once per run of a batch: a hand-off of
    /// 500 runs then took half a second. So before a big batch, at most every 250 ms, the
    /// cached plans are dropped and made again with the tables as they are now.
    pub async fn get_for(&mut self, rows: usize) -> sqlx::Result<&mut PgConnection> {
        let stale = rows >= BIG_BATCH && self.replanned.elapsed() >= REPLAN_EVERY;
        let conn = self.get().await?;
        if stale {
            conn.execute("DISCARD PLANS").await?;
            self.replanned = Instant::now();
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Drops the connection after a failure, so that the next [`Self::get`] opens a fresh one.
    pub fn reset(&mut self) {
        self.conn = None;
    }
}
