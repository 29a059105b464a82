//! The cleaner: removes stored artifacts that no checkpoint, memo or child result names, in any
//! run or fork, live or superseded — the outputs of failed and fenced attempts, and the media of
//! runs whose history was trimmed. It looks only under the engine's artifact prefix (`runs/`), so
//! media written before artifacts existed (`videos/<id>/...`) are never removed, and only at
//! objects older than a grace within which the attempt that wrote one may still journal it
//! ([`Engine::artifact_grace`]). Any number of processes may run it: one sweeps at a time.

use std::time::Duration;

use chrono::Utc;
use slate_engine::{Engine, ARTIFACTS_PREFIX};
use tokio_util::sync::CancellationToken;

use super::{error::StoreError, store::MediaStore};

/// How many keys one query asks the journal about.
const BATCH: usize = 1000;

/// The advisory lock that lets one process sweep at a time.
const LOCK: &str = "slate-artifact-cleaner";

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the journal could not be read: {0}")]
    Journal(String),
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Artifacts old enough to be looked at.
    pub examined: usize,
    /// Those no value named, now removed.
    pub removed: usize,
}

pub struct Cleaner {
    store: MediaStore,
    engine: Engine,
    grace: Duration,
}

impl Cleaner {
    /// A cleaner of `store`'s artifacts of `engine`'s runs, sparing those younger than `grace`.
    pub fn new(store: MediaStore, engine: Engine, grace: Duration) -> Self {
        Self {
            store,
            engine,
            grace,
        }
    }

    /// Removes the artifacts older than the grace that nothing names. Returns `None` when
    /// another process was sweeping.
    pub async fn sweep(&self) -> Result<Option<Swept>, CleanError> {
        let journal = |e: sqlx::Error| CleanError::Journal(e.to_string());
        let mut conn = self.engine.pool().acquire().await.map_err(journal)?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(LOCK)
            .fetch_one(&mut *conn)
            .await
            .map_err(journal)?;
        if !locked {
            return Ok(None);
        }
        let swept = self.sweep_locked().await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(LOCK)
            .execute(&mut *conn)
            .await
            .map_err(journal)?;
        swept.map(Some)
    }

    async fn sweep_locked(&self) -> Result<Swept, CleanError> {
        let grace = chrono::Duration::from_std(self.grace).unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now() - grace;
        let old: Vec<String> = (self.store.list(ARTIFACTS_PREFIX).await?)
            .into_iter()
            .filter(|object| object.last_modified < cutoff)
            .map(|object| object.key)
            .collect();
        let mut swept = Swept {
            examined: old.len(),
            removed: 0,
        };
        for keys in old.chunks(BATCH) {
            let named = (self.engine.named_artifacts(keys).await)
                .map_err(|e| CleanError::Journal(e.to_string()))?;
            for key in keys.iter().filter(|key| !named.contains(*key)) {
                self.store.delete(key).await?;
                swept.removed += 1;
            }
        }
        Ok(swept)
    }

    /// Sweeps every `every` until `shutdown`; a failed sweep is logged and tried again.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        loop {
            match self.sweep().await {
                Ok(Some(swept)) if swept.removed > 0 => {
                    tracing::info!(swept.examined, swept.removed, "removed unnamed artifacts");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the artifact cleaner failed; it will try again")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
