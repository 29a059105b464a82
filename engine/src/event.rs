//! Events: the append-only history of each run. The engine writes them in the same transactions
//! that move runs on, and trims them only past the configured retention.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{error::Result, ids::RunId};

/// What happened to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "event_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    RunStarted,
    StepStarted,
    StepCompleted,
    StepFailed,
    RetryScheduled,
    /// A late result of an attempt that no longer held its lease, dropped by the fence.
    ResultDropped,
    /// The scheduler took a task back from a dead or silent worker.
    LeaseExpired,
    /// A worker shutting down gave a task back.
    LeaseReleased,
    Replayed,
    Cancelled,
    RunCompleted,
    RunFailed,
    /// A step put its run's next step off until a time.
    Sleeping,
    /// A step parked its run until a signal.
    Waiting,
    /// A signal was sent to the run (and kept, or consumed at once).
    SignalReceived,
    /// A waiting run's next step fell due: its signal came, or its deadline passed.
    Resumed,
    /// A fork of the run was started (its id is in the detail).
    Forked,
    /// A step's children run; the step runs again when they let it.
    AwaitingChildren,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunStarted => "run_started",
            Self::StepStarted => "step_started",
            Self::StepCompleted => "step_completed",
            Self::StepFailed => "step_failed",
            Self::RetryScheduled => "retry_scheduled",
            Self::ResultDropped => "result_dropped",
            Self::LeaseExpired => "lease_expired",
            Self::LeaseReleased => "lease_released",
            Self::Replayed => "replayed",
            Self::Cancelled => "cancelled",
            Self::RunCompleted => "run_completed",
            Self::RunFailed => "run_failed",
            Self::Sleeping => "sleeping",
            Self::Waiting => "waiting",
            Self::SignalReceived => "signal_received",
            Self::Resumed => "resumed",
            Self::Forked => "forked",
            Self::AwaitingChildren => "awaiting_children",
        }
    }
}

/// One row of a run's history. `id` grows with time across all runs.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Event {
    pub id: i64,
    pub run_id: RunId,
    pub kind: EventKind,
    pub step: Option<String>,
    pub attempt: Option<i32>,
    pub worker_id: Option<Uuid>,
    pub detail: Option<Value>,
    pub at: DateTime<Utc>,
}

pub(crate) async fn list(pool: &PgPool, run_id: RunId, after: Option<i64>) -> Result<Vec<Event>> {
    Ok(sqlx::query_as(
        "SELECT id, run_id, kind, step, attempt, worker_id, detail, at FROM events
         WHERE run_id = $1 AND id > $2 ORDER BY id",
    )
    .bind(run_id)
    .bind(after.unwrap_or(0))
    .fetch_all(pool)
    .await?)
}
