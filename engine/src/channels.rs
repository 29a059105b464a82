//! The names of the PostgreSQL channels the engine notifies and listens on.

/// The channel a task insert notifies, so that idle workers claim at once.
pub(crate) const TASKS_CHANNEL: &str = "slate_tasks";

/// The channel a cancel notifies with the run's id, so that the worker running one of its
/// attempts stops it at once.
pub(crate) const CANCELS_CHANNEL: &str = "slate_cancels";

/// The channel notified with a run's id when the run reaches a terminal state.
pub(crate) const RUNS_CHANNEL: &str = "slate_runs";
