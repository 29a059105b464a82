//! The projection: the video workflow's hook, which keeps each video's row in step with its run
//! inside the engine's own transactions (the claim that starts a phase, the hand-off that
//! checkpoints one), and announces every status move at commit.

use async_trait::async_trait;
use slate_engine::{Hook, HookError, Transition, TransitionKind};
use sqlx::PgConnection;

use super::{
    moves::{RunChange, StatusMove},
    table,
};
use crate::{phase::Phase, production::Production};

/// The video workflow's hook.
pub struct Projection;

#[async_trait]
impl Hook for Projection {
    async fn on_transitions(
        &self,
        conn: &mut PgConnection,
        transitions: &[Transition<'_>],
    ) -> Result<(), HookError> {
        let mut moved = Vec::with_capacity(transitions.len());
        for transition in transitions {
            if apply(conn, transition).await? {
                moved.push(transition.run_id.0);
            }
        }
        if !moved.is_empty() {
            table::video_moves_notify(conn, &moved).await?;
        }
        Ok(())
    }
}

/// Writes what `transition` changes of its video; whether its status may have moved.
async fn apply(conn: &mut PgConnection, transition: &Transition<'_>) -> Result<bool, HookError> {
    let Some(change) = RunChange::of_transition(&transition.kind) else {
        return Ok(false);
    };
    let id = transition.run_id;
    let moved = StatusMove::after(change);
    match (&transition.kind, change) {
        (
            TransitionKind::StepCompleted {
                output, cost_usd, ..
            },
            RunChange::Checkpointed(phase),
        ) => {
            let production: Production = serde_json::from_value((*output).clone())?;
            table::video_checkpoint_record(conn, id, moved.as_ref(), phase, *cost_usd, &production)
                .await?;
        }
        (_, RunChange::Replayed(phase)) => {
            let undone = &Phase::ALL[phase.index()..];
            if let Some(moved) = &moved {
                table::video_replay_rewind(conn, id, moved, undone).await?;
            }
        }
        _ => {
            if let Some(moved) = &moved {
                table::video_status_move(conn, id, moved).await?;
            }
        }
    }
    Ok(true)
}
