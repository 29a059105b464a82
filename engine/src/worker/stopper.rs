//! What stops a running attempt, and why: a cancel, a lost lease, or the worker's lost liveness.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// Why an attempt was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopCause {
    /// Its run was cancelled.
    Cancelled,
    /// Its task is no longer its own (rescued, or released).
    LeaseGone,
    /// Its worker lost the liveness lock, and with it every attempt.
    LivenessLost,
}

/// What stops a running attempt, and why it was stopped (the first reason given).
#[derive(Clone, Default)]
pub(super) struct Stopper {
    token: CancellationToken,
    cause: Arc<OnceLock<StopCause>>,
}

impl Stopper {
    pub fn stop(&self, cause: StopCause) {
        let _ = self.cause.set(cause);
        self.token.cancel();
    }

    /// Cancelled once the attempt is told to stop.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn cause(&self) -> Option<StopCause> {
        self.cause.get().copied()
    }
}
