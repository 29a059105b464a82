//! The projection: the `videos` table the API reads (status, progress, current phase, spec, cost
//! per phase, media keys). The workflow's hook writes it inside the engine's transactions: the
//! claim that starts a phase, and the hand-off that checkpoints one.

use async_trait::async_trait;
use slate_engine::{Hook, HookError, RunId, Transition, TransitionKind};
use sqlx::{types::Json, PgConnection};

use crate::{failure::public_error, phase::Phase, plan::Request, production::Production};

/// Writes a video's row for a new run, in the admitting transaction.
pub async fn insert_using(
    conn: &mut PgConnection,
    run_id: RunId,
    request: &Request,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO videos (id, prompt, request) VALUES ($1, $2, $3)")
        .bind(run_id)
        .bind(&request.prompt)
        .bind(Json(request))
        .execute(conn)
        .await?;
    Ok(())
}

/// The channel on which a video's id is announced, at commit, whenever its status moves.
pub const VIDEOS_CHANNEL: &str = "slate_videos";

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
            apply(conn, transition).await?;
            if !matches!(transition.kind, TransitionKind::RetryScheduled { .. }) {
                moved.push(transition.run_id.0);
            }
        }
        if !moved.is_empty() {
            sqlx::query("SELECT pg_notify($1, id::text) FROM unnest($2::uuid[]) AS id")
                .bind(VIDEOS_CHANNEL)
                .bind(&moved)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

async fn apply(conn: &mut PgConnection, transition: &Transition<'_>) -> Result<(), HookError> {
    let id = transition.run_id;
    match &transition.kind {
        TransitionKind::StepStarted { step, .. } => {
            sqlx::query(
                "UPDATE videos SET status = $2::text::video_status, current_phase = $2,
                        progress = $3, updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .bind(step)
            .bind(progress_at_start(step))
            .execute(&mut *conn)
            .await?;
        }
        TransitionKind::Replayed { step, step_index } => {
            // What the replayed phase and those after it made is gone until they run again.
            let undone = &Phase::ALL[(*step_index).min(Phase::ALL.len())..];
            let made_by = |phase: Phase| undone.contains(&phase);
            sqlx::query(
                "UPDATE videos SET status = $2::text::video_status, current_phase = $2,
                        progress = $3, error = NULL, completed_at = NULL, updated_at = now(),
                        cost_breakdown = cost_breakdown - $4::text[],
                        spec = CASE WHEN $5 THEN NULL ELSE spec END,
                        storyboard_keys = CASE WHEN $6 THEN '{}' ELSE storyboard_keys END,
                        chunk_keys = CASE WHEN $7 THEN '{}' ELSE chunk_keys END,
                        stitched_key = CASE WHEN $8 THEN NULL ELSE stitched_key END,
                        final_key = CASE WHEN $9 THEN NULL ELSE final_key END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(step)
            .bind(progress_at_start(step))
            .bind(undone.iter().map(|p| p.name()).collect::<Vec<_>>())
            .bind(made_by(Phase::Planning))
            .bind(made_by(Phase::Storyboarding))
            .bind(made_by(Phase::GeneratingChunks))
            .bind(made_by(Phase::Stitching))
            .bind(made_by(Phase::AddingMusic))
            .execute(&mut *conn)
            .await?;
        }
        TransitionKind::StepCompleted {
            step,
            step_index,
            output,
            cost_usd,
        } => {
            let production: Production = serde_json::from_value((*output).clone())?;
            let next = Phase::ALL.get(step_index + 1).copied();
            sqlx::query(
                "UPDATE videos SET
                    spec = $2, cost_breakdown = cost_breakdown || jsonb_build_object($3::text, $4::float8),
                    storyboard_keys = $5, chunk_keys = $6, stitched_key = $7, final_key = $8,
                    status = COALESCE($9::text::video_status, status), current_phase = $9,
                    progress = COALESCE($10, progress), updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .bind(Json(&production.spec))
            .bind(step)
            .bind(cost_usd)
            .bind(&production.stills)
            .bind(&production.chunks)
            .bind(&production.stitched)
            .bind(&production.final_video)
            .bind(next.map(Phase::name))
            .bind(next.map(|p| p.progress_at_start() as i16))
            .execute(&mut *conn)
            .await?;
        }
        TransitionKind::RunCompleted => {
            sqlx::query(
                "UPDATE videos SET status = 'complete', progress = 100, current_phase = NULL,
                        completed_at = now(), updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        TransitionKind::RunFailed { error } => {
            sqlx::query(
                "UPDATE videos SET status = 'failed', progress = NULL, error = $2,
                        updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .bind(public_error(&error.step, &error.code))
            .execute(&mut *conn)
            .await?;
        }
        TransitionKind::Cancelled => {
            sqlx::query(
                "UPDATE videos SET status = 'cancelled', current_phase = NULL, updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        TransitionKind::RetryScheduled { .. } => {}
    }
    Ok(())
}

fn progress_at_start(step: &str) -> i16 {
    Phase::named(step).map_or(0, |p| p.progress_at_start()) as i16
}
