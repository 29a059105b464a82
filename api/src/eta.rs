//! The estimated time remaining of a video: the median length of each phase over recent videos
//! (a default before there are any), less what the current phase has already taken.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use slate_activities::phase::Phase;
use sqlx::PgPool;

use crate::videos::Video;

/// Seconds a phase takes when no recent video says otherwise.
fn default_seconds(phase: Phase) -> f64 {
    match phase {
        Phase::Planning => 1.0,
        Phase::Storyboarding => 2.0,
        Phase::GeneratingChunks => 15.0,
        Phase::Stitching => 1.0,
        Phase::AddingMusic => 2.0,
    }
}

/// Whole seconds left, or `None` once the video is finished.
pub async fn remaining(pool: &PgPool, video: &Video) -> sqlx::Result<Option<i64>> {
    if video.is_finished() {
        return Ok(None);
    }
    let medians: HashMap<String, f64> = sqlx::query_as(
        "SELECT step, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)
         FROM (SELECT c.step, extract(epoch FROM c.completed_at - c.started_at)::float8 AS seconds,
                      row_number() OVER (PARTITION BY c.step ORDER BY c.completed_at DESC) AS n
               FROM checkpoints c JOIN runs r ON r.id = c.run_id
               WHERE r.workflow = 'video' AND c.completed_at > now() - interval '1 day') recent
         WHERE n <= 50 GROUP BY step",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let started: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT leased_at FROM tasks WHERE run_id = $1")
            .bind(video.id)
            .fetch_optional(pool)
            .await?
            .flatten();
    let current = video.current_phase.as_deref().and_then(Phase::named);
    let from = current.map_or(0, |p| Phase::ALL.iter().position(|q| *q == p).unwrap_or(0));
    let length = |p: Phase| {
        medians
            .get(p.name())
            .copied()
            .unwrap_or_else(|| default_seconds(p))
    };
    let elapsed = started.map_or(0.0, |at| {
        (Utc::now() - at).num_milliseconds() as f64 / 1000.0
    });
    let mut seconds = 0.0;
    for (i, phase) in Phase::ALL.iter().enumerate().skip(from) {
        let left = if i == from && current.is_some() {
            length(*phase) - elapsed
        } else {
            length(*phase)
        };
        seconds += left.max(0.0);
    }
    Ok(Some(seconds.ceil() as i64))
}
