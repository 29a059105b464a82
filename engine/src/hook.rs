//! The application hook: code of the application that runs inside the engine's own transactions,
//! so that what it writes (the API's projection) commits with the journal or not at all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ids::{RunError, RunId},
    step_error::StepError,
};

/// What a hook may fail with; the transaction it runs in is then rolled back.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Called with the transitions of a workflow's runs inside the transaction that commits them.
/// Transitions arrive in batches (one claim or one hand-off may move many runs) and in order
/// within each run.
#[async_trait]
pub trait Hook: Send + Sync + 'static {
    async fn on_transitions(
        &self,
        conn: &mut PgConnection,
        transitions: &[Transition<'_>],
    ) -> Result<(), HookError>;
}

/// A change of one run.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub run_id: RunId,
    pub kind: TransitionKind<'a>,
}

/// What changed.
#[derive(Debug, Clone)]
pub enum TransitionKind<'a> {
    /// An attempt of `step` began.
    StepStarted {
        step: &'static str,
        step_index: usize,
        attempt: u32,
    },
    /// `step` was checkpointed with `output`.
    StepCompleted {
        step: &'static str,
        step_index: usize,
        output: &'a Value,
        cost_usd: f64,
    },
    /// An attempt of `step` failed and the next one is due at `run_at`.
    RetryScheduled {
        step: &'static str,
        attempt: u32,
        error: &'a StepError,
        run_at: DateTime<Utc>,
    },
    /// The run's next step, `step`, was put off until `until` (a sleep).
    Sleeping {
        step: &'static str,
        until: DateTime<Utc>,
    },
    /// The run was parked before `step` until signal `signal` comes, or `deadline` passes.
    Waiting {
        step: &'static str,
        signal: &'a str,
        deadline: Option<DateTime<Utc>>,
    },
    /// The last step was checkpointed.
    RunCompleted,
    /// The run failed for good.
    RunFailed { error: &'a RunError },
    /// An operator replayed the run from `step`.
    Replayed {
        step: &'static str,
        step_index: usize,
    },
    /// The run was cancelled.
    Cancelled,
}
