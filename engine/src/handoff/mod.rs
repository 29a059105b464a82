//! The hand-off: the one transaction that moves a run on after an attempt. Finished attempts are
//! batched (whatever piled up while the last batch committed; a lone one commits at once), and
//! each batch is one set-based statement that, for every attempt that still holds its lease,
//! writes the checkpoint and its cost, moves the task on (kept by this worker, queued, retried
//! later or removed), finishes the run, and records the events. The workflow's hook runs in the
//! same transaction. Results of attempts that lost their lease are dropped, with an event.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use self::statement::write;
use crate::{
    connection::Dedicated,
    context::Lease,
    hook::{run_hooks, HookError, Transition, TransitionKind},
    run::{RunError, RunId},
    step_error::StepError,
    task::Attempt,
};

mod statement;

/// The most attempts one hand-off transaction takes.
const MAX_BATCH: usize = 512;

/// How an attempt ended.
pub(crate) enum Outcome {
    Succeeded { output: Value, cost_usd: f64 },
    Failed(StepError),
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
    Next(Attempt),
    /// Committed; nothing more for this worker to do.
    Done,
    /// Committed; the step is due again after this delay.
    Retrying(Duration),
    /// Not committed: the attempt no longer held its lease, or the database refused.
    Dropped,
}

/// What the hand-off does with the run.
enum Action {
    /// Checkpoint, and lease the next step to this worker.
    Keep,
    /// Checkpoint, and queue the next step for any worker.
    Enqueue,
    /// Checkpoint the last step and complete the run.
    Complete,
    /// Queue the same step again after a delay.
    Retry(Duration),
    /// Fail the run.
    Fail(RunError),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Enqueue => "enqueue",
            Self::Complete => "complete",
            Self::Retry(_) => "retry",
            Self::Fail(_) => "fail",
        }
    }

    fn plan(finished: &Finished) -> Self {
        let attempt = &finished.attempt;
        let last = attempt.lease.step_index as usize + 1 == attempt.workflow.steps.len();
        match &finished.outcome {
            Outcome::Succeeded { .. } if last => Self::Complete,
            Outcome::Succeeded { .. } if finished.keep_next => Self::Keep,
            Outcome::Succeeded { .. } => Self::Enqueue,
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
                        attempts: attempt.lease.attempt as u32,
                    }),
                }
            }
        }
    }
}

struct Item {
    finished: Finished,
    action: Action,
}

impl Item {
    fn new(finished: Finished) -> Self {
        let action = Action::plan(&finished);
        Self { finished, action }
    }

    fn next_step(&self) -> Option<&'static str> {
        let attempt = &self.finished.attempt;
        attempt
            .workflow
            .steps
            .get(attempt.lease.step_index as usize + 1)
            .map(|s| s.name)
    }

    fn step_name(&self) -> &'static str {
        self.finished.attempt.step().map_or("unknown", |s| s.name)
    }
}

/// Commits the hand-offs of one worker.
pub(crate) struct Completer {
    pub conn: Dedicated,
    pub worker_id: Uuid,
    pub finished: mpsc::Receiver<Finished>,
}

impl Completer {
    /// Commits batches until every sender is gone.
    pub async fn run(mut self) {
        while let Some(first) = self.finished.recv().await {
            let mut batch = vec![Item::new(first)];
            while batch.len() < MAX_BATCH {
                match self.finished.try_recv() {
                    Ok(finished) => batch.push(Item::new(finished)),
                    Err(_) => break,
                }
            }
            self.hand_off(batch).await;
        }
    }

    async fn hand_off(&mut self, batch: Vec<Item>) {
        match self.commit(&batch).await {
            Ok(fenced) => reply(batch, &fenced),
            Err(error) if batch.len() > 1 => {
                tracing::warn!(%error, size = batch.len(), "hand-off batch failed; committing one by one");
                for item in batch {
                    Box::pin(self.hand_off(vec![item])).await;
                }
            }
            Err(error) => self.fail_alone(batch, error).await,
        }
    }

    /// A hand-off that failed alone becomes a retryable failure of its attempt; if even that
    /// cannot commit, the result is dropped and the heartbeat later gives the task back.
    async fn fail_alone(&mut self, mut batch: Vec<Item>, error: HandOffError) {
        let item = batch.pop().expect("one item");
        let lease = item.finished.attempt.lease;
        if matches!(item.finished.outcome, Outcome::Succeeded { .. }) {
            tracing::warn!(run.id = %lease.run_id, %error, "hand-off failed; retrying the step");
            let finished = Finished {
                outcome: Outcome::Failed(StepError::retryable("handoff_failed", error.to_string())),
                ..item.finished
            };
            return Box::pin(self.hand_off(vec![Item::new(finished)])).await;
        }
        tracing::error!(run.id = %lease.run_id, %error, "hand-off failed; result dropped");
        let _ = item.finished.reply.send(HandOff::Dropped);
    }

    /// Commits `batch`; returns the runs whose attempts still held their lease.
    async fn commit(&mut self, batch: &[Item]) -> Result<HashSet<RunId>, HandOffError> {
        let worker_id = self.worker_id;
        let committed = async {
            let conn = self.conn.get_for(batch.len()).await?;
            let hooked = batch
                .iter()
                .any(|i| i.finished.attempt.workflow.hook.is_some());
            if !hooked {
                return Ok(write(conn, worker_id, batch).await?.into_iter().collect());
            }
            commit_hooked(conn, worker_id, batch).await
        }
        .await;
        if matches!(committed, Err(HandOffError::Database(_))) {
            self.conn.reset();
        }
        committed
    }
}

async fn commit_hooked(
    conn: &mut PgConnection,
    worker_id: Uuid,
    batch: &[Item],
) -> Result<HashSet<RunId>, HandOffError> {
    let mut tx = conn.begin().await?;
    let fenced: HashSet<RunId> = write(&mut tx, worker_id, batch)
        .await?
        .into_iter()
        .collect();
    let transitions = transitions(batch, &fenced);
    run_hooks(&mut tx, &transitions)
        .await
        .map_err(HandOffError::Hook)?;
    tx.commit().await?;
    Ok(fenced)
}

#[derive(Debug, thiserror::Error)]
enum HandOffError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("hook failed: {0}")]
    Hook(HookError),
}

/// The hook's view of the attempts that passed the fence.
fn transitions<'a>(
    batch: &'a [Item],
    fenced: &HashSet<RunId>,
) -> Vec<(&'a crate::workflow::WorkflowDef, Transition<'a>)> {
    let mut out = Vec::new();
    for item in batch {
        let attempt = &item.finished.attempt;
        let run_id = attempt.lease.run_id;
        if !fenced.contains(&run_id) {
            continue;
        }
        let def = &*attempt.workflow;
        let step = item.step_name();
        let step_index = attempt.lease.step_index as usize;
        let mut push = |kind| out.push((def, Transition { run_id, kind }));
        match &item.finished.outcome {
            Outcome::Succeeded { output, cost_usd } => push(TransitionKind::StepCompleted {
                step,
                step_index,
                output,
                cost_usd: *cost_usd,
            }),
            Outcome::Failed(error) => {
                if let Action::Retry(delay) = &item.action {
                    let delay = chrono::Duration::from_std(*delay).unwrap_or_default();
                    push(TransitionKind::RetryScheduled {
                        step,
                        attempt: attempt.lease.attempt as u32,
                        error,
                        run_at: Utc::now() + delay,
                    });
                }
            }
        }
        match &item.action {
            Action::Keep => push(TransitionKind::StepStarted {
                step: item.next_step().expect("a next step"),
                step_index: step_index + 1,
                attempt: 1,
            }),
            Action::Complete => push(TransitionKind::RunCompleted),
            Action::Fail(error) => push(TransitionKind::RunFailed { error }),
            Action::Enqueue | Action::Retry(_) => {}
        }
    }
    out
}

/// Answers every attempt of a committed batch.
fn reply(batch: Vec<Item>, fenced: &HashSet<RunId>) {
    for item in batch {
        let Item { finished, action } = item;
        let lease = finished.attempt.lease;
        let answer = if !fenced.contains(&lease.run_id) {
            tracing::warn!(run.id = %lease.run_id, attempt = lease.attempt,
                "late result dropped: the attempt no longer held its lease");
            HandOff::Dropped
        } else {
            match (action, finished.outcome) {
                (Action::Keep, Outcome::Succeeded { output, .. }) => {
                    let attempt = finished.attempt;
                    let next = attempt.lease.step_index as usize + 1;
                    HandOff::Next(Attempt {
                        lease: Lease {
                            step_index: next as i32,
                            attempt: 1,
                            ..lease
                        },
                        step_name: attempt.workflow.steps[next].name.to_owned(),
                        workflow: attempt.workflow,
                        input: output,
                        leased_at: Utc::now(),
                        interrupted: 0,
                    })
                }
                (Action::Retry(delay), _) => HandOff::Retrying(delay),
                _ => HandOff::Done,
            }
        };
        let _ = finished.reply.send(answer);
    }
}
