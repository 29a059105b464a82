//! A video's status: queued, one of the pipeline's phases, awaiting its client's review, or
//! finished (complete, failed, cancelled or expired). Its names are the phases' step names and the values of the `video_status` type in
//! PostgreSQL.

use std::{fmt, str::FromStr};

use serde::{Serialize, Serializer};
use sqlx::{
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef},
    Decode, Encode, Postgres, Type,
};

use crate::phase::Phase;

/// Where a video stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoStatus {
    /// Admitted; its first phase has not started.
    Queued,
    /// This phase is being made.
    Making(Phase),
    /// Paused at a review gate until the client approves what was made (or the review expires).
    AwaitingReview,
    Complete,
    Failed,
    Cancelled,
    /// Left unapproved at a review gate past the review's time.
    Expired,
}

impl VideoStatus {
    /// Every status, in the order a video moves through them.
    pub fn all() -> impl Iterator<Item = VideoStatus> {
        std::iter::once(VideoStatus::Queued)
            .chain(Phase::ALL.into_iter().map(VideoStatus::Making))
            .chain([
                VideoStatus::AwaitingReview,
                VideoStatus::Complete,
                VideoStatus::Failed,
                VideoStatus::Cancelled,
                VideoStatus::Expired,
            ])
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VideoStatus::Queued => "queued",
            VideoStatus::Making(phase) => phase.name(),
            VideoStatus::AwaitingReview => "awaiting_review",
            VideoStatus::Complete => "complete",
            VideoStatus::Failed => "failed",
            VideoStatus::Cancelled => "cancelled",
            VideoStatus::Expired => "expired",
        }
    }

    /// Whether nothing more will happen to the video (until an operator replays it).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            VideoStatus::Complete
                | VideoStatus::Failed
                | VideoStatus::Cancelled
                | VideoStatus::Expired
        )
    }

    /// Whether a video's webhook hears of its move to this status: a review gate, or an end.
    pub fn is_announced(self) -> bool {
        self == VideoStatus::AwaitingReview || self.is_finished()
    }

    /// The statuses in which nothing more will happen, as SQL's list of `video_status` values.
    pub const FINISHED_SQL: &'static str = "('complete', 'failed', 'cancelled', 'expired')";

    /// The phase being made, if any.
    pub fn phase(self) -> Option<Phase> {
        match self {
            VideoStatus::Making(phase) => Some(phase),
            _ => None,
        }
    }
}

impl fmt::Display for VideoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no video status.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a video status")]
pub struct UnknownStatus(String);

impl FromStr for VideoStatus {
    type Err = UnknownStatus;

    fn from_str(name: &str) -> Result<Self, UnknownStatus> {
        VideoStatus::all()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownStatus(name.to_owned()))
    }
}

impl Serialize for VideoStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Type<Postgres> for VideoStatus {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("video_status")
    }
}

impl Encode<'_, Postgres> for VideoStatus {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode(self.as_str(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for VideoStatus {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(<&str as Decode<Postgres>>::decode(value)?.parse()?)
    }
}

/// A phase is stored by its name (`current_phase`).
impl Type<Postgres> for Phase {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for Phase {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let name = <&str as Decode<Postgres>>::decode(value)?;
        Phase::named(name).ok_or_else(|| format!("{name:?} is not a phase").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name_and_only_finished_ones_are_final() {
        let names: Vec<&str> = VideoStatus::all().map(VideoStatus::as_str).collect();
        assert_eq!(
            names,
            [
                "queued",
                "planning",
                "storyboarding",
                "generating_chunks",
                "stitching",
                "adding_music",
                "awaiting_review",
                "complete",
                "failed",
                "cancelled",
                "expired"
            ]
        );
        for status in VideoStatus::all() {
            assert_eq!(status.as_str().parse::<VideoStatus>().unwrap(), status);
        }
        let finished: Vec<&str> = VideoStatus::all()
            .filter(|s| s.is_finished())
            .map(VideoStatus::as_str)
            .collect();
        assert_eq!(finished, ["complete", "failed", "cancelled", "expired"]);
        assert_eq!(
            VideoStatus::FINISHED_SQL,
            format!("('{}')", finished.join("', '"))
        );
        assert!("done".parse::<VideoStatus>().is_err());
    }
}
