//! The hand-off: the one transaction that moves a run on after an attempt. Finished attempts are
//! batched (whatever piled up while the last batch committed; a lone one commits at once), and
//! each batch is one set-based statement that, for every attempt that still holds its lease,
//! writes the checkpoint and its cost, moves the task on (kept by this worker, queued, retried
//! later or removed), finishes the run, and records the events. The workflow's hook runs in the
//! same transaction. Results of attempts that lost their lease are dropped, with an event;
//! every outcome is keyed by the attempt, since a stale result and the current one of the same
//! run may share a batch. A commit that fails for a transient reason is made again from memory:
//! only a lost lease drops a result.

use std::{collections::HashSet, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::{
    batch::{Action, Item},
    statement::write,
};
use crate::{
    connection::{is_transient, Dedicated},
    hook::{HookError, Transition, TransitionKind},
    ids::RunId,
    lease::Lease,
    pause::{PausePoint, PausePoints},
    signal,
    step_error::StepError,
    task::Attempt,
    wait::Wait,
    workflow::run_hooks,
};
pub(crate) use batch::{Finished, HandOff, Outcome};

mod batch;
mod children;
mod statement;

/// The most attempts one hand-off transaction takes.
const MAX_BATCH: usize = 512;

/// Commits the hand-offs of one worker.
pub(crate) struct Completer {
    pub conn: Dedicated,
    pub worker_id: Uuid,
    pub finished: mpsc::Receiver<Finished>,
    pub pauses: PausePoints,
    /// Cancelled when the worker stops waiting for results it could not commit yet.
    pub give_up: CancellationToken,
}

impl Completer {
    /// Commits batches until every sender is gone.
    pub async fn run(mut self) {
        while let Some(first) = self.finished.recv().await {
            self.pauses.reach(PausePoint::HandOffBatch).await;
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

    async fn hand_off(&mut self, mut batch: Vec<Item>) {
        match self.commit(&batch).await {
            Ok(fenced) => reply(batch, &fenced),
            Err(error) if batch.len() > 1 => {
                tracing::warn!(%error, size = batch.len(), "hand-off batch failed; committing one by one");
                for item in batch {
                    Box::pin(self.hand_off(vec![item])).await;
                }
            }
            Err(error) => {
                let item = batch.pop().expect("one item");
                self.commit_again(item, error).await;
            }
        }
    }

    /// Commits a result whose commit failed. After a transient failure (the connection, a
    /// deadlock, a serialization failure) the same commit is made again, after a backoff, for as
    /// long as it takes: only a lost lease drops a result (or the worker's shutdown, once its
    /// grace is over). When the database refuses this very result, running the step again would
    /// make the same one, so the step fails for good instead; a failure that cannot be stored
    /// either is dropped, and the heartbeat gives its task back.
    async fn commit_again(&mut self, mut item: Item, mut error: HandOffError) {
        let lease = item.finished.attempt.lease;
        let mut delays = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(5))
            .without_max_times()
            .with_jitter()
            .build();
        loop {
            if error.is_transient() {
                tracing::warn!(run.id = %lease.run_id, %error, "hand-off failed; committing it again");
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.give_up.cancelled() => {
                        tracing::error!(run.id = %lease.run_id, "shutting down; uncommitted result dropped");
                        let _ = item.finished.reply.send(HandOff::Dropped);
                        return;
                    }
                }
            } else if matches!(item.finished.outcome, Outcome::Succeeded { .. }) {
                tracing::error!(run.id = %lease.run_id, %error, "the database refused the step's result; failing the step");
                let refused = StepError::permanent(
                    "handoff_refused",
                    "the step's result could not be stored",
                );
                item = Item::new(Finished {
                    outcome: Outcome::Failed(refused),
                    ..item.finished
                });
            } else {
                tracing::error!(run.id = %lease.run_id, %error, "hand-off refused; result dropped");
                let _ = item.finished.reply.send(HandOff::Dropped);
                return;
            }
            match self.commit(std::slice::from_ref(&item)).await {
                Ok(fenced) => return reply(vec![item], &fenced),
                Err(again) => error = again,
            }
        }
    }

    /// Commits `batch`; returns the positions of the attempts that still held their lease.
    async fn commit(&mut self, batch: &[Item]) -> Result<Fenced, HandOffError> {
        let worker_id = self.worker_id;
        let committed = async {
            let conn = self.conn.get_for(batch.len()).await?;
            let one_statement = batch.iter().all(|i| {
                i.finished.attempt.workflow.hook.is_none()
                    && !matches!(i.action, Action::Wait(_))
                    && i.finished.attempt.lease.child.is_none()
            });
            let fenced = if one_statement {
                fenced(write(&mut *conn, worker_id, batch).await?)
            } else {
                commit_in_transaction(&mut *conn, worker_id, batch).await?
            };
            wake_parents(conn, batch, &fenced).await;
            Ok(fenced)
        }
        .await;
        if committed.as_ref().is_err_and(HandOffError::is_transient) {
            self.conn.reset();
        }
        committed
    }
}

/// Commits a batch that needs more than its one statement: children's attempts, the workflows'
/// hooks, and the resumes of runs that park while their signal is already there. The statement holds the parked runs'
/// tasks, so a signal sent meanwhile either committed before the resume's snapshot (and the
/// resume takes it) or waits for this commit and then finds the run waiting.
async fn commit_in_transaction(
    conn: &mut PgConnection,
    worker_id: Uuid,
    batch: &[Item],
) -> Result<Fenced, HandOffError> {
    let mut tx = conn.begin().await?;
    let mut fenced = fenced(write(&mut tx, worker_id, batch).await?);
    fenced.extend(self::fenced(
        children::write(&mut tx, worker_id, batch).await?,
    ));
    let parked: Vec<RunId> = batch
        .iter()
        .enumerate()
        .filter(|(position, item)| {
            fenced.contains(position) && matches!(item.action, Action::Wait(_))
        })
        .map(|(_, item)| item.finished.attempt.lease.run_id)
        .collect();
    if !parked.is_empty() {
        signal::resume(&mut tx, &parked).await?;
    }
    let transitions = transitions(batch, &fenced);
    run_hooks(&mut tx, &transitions)
        .await
        .map_err(HandOffError::Hook)?;
    tx.commit().await?;
    Ok(fenced)
}

/// Wakes, once their hand-offs committed, the steps whose children may all have finished: those
/// that just parked to wait for them, and the parents of the children that just finished. Left to
/// the scheduler's sweep if it fails.
async fn wake_parents(conn: &mut PgConnection, batch: &[Item], fenced: &Fenced) {
    let mut parents: Vec<RunId> = batch
        .iter()
        .enumerate()
        .filter(|(position, item)| {
            let child = item.finished.attempt.lease.child.is_some();
            let finished = matches!(item.action, Action::Complete | Action::Fail(_));
            fenced.contains(position)
                && ((child && finished) || matches!(item.action, Action::Await(_)))
        })
        .map(|(_, item)| item.finished.attempt.lease.run_id)
        .collect();
    if parents.is_empty() {
        return;
    }
    parents.sort();
    parents.dedup();
    if let Err(error) = crate::children::wake(conn, Some(&parents)).await {
        tracing::warn!(%error, "waking steps after their children failed; the scheduler will");
    }
}

/// The positions in a batch of the attempts that passed the fence.
type Fenced = HashSet<usize>;

fn fenced(items: Vec<i32>) -> Fenced {
    items.into_iter().map(|i| i as usize).collect()
}

#[derive(Debug, thiserror::Error)]
enum HandOffError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("hook failed: {0}")]
    Hook(HookError),
}

impl HandOffError {
    /// Whether the same commit may succeed if made again.
    fn is_transient(&self) -> bool {
        match self {
            Self::Database(error) => is_transient(error),
            Self::Hook(error) => error.downcast_ref().is_some_and(is_transient),
        }
    }
}

/// The hook's view of the attempts that passed the fence.
fn transitions<'a>(
    batch: &'a [Item],
    fenced: &Fenced,
) -> Vec<(&'a crate::workflow::WorkflowDef, Transition<'a>)> {
    let mut out = Vec::new();
    for (position, item) in batch.iter().enumerate() {
        // A child's attempts are no step's transitions.
        if !fenced.contains(&position) || item.finished.attempt.lease.child.is_some() {
            continue;
        }
        let attempt = &item.finished.attempt;
        let run_id = attempt.lease.run_id;
        let def = &*attempt.workflow;
        let step = item.step_name();
        let step_index = attempt.lease.step_index as usize;
        let mut push = |kind| out.push((def, Transition { run_id, kind }));
        match &item.finished.outcome {
            Outcome::Succeeded {
                output, cost_usd, ..
            } => push(TransitionKind::StepCompleted {
                step,
                step_index,
                output: &output.value,
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
            Outcome::Interrupted | Outcome::AwaitingChildren(_) => {}
        }
        match &item.action {
            Action::Keep => push(TransitionKind::StepStarted {
                step: item.next_step().expect("a next step"),
                step_index: step_index + 1,
                attempt: 1,
            }),
            Action::Complete => push(TransitionKind::RunCompleted),
            Action::Sleep(until) => push(TransitionKind::Sleeping {
                step: item.next_step().expect("a next step"),
                until: *until,
            }),
            Action::Wait(wait) => push(TransitionKind::Waiting {
                step: item.next_step().expect("a next step"),
                signal: &wait.signal,
                deadline: wait.deadline,
            }),
            Action::Fail(error) => push(TransitionKind::RunFailed { error }),
            Action::Enqueue | Action::Retry(_) | Action::Release | Action::Await(_) => {}
        }
    }
    out
}

fn until_from_now(at: chrono::DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or_default()
}

/// Answers every attempt of a committed batch.
fn reply(batch: Vec<Item>, fenced: &Fenced) {
    for (position, item) in batch.into_iter().enumerate() {
        let Item { finished, action } = item;
        let lease = finished.attempt.lease;
        let answer = if !fenced.contains(&position) {
            tracing::warn!(run.id = %lease.run_id, attempt = lease.attempt,
                "late result dropped: the attempt no longer held its lease");
            HandOff::Dropped
        } else {
            match (action, finished.outcome) {
                (Action::Keep, Outcome::Succeeded { output, .. }) => {
                    let attempt = finished.attempt;
                    let next = attempt.lease.step_index as usize + 1;
                    HandOff::Next(Box::new(Attempt {
                        lease: Lease {
                            step_index: next as i32,
                            attempt: 1,
                            ..lease
                        },
                        step_name: attempt.workflow.steps[next].name.to_owned(),
                        workflow: attempt.workflow,
                        input: output.value,
                        leased_at: Utc::now(),
                        interrupted: 0,
                        suspended: 0,
                        expired: None,
                    }))
                }
                (Action::Retry(delay), _) => HandOff::Retrying(delay),
                (Action::Sleep(until), _) => HandOff::Later(until_from_now(until)),
                (
                    Action::Wait(Wait {
                        deadline: Some(deadline),
                        ..
                    }),
                    _,
                ) => HandOff::Later(until_from_now(deadline)),
                _ => HandOff::Done,
            }
        };
        let _ = finished.reply.send(answer);
    }
}
