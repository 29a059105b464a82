//! The schema the engine runs on, as migrations applied at start-up.

/// The schema of the engine (and of the applications built on it), applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
