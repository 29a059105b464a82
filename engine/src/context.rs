//! What a running step sees of the engine: its run, its attempt, cancellation, cost, the outputs
//! of earlier steps, memos, which checkpoint parts of a step so that a re-run of the step skips
//! the parts already done, and how the run goes on after the step: at once, at a time, or when a
//! signal comes (whose payload the next step reads).

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::{
    artifact::{self, Artifact},
    children::{self, Progress, Rules},
    ids::RunId,
    lease::Lease,
    pause::{PausePoint, PausePoints},
    step_error::StepError,
    wait::{OnDeadline, Policy, Then, Wait},
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
    /// How the run goes on after this step, when not at once.
    then: Mutex<Option<Then>>,
    /// The wait before this step, when its deadline passed without the signal.
    expired: Option<Wait>,
    /// The children the step may start.
    rules: Arc<Rules>,
}

impl StepContext {
    pub(crate) fn new(
        pool: PgPool,
        lease: Lease,
        step: &'static str,
        cancel: CancellationToken,
        pauses: PausePoints,
        expired: Option<Wait>,
        rules: Arc<Rules>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                lease,
                step,
                cancel,
                pauses,
                cost: Mutex::new(0.0),
                then: Mutex::new(None),
                expired,
                rules,
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

    /// The key of a new artifact named `name` (a file name, such as `final.mp4`), for the step
    /// to write to an object store once, before the value that names it is journaled. The key
    /// names the run, generation, step, child and attempt, so no other attempt (a retry, a
    /// replay, a fork or one that lost its lease) can write to it.
    pub fn artifact(&self, name: &str) -> Artifact {
        Artifact::from_key(artifact::key(&self.inner.lease, name))
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

    /// Ends this step by putting the run's next step off until `at`: a durable sleep. The step's
    /// output is checkpointed as usual; then no process holds the run until `at`, and any worker
    /// takes its next step from then on, across restarts. The last step cannot sleep.
    pub fn continue_at(&self, at: DateTime<Utc>) {
        *self.inner.then.lock().expect("then lock") = Some(Then::ContinueAt(at));
    }

    /// Ends this step by parking the run until the signal `wait` names (one its workflow
    /// declares): the run is `waiting`, holds no lease and no worker slot, and its next step runs
    /// on any worker once the signal is sent, or when the wait's deadline passes (see
    /// [`Wait`]). A signal sent before the wait is kept for it. The last step cannot wait.
    pub fn wait_for(&self, wait: Wait) {
        *self.inner.then.lock().expect("then lock") = Some(Then::Wait(wait));
    }

    /// Starts a child of `function` (a child function of the workflow) for each key and input
    /// of `children`, unless this step (in this generation) started it already, and returns
    /// their outputs, in the order given, once all have finished. Until then the step ends here
    /// (propagate this call's error with `?`): its run holds no lease and no worker slot, and the
    /// step runs again when its children have finished, on any worker, to find their results
    /// (memoize what comes before). A child that fails for good fails the step at once with its
    /// error, the others running on.
    pub async fn fan_out<I: Serialize, O: DeserializeOwned>(
        &self,
        function: &str,
        children: Vec<(String, I)>,
    ) -> Result<Vec<O>, StepError> {
        let settled = self
            .children(function, children, Policy::FirstFailure)
            .await?;
        settled
            .into_iter()
            .map(|result| {
                result.map_err(|error| StepError {
                    retryable: false,
                    ..error
                })
            })
            .collect()
    }

    /// [`StepContext::fan_out`], which waits for every child and returns each one's result,
    /// failed ones too.
    pub async fn fan_out_settled<I: Serialize, O: DeserializeOwned>(
        &self,
        function: &str,
        children: Vec<(String, I)>,
    ) -> Result<Vec<Result<O, StepError>>, StepError> {
        self.children(function, children, Policy::All).await
    }

    async fn children<I: Serialize, O: DeserializeOwned>(
        &self,
        function: &str,
        children: Vec<(String, I)>,
        policy: Policy,
    ) -> Result<Vec<Result<O, StepError>>, StepError> {
        let inner = &self.inner;
        let progress = children::start(
            &inner.pool,
            &inner.lease,
            &inner.rules,
            function,
            children,
            policy,
        )
        .await?;
        match progress {
            Progress::Settled(results) => Ok(results),
            Progress::Running => {
                *inner.then.lock().expect("then lock") = Some(Then::AwaitChildren(policy));
                Err(StepError::awaiting_children())
            }
        }
    }

    pub(crate) fn then(&self) -> Option<Then> {
        self.inner.then.lock().expect("then lock").clone()
    }

    /// The payload of signal `name` that the run resumed with before this step: the signal's,
    /// or the wait's default if its deadline passed. `None` if this step did not follow a wait
    /// for `name`. Replays of this step read the same payload.
    pub async fn signal<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StepError> {
        if let Some(wait) = self.inner.expired.as_ref().filter(|w| w.signal == name) {
            return match &wait.on_deadline {
                OnDeadline::Continue { payload } => decode(payload.clone()).map(Some),
                OnDeadline::Fail { .. } => Ok(None),
            };
        }
        let payload: Option<Value> = sqlx::query_scalar(
            "SELECT payload FROM signals
             WHERE run_id = $1 AND step_index = $2 AND name = $3 AND consumed_at IS NOT NULL
             ORDER BY generation DESC, id DESC LIMIT 1",
        )
        .bind(self.inner.lease.run_id)
        .bind(self.inner.lease.step_index)
        .bind(name)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(StepError::database)?;
        payload.map(decode).transpose()
    }

    /// The output of an earlier step of this run, or `None` if it has no live checkpoint (a
    /// fork's steps before its fork point have their parent's, shared).
    pub async fn checkpoint<T: DeserializeOwned>(
        &self,
        step: &str,
    ) -> Result<Option<T>, StepError> {
        let output: Option<Value> = sqlx::query_scalar(
            "SELECT COALESCE(c.output, s.output) FROM checkpoints c
             LEFT JOIN checkpoints s ON s.run_id = c.source_run_id AND s.step_index = c.step_index
                                    AND s.generation = c.source_generation
             WHERE c.run_id = $1 AND c.step = $2 AND c.superseded_at IS NULL",
        )
        .bind(self.inner.lease.run_id)
        .bind(step)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(StepError::database)?;
        output.map(decode).transpose()
    }

    /// The input the run was started with.
    pub async fn run_input<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        let input: Value = sqlx::query_scalar("SELECT input FROM runs WHERE id = $1")
            .bind(self.inner.lease.run_id)
            .fetch_one(&self.inner.pool)
            .await
            .map_err(StepError::database)?;
        decode(input)
    }

    /// Runs `part` once for this step of this run (in this generation): if `key` is already done
    /// its stored value is returned; otherwise `part` runs and its value is stored durably before
    /// it is returned. Both the check and the write are fenced on the attempt's lease, so an
    /// attempt that lost its lease neither starts new parts nor records them. The write holds the
    /// task's row (`FOR SHARE`) while it checks the lease: a release or rescue of the task
    /// (an `UPDATE`, which takes `FOR NO KEY UPDATE`) either waits for the memo to commit or is
    /// waited for and then seen. A child's attempt is fenced on its child's row alike.
    pub async fn memo<T, F>(&self, key: &str, part: F) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, StepError>>,
    {
        let lease = &self.inner.lease;
        // A child's memos are its own, among its step's.
        let key = match lease.child {
            Some(child) => format!("child:{child}/{key}"),
            None => key.to_owned(),
        };
        let (stored, owned): (Option<Value>, bool) = sqlx::query_as(
            "SELECT (SELECT value FROM memos
                     WHERE run_id = $1 AND generation = $2 AND step_index = $3 AND key = $6
                       AND superseded_at IS NULL),
                    CASE WHEN $7::bigint IS NULL
                         THEN EXISTS (SELECT 1 FROM tasks
                                      WHERE run_id = $1 AND generation = $2 AND step_index = $3
                                        AND attempt = $4 AND lease_owner = $5)
                         ELSE EXISTS (SELECT 1 FROM children
                                      WHERE id = $7 AND attempt = $4 AND lease_owner = $5)
                    END",
        )
        .bind(lease.run_id)
        .bind(lease.generation)
        .bind(lease.step_index)
        .bind(lease.attempt)
        .bind(lease.worker_id)
        .bind(&key)
        .bind(lease.child)
        .fetch_one(&self.inner.pool)
        .await
        .map_err(StepError::database)?;
        if !owned {
            return Err(StepError::lease_lost());
        }
        if let Some(stored) = stored {
            return decode(stored);
        }
        let value = part.await?;
        let journaled = artifact::journal(&value).map_err(|e| {
            StepError::permanent("invalid_memo", format!("a memo's value is not JSON: {e}"))
        })?;
        self.inner.pauses.reach(PausePoint::MemoWrite).await;
        let recorded = sqlx::query(
            "WITH owned_task AS (
                 SELECT 1 FROM tasks
                 WHERE $8::bigint IS NULL AND run_id = $1 AND generation = $2 AND step_index = $3
                   AND attempt = $4 AND lease_owner = $5
                 FOR SHARE
             ), owned_child AS (
                 SELECT 1 FROM children WHERE id = $8 AND attempt = $4 AND lease_owner = $5
                 FOR SHARE
             )
             INSERT INTO memos (run_id, step_index, key, generation, value, attempt, artifacts)
             SELECT $1, $3, $6, $2, $7, $4, $9
             FROM (SELECT 1 FROM owned_task UNION ALL SELECT 1 FROM owned_child) AS owned
             ON CONFLICT DO NOTHING",
        )
        .bind(lease.run_id)
        .bind(lease.generation)
        .bind(lease.step_index)
        .bind(lease.attempt)
        .bind(lease.worker_id)
        .bind(&key)
        .bind(&journaled.value)
        .bind(lease.child)
        .bind(&journaled.artifacts)
        .execute(&self.inner.pool)
        .await
        .map_err(StepError::database)?;
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
