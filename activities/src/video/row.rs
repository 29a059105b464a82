//! A video's row as the API renders it, and what it derives from it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{moves::Snapshot, status::VideoStatus};
use crate::{phase::Phase, spec::Spec};

/// A video's row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Video {
    /// The id of this version's run.
    pub id: Uuid,
    /// The video it is a version of: its first version's id.
    pub video_id: Uuid,
    /// 1 for the first version.
    pub version: i32,
    /// The version it was made from.
    pub parent_version: Option<i32>,
    /// What it changed.
    pub change: Option<Value>,
    /// The review gates its client approved.
    pub approved: Vec<String>,
    /// The key that made it.
    pub owner: Uuid,
    pub status: VideoStatus,
    pub progress: Option<i16>,
    pub current_phase: Option<Phase>,
    pub request: Value,
    pub spec: Option<Value>,
    /// USD per phase done.
    pub cost_breakdown: Value,
    pub storyboard_keys: Vec<String>,
    pub chunk_keys: Vec<String>,
    pub stitched_key: Option<String>,
    pub final_key: Option<String>,
    /// The failure as clients read it.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Video {
    /// Where the video stands.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            status: self.status,
            progress: self.progress,
            current_phase: self.current_phase,
            error: self.error.clone(),
        }
    }

    /// The sum of the cost per phase.
    pub fn cost_usd(&self) -> f64 {
        self.cost_breakdown.as_object().map_or(0.0, |phases| {
            phases.values().filter_map(Value::as_f64).sum()
        })
    }

    /// The final video's key, once the video is complete.
    pub fn final_video_key(&self) -> Option<&str> {
        self.final_key
            .as_deref()
            .filter(|_| self.status == VideoStatus::Complete)
    }

    /// How many beats and clips the plan has, once there is one.
    pub fn beats_and_clips(&self) -> Option<(usize, usize)> {
        let spec: Spec = serde_json::from_value(self.spec.clone()?).ok()?;
        Some((spec.beats.len(), spec.chunk_count()))
    }
}
