//! The estimated time remaining of a video: the median length of each phase over recent videos
//! (a default before there are any), less what the current phase has already taken.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use slate_activities::{phase::Phase, pipeline::WORKFLOW, video::VideoStatus};
use slate_engine::Engine;

/// The median length of each phase over the last 50 videos of the past day.
pub struct PhaseLengths(HashMap<String, f64>);

impl PhaseLengths {
    pub async fn recent(engine: &Engine) -> slate_engine::Result<Self> {
        let day = Duration::from_secs(24 * 60 * 60);
        let medians = engine.step_medians(WORKFLOW, day, 50).await?;
        Ok(Self(medians.into_iter().collect()))
    }

    fn of(&self, phase: Phase) -> f64 {
        self.0
            .get(phase.name())
            .copied()
            .unwrap_or_else(|| phase.typical_seconds())
    }

    /// Whole seconds left for a video in `status`, whose current phase has run `elapsed` seconds;
    /// `None` once the video is finished.
    pub fn remaining(&self, status: VideoStatus, elapsed: f64) -> Option<i64> {
        // A video at a review gate waits on its client, for as long as they take.
        if status.is_finished() || status == VideoStatus::AwaitingReview {
            return None;
        }
        let current = status.phase();
        let from = current.map_or(0, Phase::index);
        let seconds: f64 = Phase::ALL[from..]
            .iter()
            .enumerate()
            .map(|(i, phase)| {
                let left = self.of(*phase);
                if i == 0 && current.is_some() {
                    (left - elapsed).max(0.0)
                } else {
                    left
                }
            })
            .sum();
        Some(seconds.ceil() as i64)
    }
}

/// How long the recent phase lengths are reused before they are read again.
const FRESH: Duration = Duration::from_secs(5);

/// The recent phase lengths, read at most once per [`FRESH`] period: they move slowly, and the
/// status endpoint is the busiest of the API.
#[derive(Default)]
pub struct PhaseLengthsCache {
    cached: Mutex<Option<(Instant, Arc<PhaseLengths>)>>,
}

impl PhaseLengthsCache {
    pub async fn get(&self, engine: &Engine) -> slate_engine::Result<Arc<PhaseLengths>> {
        if let Some((read_at, lengths)) = &*self.cached.lock().expect("cache lock") {
            if read_at.elapsed() < FRESH {
                return Ok(lengths.clone());
            }
        }
        let lengths = Arc::new(PhaseLengths::recent(engine).await?);
        *self.cached.lock().expect("cache lock") = Some((Instant::now(), lengths.clone()));
        Ok(lengths)
    }
}

/// Seconds since `started` (0 when nothing runs).
pub fn elapsed(started: Option<DateTime<Utc>>) -> f64 {
    started.map_or(0.0, |at| {
        (Utc::now() - at).num_milliseconds() as f64 / 1000.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_the_rest_of_the_current_phase_and_every_later_one() {
        let lengths = PhaseLengths(HashMap::new());
        let making = VideoStatus::Making;
        assert_eq!(lengths.remaining(VideoStatus::Queued, 0.0), Some(21));
        assert_eq!(
            lengths.remaining(making(Phase::GeneratingChunks), 5.0),
            Some(10 + 1 + 2)
        );
        assert_eq!(lengths.remaining(making(Phase::AddingMusic), 10.0), Some(0));
        assert_eq!(lengths.remaining(VideoStatus::Complete, 0.0), None);
    }
}
