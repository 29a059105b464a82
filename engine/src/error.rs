//! The engine's error type: what can go wrong when the application talks to the engine
//! (starting, replaying, cancelling, inspecting runs, running workers).

use crate::ids::{RunId, RunState};

/// An error of the engine's API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("run input or output is not valid JSON for its type: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid token bucket: {0}")]
    InvalidBucket(String),
    #[error("run {0} not found")]
    RunNotFound(RunId),
    #[error("workflow {name} v{version} is not registered with this engine")]
    UnknownWorkflow { name: String, version: i32 },
    #[error("workflow {workflow} declares no signal named {signal:?}")]
    UndeclaredSignal { workflow: String, signal: String },
    #[error("the signal's payload is {size} bytes; the most a signal carries is {limit}")]
    SignalTooLarge { size: usize, limit: usize },
    #[error("run {run} is {state} and has no checkpoint of step {step:?}: a fork shares every step before its fork point")]
    NotCheckpointed {
        run: RunId,
        state: RunState,
        step: String,
    },
    #[error("invalid fork: {0}")]
    InvalidFork(String),
    #[error("workflow {workflow} has no step named {step:?}")]
    UnknownStep { workflow: String, step: String },
    #[error("run {run} is {state}; {action} needs a run that is {expected}")]
    InvalidState {
        run: RunId,
        state: RunState,
        action: &'static str,
        expected: &'static str,
    },
    #[error("the liveness lock of worker {0} is held by another session")]
    WorkerLockTaken(uuid::Uuid),
    #[error("the workflow's hook failed: {0}")]
    Hook(crate::hook::HookError),
    #[error("the start was abandoned before it was answered; the run may have started")]
    StartAbandoned,
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
