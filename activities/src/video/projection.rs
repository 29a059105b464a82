//! The projection: the video workflow's hook, which keeps each video's row in step with its run
//! inside the engine's own transactions (the claim that starts a phase, the hand-off that
//! checkpoints one), announces every status move at commit, and starts the delivery of the
//! webhook event a move makes.

use async_trait::async_trait;
use slate_engine::{Hook, HookError, Transition, TransitionKind, Workflow};
use sqlx::PgConnection;

use super::{
    moves::{RunChange, StatusMove},
    table,
};
use crate::{
    phase::Phase,
    production::Production,
    webhooks::{webhook_enqueue, Delivery},
};

/// The video workflow's hook.
pub struct Projection {
    /// The workflow that delivers webhook events; none sends no event.
    pub webhooks: Option<Workflow<Delivery>>,
}

#[async_trait]
impl Hook for Projection {
    async fn on_transitions(
        &self,
        conn: &mut PgConnection,
        transitions: &[Transition<'_>],
    ) -> Result<(), HookError> {
        let mut moved = Vec::with_capacity(transitions.len());
        for transition in transitions {
            let Some(change) = RunChange::of_transition(&transition.kind) else {
                continue;
            };
            let status_move = StatusMove::after(change);
            apply(conn, transition, change, status_move.as_ref()).await?;
            moved.push(transition.run_id.0);
            let announced = status_move
                .as_ref()
                .is_some_and(|m| m.status.is_announced());
            if let (Some(webhooks), true) = (&self.webhooks, announced) {
                announce(conn, webhooks, transition.run_id).await?;
            }
        }
        if !moved.is_empty() {
            table::video_moves_notify(conn, &moved).await?;
        }
        Ok(())
    }
}

/// Starts the delivery of the webhook event of the status run `id`'s video has just moved to, if
/// the video names a webhook.
async fn announce(
    conn: &mut PgConnection,
    webhooks: &Workflow<Delivery>,
    id: slate_engine::RunId,
) -> Result<(), HookError> {
    if let Some((url, owner, data)) = table::video_webhook_event(conn, id).await? {
        webhook_enqueue(conn, webhooks, url, owner, data).await?;
    }
    Ok(())
}

/// Writes what `transition`, a `change` of its video that makes `moved`, changes of its row.
async fn apply(
    conn: &mut PgConnection,
    transition: &Transition<'_>,
    change: RunChange<'_>,
    moved: Option<&StatusMove>,
) -> Result<(), HookError> {
    let id = transition.run_id;
    match (&transition.kind, change) {
        (
            TransitionKind::StepCompleted {
                output, cost_usd, ..
            },
            RunChange::Checkpointed(phase),
        ) => {
            let production: Production = serde_json::from_value((*output).clone())?;
            table::video_checkpoint_record(conn, id, moved, phase, *cost_usd, &production).await?;
        }
        (_, RunChange::Replayed(phase)) => {
            let undone = &Phase::ALL[phase.index()..];
            if let Some(moved) = moved {
                table::video_replay_rewind(conn, id, moved, undone).await?;
            }
        }
        _ => {
            if let Some(moved) = moved {
                table::video_status_move(conn, id, moved).await?;
            }
        }
    }
    Ok(())
}
