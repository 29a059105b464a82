//! A lease: what identifies an attempt, on which every write it makes is fenced.

use uuid::Uuid;

use crate::ids::RunId;

/// What identifies an attempt: every write it makes is fenced on all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Lease {
    pub run_id: RunId,
    pub generation: i32,
    pub step_index: i32,
    pub attempt: i32,
    pub worker_id: Uuid,
    /// The child (its row's id) when the attempt is a child's, of the step above.
    pub child: Option<i64>,
}
