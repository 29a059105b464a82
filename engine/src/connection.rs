//! A connection of its own for each of the engine's roles (the claim loop, the completer, the
//! heartbeat, the scheduler, the starter): no other load can take it, its prepared statements stay
//! cached and planned once, and it skips the pool. It reconnects after a failure. Each role shows
//! under its own `application_name` in `pg_stat_activity`.

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
    /// A connection to `pool`'s database for the role named `role` (e.g. `slate-worker-claim`).
    pub fn new(pool: &PgPool, role: &str) -> Self {
        Self {
            options: (*pool.connect_options()).clone().application_name(role),
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

/// Whether `error` may not happen again if the same statements are run again: the connection or
/// the server failed, or the transaction lost a race (a deadlock, a serialization failure). Any
/// other error is about the statements or their data, and would happen again.
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources; 57: operator intervention
            // (shutdown, a cancelled statement); 58: system error (I/O). 40001: serialization
            // failure, 40P01: deadlock, 40003: completion unknown; 55P03: lock not available;
            // 25006: a read-only transaction (a standby after a failover).
            matches!(&code[..2], "08" | "53" | "57" | "58")
                || matches!(&*code, "40001" | "40P01" | "40003" | "55P03" | "25006")
        }),
        _ => false,
    }
}
