//! A connection of its own for a hot loop (the claim loop, the completer): its prepared
//! statements stay cached and planned once, and it skips the pool. It reconnects after a failure.

use sqlx::{postgres::PgConnectOptions, Connection, Executor, PgConnection, PgPool};

pub(crate) struct Dedicated {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
}

impl Dedicated {
    pub fn new(pool: &PgPool) -> Self {
        Self {
            options: (*pool.connect_options()).clone(),
            conn: None,
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
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// Drops the connection after a failure, so that the next [`Self::get`] opens a fresh one.
    pub fn reset(&mut self) {
        self.conn = None;
    }
}
