//! The error a step returns, classified by whether another attempt may succeed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why an attempt of a step failed. Retryable errors (timeouts, 5xx, 429) are re-queued with a
/// backoff while the step's retry policy allows; permanent ones (an invalid plan, a 4xx) fail the
/// run at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StepError {
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// A stable, machine-readable name of the failure (`timeout`, `invalid_plan`, ...).
    pub code: String,
    /// What happened, for people.
    pub message: String,
    /// The least delay before the next attempt, when the failing service said so (Retry-After).
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

impl StepError {
    /// A failure that another attempt may not repeat.
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(true, code, message)
    }

    /// A failure that every attempt would repeat: the run fails at once.
    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(false, code, message)
    }

    /// Asks for at least `delay` before the next attempt.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    fn new(retryable: bool, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            retryable,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure of the database a step's context talks to: another attempt may find it back.
    pub(crate) fn database(error: sqlx::Error) -> Self {
        Self::retryable("database", error.to_string())
    }

    pub(crate) fn timeout(limit: Duration) -> Self {
        Self::retryable(
            "timeout",
            format!("the step ran past its {} s timeout", limit.as_secs_f64()),
        )
    }

    pub(crate) fn lease_lost() -> Self {
        Self::retryable(
            "lease_lost",
            "the attempt lost its lease (its worker stopped, died or was cut off)",
        )
    }

    /// What [`crate::StepContext::fan_out`] returns while children run: the step ends here, and
    /// runs again once they let it.
    pub(crate) fn awaiting_children() -> Self {
        Self::retryable(
            "awaiting_children",
            "the step's children are running; it runs again when they have finished",
        )
    }

    /// A step whose attempts were interrupted `times` times, more than the engine allows.
    pub(crate) fn interrupted_too_often(times: i32) -> Self {
        Self::permanent(
            "interrupted_too_often",
            format!(
                "{times} attempts were interrupted (their workers died, stalled or shut down); \
                 the step may be what takes them down"
            ),
        )
    }
}
