//! The video: the `videos` table (its schema in migrations/videos, applied by [`migrate`]), its
//! [`VideoStatus`], the projection that writes it as the run moves, and every read the API
//! renders, and what videos may spend per key and month. Nothing else reads or writes the table,
//! and nothing else decides a video's status.

mod moves;
mod projection;
mod row;
mod spending;
mod status;
mod table;

use sqlx::{migrate::MigrateError, PgPool};

pub use moves::{RunChange, Snapshot, StatusMove, Tracker};
pub use projection::Projection;
pub use row::Video;
pub use spending::{
    video_admit, video_month_usage, video_reserve, Admission, MonthUsage, OverBudget, Refusal,
};
pub use status::{UnknownStatus, VideoStatus};
pub use table::{
    video_approve, video_count_by_status, video_delete, video_edit_waiting_plan, video_find,
    video_insert, video_list, video_versions, video_versions_locked, VersionOf, VIDEOS_CHANNEL,
};

/// Applies the video's migrations that the database has not seen yet; the engine's schema must
/// be there first ([`slate_engine::migrate`]).
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let mut migrator = sqlx::migrate!("../migrations/videos");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}
