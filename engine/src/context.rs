//! What a running step sees of the engine: its run, its attempt, cancellation, cost, the outputs
//! of earlier steps, and memos, which checkpoint parts of a step so that a re-run of the step
//! skips the parts already done.

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::{types::Json, PgPool};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use uuid::Uuid;

use crate::{
    ids::RunId,
    pause::{PausePoint, PausePoints},
    step_error::StepError,
};

/// The handle a step gets to the engine. Cheap to clone (into parallel parts of the step).
#[derive(Clone)]
pub struct StepContext {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    lease: Lease,
    step: &'static str,
    cancel: CancellationToken,
    pauses: PausePoints,
    /// The cost the step reported, in USD; recorded with its checkpoint.
    cost: Mutex<f64>,
}

/// What identifies an attempt: every write it makes is fenced on all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Lease {
    pub run_id: RunId,
    pub generation: i32,
    pub step_index: i32,
    pub attempt: i32,
    pub worker_id: Uuid,
}

impl StepContext {
    pub(crate) fn new(
        pool: PgPool,
        lease: Lease,
        step: &'static str,
        cancel: CancellationToken,
        pauses: PausePoints,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                lease,
                step,
                cancel,
                pauses,
                cost: Mutex::new(0.0),
            }),
        }
    }

    pub fn run_id(&self) -> RunId {
        self.inner.lease.run_id
    }

    pub fn step(&self) -> &'static str {
        self.inner.step
    }

    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.lease.attempt as u32
    }

    /// Resolves when the attempt should stop: the run was cancelled or the attempt lost its lease.
    /// A step that does not stop by itself is dropped after a grace period.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.inner.cancel.cancelled()
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Adds `usd` to the cost recorded with the step's checkpoint.
    pub fn add_cost(&self, usd: f64) {
        *self.inner.cost.lock().expect("cost lock") += usd;
    }

    pub(crate) fn cost(&self) -> f64 {
        *self.inner.cost.lock().expect("cost lock")
    }

    /// The output of an earlier step of this run, or `None` if it has no live checkpoint.
    pub async fn checkpoint<T: DeserializeOwned>(
        &self,
        step: &str,
    ) -> Result<Option<T>, StepError> {
        let output: Option<Value> = sqlx::query_scalar(
            "SELECT output FROM checkpoints
             WHERE run_id = $1 AND step = $2 AND superseded_at IS NULL",
        )
        .bind(self.inner.lease.run_id)
        .bind(step)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(database_error)?;
        output.map(decode).transpose()
    }

    /// The input the run was started with.
    pub async fn run_input<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        let input: Value = sqlx::query_scalar("SELECT input FROM runs WHERE id = $1")
            .bind(self.inner.lease.run_id)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(database_error)?;
        decode(input)
    }

    /// Runs `part` once for this step of this run (in this generation): if `key` is already done
    /// its stored value is returned; otherwise `part` runs and its value is stored durably before
    /// it is returned. Both the check and the write are fenced on the attempt's lease, so an
    /// attempt that lost its lease neither starts new parts nor records them. The write holds the
    /// task's row (`FOR SHARE`) while it checks the lease: a release or rescue of the task
    /// (an `UPDATE`, which takes `FOR NO KEY UPDATE`) either waits for the memo to commit or is
    /// waited for and then seen.
    pub async fn memo<T, F>(&self, key: &str, part: F) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, StepError>>,
    {
        let lease = &self.inner.lease;
        let (stored, owned): (Option<Value>, bool) = sqlx::query_as(
            "SELECT (SELECT value FROM memos
                     WHERE run_id = $1 AND generation = $2 AND step_index = $3 AND key = $6
                       AND superseded_at IS NULL),
                    EXISTS (SELECT 1 FROM tasks
                            WHERE run_id = $1 AND generation = $2 AND step_index = $3
                              AND attempt = $4 AND lease_owner = $5)",
        )
        .bind(lease.run_id)
        .bind(lease.generation)
        .bind(lease.step_index)
        .bind(lease.attempt)
        .bind(lease.worker_id)
        .bind(key)
        .fetch_one(&self.inner.pool)
        .await
        .map_err(database_error)?;
        if !owned {
            return Err(StepError::lease_lost());
        }
        if let Some(stored) = stored {
            return decode(stored);
        }
        let value = part.await?;
        self.inner.pauses.reach(PausePoint::MemoWrite).await;
        let recorded = sqlx::query(
            "WITH owned AS (
                 SELECT 1 FROM tasks
                 WHERE run_id = $1 AND generation = $2 AND step_index = $3
                   AND attempt = $4 AND lease_owner = $5
                 FOR SHARE
             )
             INSERT INTO memos (run_id, step_index, key, generation, value, attempt)
             SELECT $1, $3, $6, $2, $7, $4 FROM owned
             ON CONFLICT DO NOTHING",
        )
        .bind(lease.run_id)
        .bind(lease.generation)
        .bind(lease.step_index)
        .bind(lease.attempt)
        .bind(lease.worker_id)
        .bind(key)
        .bind(Json(&value))
        .execute(&self.inner.pool)
        .await
        .map_err(database_error)?;
        if recorded.rows_affected() == 0 {
            return Err(StepError::lease_lost());
        }
        Ok(value)
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, StepError> {
    serde_json::from_value(value).map_err(|e| {
        StepError::permanent(
            "invalid_journal",
            format!("a stored value does not parse: {e}"),
        )
    })
}

fn database_error(error: sqlx::Error) -> StepError {
    StepError::retryable("database", error.to_string())
}
