//! One batch of a hand-off: each finished attempt, how it ended, and the action planned for its
//! task (keep, enqueue, complete, retry, release or fail), which the statement then applies.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::{
    artifact::Journaled,
    ids::RunError,
    step_error::StepError,
    task::Attempt,
    wait::{Policy, Then, Wait},
};

/// How an attempt ended.
pub(crate) enum Outcome {
    Succeeded {
        /// The output and the artifacts it names.
        output: Journaled,
        cost_usd: f64,
        /// How the run goes on, when not at once (never after the last step).
        then: Option<Then>,
    },
    Failed(StepError),
    /// It was stopped because its worker lost the liveness lock, and did not succeed: not a try
    /// of the step, but an interruption, like a crash of its worker.
    Interrupted,
    /// It started children that still run: the step runs again once they let it.
    AwaitingChildren(Policy),
}

/// A finished attempt waiting for its hand-off.
pub(crate) struct Finished {
    pub attempt: Attempt,
    pub outcome: Outcome,
    /// Whether this worker may keep the run's next step and start it at once.
    pub keep_next: bool,
    pub reply: oneshot::Sender<HandOff>,
}

/// What became of a finished attempt.
pub(crate) enum HandOff {
    /// Committed, and the run's next step is leased to this worker: run it now.
    Next(Box<Attempt>),
    /// Committed; nothing more for this worker to do.
    Done,
    /// Committed; the step is due again after this delay.
    Retrying(Duration),
    /// Committed; the run's next step is due after this delay (a sleep, or a wait's deadline).
    Later(Duration),
    /// Not committed: the attempt no longer held its lease, or the database refused.
    Dropped,
}

/// What the hand-off does with the run.
pub(super) enum Action {
    /// Checkpoint, and lease the next step to this worker.
    Keep,
    /// Checkpoint, and queue the next step for any worker.
    Enqueue,
    /// Checkpoint the last step and complete the run.
    Complete,
    /// Checkpoint, and queue the next step for any worker from this time on.
    Sleep(DateTime<Utc>),
    /// Checkpoint, and park the run until a signal (or the wait's deadline).
    Wait(Wait),
    /// Queue the same step again after a delay.
    Retry(Duration),
    /// Give the task back for any worker, counting the attempt as interrupted.
    Release,
    /// Park the task until the step's children let it run again.
    Await(Policy),
    /// Fail the run.
    Fail(RunError),
}

impl Action {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Enqueue => "enqueue",
            Self::Complete => "complete",
            Self::Sleep(_) => "sleep",
            Self::Wait(_) => "wait",
            Self::Retry(_) => "retry",
            Self::Release => "release",
            Self::Await(_) => "await",
            Self::Fail(_) => "fail",
        }
    }

    fn plan(finished: &Finished) -> Self {
        let attempt = &finished.attempt;
        let index = attempt.lease.step_index as usize;
        // A child's success completes the child.
        let last = attempt.lease.child.is_some() || index + 1 == attempt.workflow.steps.len();
        match &finished.outcome {
            Outcome::Succeeded { .. } if last => Self::Complete,
            Outcome::Succeeded {
                then: Some(Then::ContinueAt(at)),
                ..
            } => Self::Sleep(*at),
            Outcome::Succeeded {
                then: Some(Then::Wait(wait)),
                ..
            } => Self::Wait(wait.clone()),
            // A limited next step waits for a claim, which counts its key's attempts.
            Outcome::Succeeded { .. }
                if finished.keep_next && attempt.workflow.limit_key(index + 1).is_none() =>
            {
                Self::Keep
            }
            Outcome::Succeeded { .. } => Self::Enqueue,
            Outcome::Interrupted => Self::Release,
            Outcome::AwaitingChildren(policy) => Self::Await(*policy),
            Outcome::Failed(error) => {
                let delay = attempt
                    .step()
                    .filter(|_| error.retryable)
                    .and_then(|step| step.retry.delay_after(attempt.tries()));
                match delay {
                    Some(delay) => Self::Retry(delay.max(error.retry_after.unwrap_or_default())),
                    None => Self::Fail(RunError {
                        step: attempt.step_name.clone(),
                        code: error.code.clone(),
                        message: error.message.clone(),
                        attempts: attempt.tries(),
                    }),
                }
            }
        }
    }
}

pub(super) struct Item {
    pub finished: Finished,
    pub action: Action,
}

impl Item {
    pub(super) fn new(finished: Finished) -> Self {
        let action = Action::plan(&finished);
        Self { finished, action }
    }

    pub(super) fn next_step(&self) -> Option<&'static str> {
        let attempt = &self.finished.attempt;
        attempt
            .workflow
            .steps
            .get(attempt.lease.step_index as usize + 1)
            .map(|s| s.name)
    }

    /// The limit key of the run's next step, if it has one.
    pub(super) fn next_limit_key(&self) -> Option<&str> {
        let attempt = &self.finished.attempt;
        attempt
            .workflow
            .limit_key(attempt.lease.step_index as usize + 1)
    }

    /// Whether the attempt's own step is limited: its end frees room under its key.
    pub(super) fn limited(&self) -> bool {
        let attempt = &self.finished.attempt;
        attempt
            .workflow
            .limit_key(attempt.lease.step_index as usize)
            .is_some()
    }

    pub(super) fn step_name(&self) -> &'static str {
        self.finished.attempt.step().map_or("unknown", |s| s.name)
    }
}
