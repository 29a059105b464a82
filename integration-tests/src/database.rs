//! A fresh database per test on the server named by `DATABASE_URL`, migrated (the engine's schema,
//! then the video's), and dropped at the end of the test.

use std::str::FromStr;

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, Connection, PgConnection, PgPool,
};
use uuid::Uuid;

pub struct TestDatabase {
    pub name: String,
    /// The URL of this database, for child processes.
    pub url: String,
    pub pool: PgPool,
    server: PgConnectOptions,
}

/// The server the tests use (`make test` sets it, starting a local PostgreSQL if needed).
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: run the tests with `make test`, which sets it")
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestDatabase {
    /// Creates and migrates a database of its own, with a pool of `connections`.
    pub async fn new() -> Self {
        Self::with_pool_size(20).await
    }

    pub async fn with_pool_size(connections: u32) -> Self {
        let db = Self::unmigrated(connections).await;
        slate_engine::migrate(&db.pool)
            .await
            .expect("migrate the engine's schema");
        slate_activities::video::migrate(&db.pool)
            .await
            .expect("migrate the video's schema");
        db
    }

    /// A database of its own with no schema at all.
    pub async fn unmigrated(connections: u32) -> Self {
        let server_url = server_url();
        let server = PgConnectOptions::from_str(&server_url)
            .expect("DATABASE_URL is not a PostgreSQL URL")
            .disable_statement_logging();
        let name = format!("slate_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .expect("the test server is reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&server_url, &name);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(server.clone().database(&name))
            .await
            .expect("connect to the test database");
        Self {
            name,
            url,
            pool,
            server,
        }
    }

    /// Drops the database (its connections too).
    pub async fn drop(self) {
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect_with(&self.server).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t"),
            "postgres://u@h:5432/t"
        );
        assert_eq!(
            with_database("postgres://u@h:5432/p?sslmode=disable", "t"),
            "postgres://u@h:5432/t?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "t"),
            "postgres://u@h:5432/t"
        );
    }
}
