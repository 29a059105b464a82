//! An attempt's life on its worker: running the step under its timeout and its run's
//! cancellation, handing the result to the completer, and going on with the run's next step
//! while the hand-off leaves it to this worker.

use std::{
    panic::AssertUnwindSafe,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use futures::FutureExt;
use tokio::{
    sync::{mpsc, oneshot, OwnedSemaphorePermit},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Running, Shared};
use crate::{
    context::StepContext,
    handoff::{Finished, HandOff, Outcome},
    run::RunId,
    step_error::StepError,
    task::{Attempt, MAX_INTERRUPTIONS},
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
        let run_id = attempt.lease.run_id;
        let _registration = Registration {
            shared: self.clone(),
            run_id,
        };
        loop {
            let stop = CancellationToken::new();
            self.running.lock().expect("running lock").insert(
                run_id,
                Running {
                    stop: stop.clone(),
                    since: Instant::now(),
                },
            );
            let began = Instant::now();
            let outcome = self.execute(&mut attempt, stop).await;
            let workflow = attempt.workflow.name;
            let step = attempt.step().map_or("unknown", |step| step.name);
            self.engine.metrics.attempt_finished(
                workflow,
                step,
                matches!(outcome, Outcome::Succeeded { .. }),
                began.elapsed().as_secs_f64(),
            );
            let (reply, answer) = oneshot::channel();
            let keep_next = self.keep_next.load(Ordering::SeqCst);
            let sent = finished.send(Finished {
                attempt,
                outcome,
                keep_next,
                reply,
            });
            if sent.await.is_err() {
                return;
            }
            match answer.await {
                Ok(HandOff::Next(next)) => attempt = next,
                Ok(HandOff::Retrying(delay)) => {
                    self.engine.metrics.retry_scheduled(workflow, step);
                    return self.wake_after(delay);
                }
                Ok(HandOff::Done | HandOff::Dropped) | Err(_) => return,
            }
        }
    }

    async fn execute(&self, attempt: &mut Attempt, stop: CancellationToken) -> Outcome {
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
        let span = tracing::info_span!("step", run.id = %lease.run_id, step = step.name, attempt = lease.attempt);
        let ctx = StepContext::new(self.engine.pool.clone(), lease, step.name, stop.clone());
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
        match result {
            Ok(output) => Outcome::Succeeded {
                output,
                cost_usd: ctx.cost(),
            },
            Err(error) => {
                tracing::warn!(run.id = %lease.run_id, step = step.name, attempt = lease.attempt, %error, "step failed");
                Outcome::Failed(error)
            }
        }
    }

    /// Wakes the claim loop after `delay` (a retry of this worker falls due then).
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

/// Removes a run from the running attempts when its driver ends, however it ends.
struct Registration {
    shared: Arc<Shared>,
    run_id: RunId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut running) = self.shared.running.lock() {
            running.remove(&self.run_id);
        }
    }
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
