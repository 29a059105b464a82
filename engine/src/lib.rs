//! Slate's durable workflow engine: every step of a run is journaled in PostgreSQL, work is handed
//! on through a transactional outbox, and an interrupted run carries on from its last completed
//! step on any worker.
//!
//! # Concepts
//! - [`Workflow`]: a named, versioned, ordered list of typed [`Step`]s. Each step's input is the
//!   output of the step before it (the first step's is the run input).
//! - run: one execution of a workflow, started with [`start_using`] inside the caller's
//!   transaction, so a business write and its run commit together.
//! - checkpoint: the committed output of a step in a run. Never recomputed unless an operator
//!   replays ([`Engine::replay`]).
//! - memo: a checkpoint of part of a step ([`StepContext::memo`]).
//! - task: an outbox row "step S of run R is due at T"; at most one per run. An attempt holds its
//!   lease, fenced on (worker, attempt number), renewed by its worker's heartbeat.
//! - sleep and wait: a step may put its run's next step off until a time
//!   ([`StepContext::continue_at`]) or until a signal ([`StepContext::wait_for`]), which
//!   [`Engine::signal`] delivers; meanwhile no process holds the run.
//! - limit: a key whose concurrency and rate every process respects for the steps that name it
//!   ([`Limit`]).
//! - child: a function a step fans out to ([`StepContext::fan_out`]), run in parallel on any
//!   workers while the step waits holding no lease.
//! - fork: a new run started from a step of another ([`Engine::fork`]), sharing its earlier
//!   checkpoints by reference; runs form trees ([`Engine::tree`]).
//! - event: an append-only history row of a run.
//!
//! # Processes
//! A [`Worker`] claims due tasks in batches (`FOR UPDATE SKIP LOCKED`), runs each step under its
//! timeout and hands on in one transaction: checkpoint, cost, events, the workflow's [`Hook`] and
//! the next task or the run's end. The [`Scheduler`] rescues the tasks of dead workers and trims
//! old history; any number of either may run against one database.

mod artifact;
mod channels;
mod children;
mod connection;
mod context;
mod eager;
mod engine;
mod error;
mod event;
mod fork;
mod handoff;
mod hook;
mod ids;
mod lease;
mod limiter;
mod limits;
mod liveness;
mod metrics;
pub mod pause;
mod registry;
mod retry;
mod run;
mod scheduler;
mod schema;
mod signal;
mod start;
mod stats;
mod step_error;
mod task;
mod wait;
mod worker;
mod workflow;

pub use artifact::{Artifact, ARTIFACTS_PREFIX};
pub use context::StepContext;
pub use engine::{Engine, EngineBuilder};
pub use error::{Error, Result};
pub use event::{Event, EventKind};
pub use fork::ForkOptions;
pub use hook::{Hook, HookError, Transition, TransitionKind};
pub use ids::{RunError, RunId, RunState};
pub use limiter::{take_token_using, Bucket, Taken};
pub use metrics::Metrics;
pub use retry::RetryPolicy;
pub use run::{Checkpoint, RunSummary};
pub use scheduler::{Rescue, Scheduler, SchedulerConfig};
pub use schema::migrate;
pub use signal::{Signalled, MAX_SIGNAL_BYTES};
pub use start::{start_using, StartOptions, Started};
pub use stats::Stats;
pub use step_error::StepError;
pub use wait::{OnDeadline, Wait};
pub use worker::{Worker, WorkerConfig};
pub use workflow::{Limit, Step, Workflow, WorkflowBuilder};
