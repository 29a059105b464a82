//! The engine's own schema (runs, tasks, checkpoints, memos, events, workers), as the migrations
//! in migrations/engine. Applications migrate their own tables with a migrator of their own; all
//! share sqlx's one `_sqlx_migrations` table, so each migrator passes over the others' rows.

use sqlx::{migrate::MigrateError, PgPool};

/// Applies the engine's migrations that the database has not seen yet.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let mut migrator = sqlx::migrate!("../migrations/engine");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}
