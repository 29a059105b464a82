//! How a step may end other than by going on at once: by putting its run's next step off until
//! a time ([`StepContext::continue_at`](crate::StepContext::continue_at), a durable sleep) or
//! until a signal ([`StepContext::wait_for`](crate::StepContext::wait_for)), or by running
//! again once its children let it ([`StepContext::fan_out`](crate::StepContext::fan_out)).
//! Whichever, the task is given up meanwhile: no lease, no worker slot.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a step's run waits for a signal before its next step: the signal's name (one the workflow
/// declares), until when, and what happens if the deadline comes first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wait {
    pub signal: String,
    /// No deadline when `None`: the run waits until the signal comes, or it is cancelled.
    pub deadline: Option<DateTime<Utc>>,
    pub on_deadline: OnDeadline,
}

/// What a wait does when its deadline passes without the signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeadline {
    /// The run fails at the next step with this error code.
    Fail { code: String },
    /// The next step runs with this payload as the signal's.
    Continue { payload: Value },
}

impl Wait {
    /// Waits for `signal` with no deadline.
    pub fn for_signal(signal: impl Into<String>) -> Self {
        Self {
            signal: signal.into(),
            deadline: None,
            on_deadline: OnDeadline::Fail {
                code: "wait_expired".to_owned(),
            },
        }
    }

    /// At `deadline`, the run fails with the error code `code`.
    pub fn or_fail_at(mut self, deadline: DateTime<Utc>, code: impl Into<String>) -> Self {
        self.deadline = Some(deadline);
        self.on_deadline = OnDeadline::Fail { code: code.into() };
        self
    }

    /// At `deadline`, the run goes on as if the signal had come with `payload`.
    pub fn or_continue_at<T: Serialize>(mut self, deadline: DateTime<Utc>, payload: &T) -> Self {
        self.deadline = Some(deadline);
        self.on_deadline = OnDeadline::Continue {
            payload: serde_json::to_value(payload).unwrap_or(Value::Null),
        };
        self
    }
}

/// How a step asked its run to go on, when not at once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Then {
    ContinueAt(DateTime<Utc>),
    Wait(Wait),
    /// The step runs again once its children let it (see [`crate::children`]).
    AwaitChildren(Policy),
}

/// When a parked step falls due again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// When every child has finished, failed or not.
    All,
    /// When every child has finished, or as soon as one has failed for good.
    FirstFailure,
}

impl Policy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::FirstFailure => "first_failure",
        }
    }
}
