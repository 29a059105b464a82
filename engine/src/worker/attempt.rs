//! An attempt's life on its worker: running the step under its timeout and its run's
//! cancellation, handing the result to the completer, and going on with the run's next step
//! while the hand-off leaves it to this worker.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use futures::FutureExt;
use tokio::{
    sync::{mpsc, oneshot, OwnedSemaphorePermit},
    time::Instant,
};
use tracing::Instrument;

use super::{
    stopper::{StopCause, Stopper},
    Running, Shared,
};
use crate::{
    handoff::{Finished, HandOff, Outcome},
    pause::PausePoint,
    step_error::StepError,
    task::{Attempt, MAX_INTERRUPTIONS},
    wait::{OnDeadline, Then, Wait},
    workflow::{StepDef, WorkflowDef},
    {context::StepContext, lease::Lease},
};

impl Shared {
    /// Runs an attempt, hands its result on, and goes on with the run's next step while the
    /// hand-off leaves it to this worker.
    pub(super) async fn drive(
        self: Arc<Self>,
        mut attempt: Attempt,
        finished: mpsc::Sender<Finished>,
        _slot: OwnedSemaphorePermit,
    ) {
        let mut registration = Registration::new(self.clone(), attempt.lease);
        loop {
            let began = Instant::now();
            let outcome = self.execute(&mut attempt, &registration.stopper).await;
            let workflow = attempt.workflow.name;
            let step = attempt.step().map_or("unknown", |step| step.name);
            self.engine.metrics.attempt_finished(
                workflow,
                step,
                matches!(outcome, Outcome::Succeeded { .. }),
                began.elapsed().as_secs_f64(),
            );
            let (reply, answer) = oneshot::channel();
            let next = (attempt.workflow.steps)
                .get(attempt.lease.step_index as usize + 1)
                .filter(|_| attempt.lease.child.is_none());
            let keep_next = self.keep_next.load(Ordering::SeqCst)
                && next.is_some_and(|next| self.config.takes(next.name));
            let sent = finished.send(Finished {
                attempt,
                outcome,
                keep_next,
                reply,
            });
            if sent.await.is_err() {
                return;
            }
            self.engine.pauses.reach(PausePoint::ResultQueued).await;
            match answer.await {
                Ok(HandOff::Next(next)) => {
                    self.engine.pauses.reach(PausePoint::NextLeased).await;
                    registration.advance(next.lease);
                    attempt = *next;
                }
                Ok(HandOff::Retrying(delay)) => {
                    self.engine.metrics.retry_scheduled(workflow, step);
                    return self.wake_after(delay);
                }
                Ok(HandOff::Later(delay)) => return self.wake_after(delay),
                Ok(HandOff::Done | HandOff::Dropped) | Err(_) => return,
            }
        }
    }

    async fn execute(&self, attempt: &mut Attempt, stopper: &Stopper) -> Outcome {
        let stop = stopper.token().clone();
        let lease = attempt.lease;
        let Some(step) = attempt.step().cloned() else {
            return Outcome::Failed(StepError::permanent(
                "workflow_mismatch",
                format!(
                    "step {:?} is not step {} of workflow {:?}",
                    attempt.step_name, lease.step_index, attempt.workflow
                ),
            ));
        };
        if attempt.interrupted > MAX_INTERRUPTIONS {
            return Outcome::Failed(StepError::interrupted_too_often(attempt.interrupted));
        }
        if let Some(Wait {
            signal,
            on_deadline: OnDeadline::Fail { code },
            ..
        }) = &attempt.expired
        {
            return Outcome::Failed(StepError::permanent(
                code.clone(),
                format!("the wait for signal {signal:?} passed its deadline"),
            ));
        }
        let span = tracing::info_span!("step", run.id = %lease.run_id, step = step.name, attempt = lease.attempt);
        let ctx = StepContext::new(
            self.steps.clone(),
            lease,
            step.name,
            stop.clone(),
            self.engine.pauses.clone(),
            attempt.expired.clone(),
            attempt.workflow.rules.clone(),
        );
        let input = std::mem::take(&mut attempt.input);
        let work = AssertUnwindSafe((step.run)(ctx.clone(), input)).catch_unwind();
        let grace = self.config.cancel_grace;
        let stopped = async {
            stop.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        let result = async {
            tokio::select! {
                biased;
                done = tokio::time::timeout(step.timeout, work) => match done {
                    Ok(Ok(result)) => result,
                    Ok(Err(panic)) => Err(StepError::retryable("panicked", panic_message(&*panic))),
                    Err(_) => Err(StepError::timeout(step.timeout)),
                },
                () = stopped => Err(StepError::retryable(
                    "stopped",
                    "the attempt was stopped: its run was cancelled or its lease lost",
                )),
            }
        }
        .instrument(span)
        .await;
        if let Some(Then::AwaitChildren(policy)) = ctx.then() {
            return Outcome::AwaitingChildren(policy);
        }
        match result {
            Ok(output) => match then_allowed(&attempt.workflow, &step, ctx.then()) {
                Ok(then) => Outcome::Succeeded {
                    output,
                    cost_usd: ctx.cost(),
                    then,
                },
                Err(error) => Outcome::Failed(error),
            },
            Err(error) if stopper.cause() == Some(StopCause::LivenessLost) => {
                tracing::warn!(run.id = %lease.run_id, step = step.name, attempt = lease.attempt, %error, "step interrupted: its worker lost the liveness lock");
                Outcome::Interrupted
            }
            Err(error) => {
                tracing::warn!(run.id = %lease.run_id, step = step.name, attempt = lease.attempt, %error, "step failed");
                Outcome::Failed(error)
            }
        }
    }

    /// Wakes the claim loop after `delay` (a retry, a sleep or a wait's deadline of this worker's
    /// falls due then).
    fn wake_after(self: &Arc<Self>, delay: Duration) {
        let shared = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(shared) = shared.upgrade() {
                shared.wake.notify_one();
            }
        });
    }
}

/// An attempt's entry in its worker's table of running attempts, through which cancels and the
/// heartbeat reach it. Each driver removes only its own lease's entry, so that an attempt that
/// ends late never unregisters the one that replaced it.
struct Registration {
    shared: Arc<Shared>,
    lease: Lease,
    stopper: Stopper,
}

impl Registration {
    fn new(shared: Arc<Shared>, lease: Lease) -> Self {
        let stopper = Stopper::default();
        shared.register(lease, &stopper);
        Self {
            shared,
            lease,
            stopper,
        }
    }

    /// Moves the entry on to the run's next attempt, which this driver runs now.
    fn advance(&mut self, next: Lease) {
        self.stopper = Stopper::default();
        let mut running = self.shared.running.lock().expect("running lock");
        running.remove(&self.lease);
        self.lease = next;
        Shared::insert(&mut running, next, &self.stopper);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut running) = self.shared.running.lock() {
            running.remove(&self.lease);
        }
    }
}

impl Shared {
    fn register(&self, lease: Lease, stopper: &Stopper) {
        Self::insert(
            &mut self.running.lock().expect("running lock"),
            lease,
            stopper,
        );
    }

    fn insert(running: &mut HashMap<Lease, Running>, lease: Lease, stopper: &Stopper) {
        let entry = Running {
            stopper: stopper.clone(),
            since: Instant::now(),
        };
        if running.insert(lease, entry).is_some() {
            tracing::error!(?lease, "two attempts of one lease ran on one worker");
        }
    }
}

/// `then`, if the step may end that way: a step must have a step after it to put off, and may
/// wait only for a signal its workflow declares; a child goes on at once.
fn then_allowed(
    workflow: &WorkflowDef,
    step: &StepDef,
    then: Option<Then>,
) -> Result<Option<Then>, StepError> {
    let Some(then) = then else { return Ok(None) };
    if workflow.child(step.name).is_some() {
        return Err(StepError::permanent(
            "nothing_to_resume",
            format!("{} is a child: it cannot sleep or wait", step.name),
        ));
    }
    if workflow
        .steps
        .last()
        .is_some_and(|last| last.name == step.name)
    {
        return Err(StepError::permanent(
            "nothing_to_resume",
            format!("{} is the last step: it cannot sleep or wait", step.name),
        ));
    }
    if let Then::Wait(wait) = &then {
        if !workflow.signals.contains(&wait.signal.as_str()) {
            return Err(StepError::permanent(
                "undeclared_signal",
                format!(
                    "workflow {} declares no signal named {:?}",
                    workflow.name, wait.signal
                ),
            ));
        }
    }
    Ok(Some(then))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .map_or_else(
            || "the step panicked".to_owned(),
            |m| format!("the step panicked: {m}"),
        )
}
