//! Every statement on the `videos` table: the admission's insert, the projection's writes (inside
//! the engine's transactions) and the reads the API renders. Named table, then what they do.

use chrono::{DateTime, Utc};
use slate_engine::{Artifact, RunId};
use sqlx::{postgres::PgArguments, query::Query, types::Json, PgConnection, PgPool, Postgres};
use uuid::Uuid;

use super::{moves::StatusMove, row::Video, status::VideoStatus};
use crate::{
    phase::Phase, plan::Request, production::Production, review::Gate, spec::Spec,
    webhooks::EventData,
};

/// The channel on which a video's id is announced, at commit, whenever its status moves.
pub const VIDEOS_CHANNEL: &str = "slate_videos";

const COLUMNS: &str = "id, video_id, version, parent_version, change, approved, owner, status,
    progress, current_phase, request, spec, cost_breakdown, storyboard_keys, chunk_keys,
    stitched_key, final_key, error, created_at, completed_at";

/// Writes a new video's row for `owner` (or a new version's, of the video `version` names),
/// reserving `reserve_usd` of its monthly budget, in the transaction that admits its run
/// (`video_admit` checks the limits first). A new version becomes its video's newest, and keeps
/// its video's webhook URL unless given another.
pub async fn video_insert(
    conn: &mut PgConnection,
    run_id: RunId,
    request: &Request,
    owner: Uuid,
    reserve_usd: f64,
    version: Option<&VersionOf>,
    webhook_url: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO videos (id, prompt, request, owner, reserved_usd, video_id, version,
                             parent_version, change, spec, webhook_url)
         SELECT $1, $2, $3, $4, $5, $6,
                coalesce((SELECT max(version) + 1 FROM videos WHERE video_id = $6), 1), $7, $8, $9,
                coalesce($10, (SELECT webhook_url FROM videos WHERE id = $6))",
    )
    .bind(run_id)
    .bind(&request.prompt)
    .bind(Json(request))
    .bind(owner)
    .bind(reserve_usd)
    .bind(version.map(|v| v.video_id))
    .bind(version.map(|v| v.parent_version))
    .bind(version.map(|v| &v.change))
    .bind(version.map(|v| Json(&v.spec)))
    .bind(webhook_url)
    .execute(&mut *conn)
    .await?;
    if let Some(version) = version {
        sqlx::query("UPDATE videos SET newest = false WHERE video_id = $1 AND id <> $2 AND newest")
            .bind(version.video_id)
            .bind(run_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// What run `id`'s video tells its webhook of where it stands, if it names one: the URL, the
/// key whose secrets sign the event, and the event's data.
pub(crate) async fn video_webhook_event(
    conn: &mut PgConnection,
    id: RunId,
) -> sqlx::Result<Option<(String, Uuid, EventData)>> {
    let row: Option<WebhookRow> = sqlx::query_as(&format!(
        "SELECT webhook_url, {COLUMNS} FROM videos WHERE id = $1 AND webhook_url IS NOT NULL"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|WebhookRow { webhook_url, video }| {
        let gate = (video.status == VideoStatus::AwaitingReview)
            .then(|| video.current_phase.and_then(Gate::before))
            .flatten();
        let data = EventData {
            video_id: video.video_id,
            version: video.version,
            status: video.status.as_str().to_owned(),
            current_phase: video.current_phase.map(|p| p.name().to_owned()),
            progress: video.progress,
            gate: gate.map(|g| g.name().to_owned()),
            cost_usd: video.cost_usd(),
            error: video.error.clone(),
        };
        (webhook_url, video.owner, data)
    }))
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    webhook_url: String,
    #[sqlx(flatten)]
    video: Video,
}

/// What makes a row a later version of a video.
#[derive(Debug, Clone)]
pub struct VersionOf {
    pub video_id: Uuid,
    /// The version it is made from.
    pub parent_version: i32,
    /// What it changes, as clients read it.
    pub change: serde_json::Value,
    /// Its plan.
    pub spec: Spec,
}

/// The row of one run: a video's first version, or a later one.
pub async fn video_find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Video>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM videos WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Every version of the video `video_id`, the first first; none once the video is deleted.
pub async fn video_versions(pool: &PgPool, video_id: Uuid) -> sqlx::Result<Vec<Video>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM videos
         WHERE video_id = $1 AND deleted_at IS NULL ORDER BY version"
    ))
    .bind(video_id)
    .fetch_all(pool)
    .await
}

/// [`video_versions`] of `owner`'s video (none for another key's), read under locks held until
/// the transaction ends, so that versions are made (and the video deleted) one at a time: the
/// key's row first (every admission and reservation takes it before a video's), then an
/// advisory lock on the video. No video row is locked: the engine's transactions lock a run's
/// task and run before its video's row, and a new version locks its parent's run.
pub async fn video_versions_locked(
    conn: &mut PgConnection,
    video_id: Uuid,
    owner: Uuid,
) -> sqlx::Result<Vec<Video>> {
    sqlx::query("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE")
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, $2))")
        .bind(video_id)
        .bind(VERSIONS_LOCK)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM videos
         WHERE video_id = $1 AND deleted_at IS NULL
           AND EXISTS (SELECT 1 FROM videos WHERE id = $1 AND owner = $2)
         ORDER BY version"
    ))
    .bind(video_id)
    .bind(owner)
    .fetch_all(conn)
    .await
}

/// The seed of the advisory locks that make one video's versions one at a time.
const VERSIONS_LOCK: i64 = 0x5_1a7e_7e25;

/// Up to `limit` videos (of `owner` and in `status` when given) older than `before`, newest
/// first, each as its newest version.
pub async fn video_list(
    pool: &PgPool,
    owner: Option<Uuid>,
    status: Option<VideoStatus>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Video>> {
    let (at, id) = before.unzip();
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM videos
         WHERE newest AND deleted_at IS NULL
           AND ($1::video_status IS NULL OR status = $1)
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
           AND ($5::uuid IS NULL OR owner = $5)
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(status)
    .bind(at)
    .bind(id)
    .bind(limit)
    .bind(owner)
    .fetch_all(pool)
    .await
}

/// Removes the video `video_id` and all its versions from every listing and read, at once.
pub async fn video_delete(conn: &mut PgConnection, video_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE videos SET deleted_at = now() WHERE video_id = $1 AND deleted_at IS NULL")
        .bind(video_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the approval of `gate` by the version `id`, if it waits there unapproved with the
/// plan `spec` (as read before: an edit since would be lost); whether it did. Called after the
/// approval's signal, which locked the run's task: the task's row comes before the video's.
pub async fn video_approve(
    conn: &mut PgConnection,
    id: Uuid,
    gate: Gate,
    spec: Option<&serde_json::Value>,
) -> sqlx::Result<bool> {
    let next = gate.phase().next().map(Phase::name);
    let approved = sqlx::query(
        "UPDATE videos SET approved = array_append(approved, $2), updated_at = now()
         WHERE id = $1 AND status = 'awaiting_review' AND current_phase = $3
           AND NOT $2 = ANY (approved) AND spec IS NOT DISTINCT FROM $4",
    )
    .bind(id)
    .bind(gate.name())
    .bind(next)
    .bind(spec)
    .execute(conn)
    .await?;
    Ok(approved.rows_affected() == 1)
}

/// Replaces the plan of the version `id` while it waits, unapproved, at the planning gate;
/// whether it did.
pub async fn video_edit_waiting_plan(pool: &PgPool, id: Uuid, spec: &Spec) -> sqlx::Result<bool> {
    let edited = sqlx::query(
        "UPDATE videos SET spec = $2, updated_at = now()
         WHERE id = $1 AND status = 'awaiting_review' AND current_phase = $3
           AND NOT $4 = ANY (approved)",
    )
    .bind(id)
    .bind(Json(spec))
    .bind(Phase::Storyboarding.name())
    .bind(Gate::Planning.name())
    .execute(pool)
    .await?;
    Ok(edited.rows_affected() == 1)
}

/// Whether at least `limit` videos wait for their first phase (counting no further than that), read
/// on the admitting transaction's connection.
pub(super) async fn video_queue_is_full(conn: &mut PgConnection, limit: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT count(*) >= $1
         FROM (SELECT 1 FROM videos WHERE status = 'queued' LIMIT $1) AS waiting",
    )
    .bind(limit)
    .fetch_one(conn)
    .await
}

/// How many videos are in each status (every status, zeros included).
pub async fn video_count_by_status(pool: &PgPool) -> sqlx::Result<Vec<(VideoStatus, i64)>> {
    sqlx::query_as(
        "SELECT s, count(v.id) FROM unnest(enum_range(NULL::video_status)) s
         LEFT JOIN videos v ON v.status = s GROUP BY s ORDER BY s",
    )
    .fetch_all(pool)
    .await
}

/// The status fields a move sets; binds $2 to $8 (see [`bind_move`]).
const MOVE: &str = "status = COALESCE($2, status),
    progress = CASE WHEN $3 THEN $4 ELSE progress END,
    current_phase = CASE WHEN $5 THEN $6 ELSE current_phase END,
    error = CASE WHEN $7 THEN $8 ELSE error END,
    updated_at = now()";

/// Binds the video's id as $1 and `moved` (none: every field kept) as $2 to $8.
fn bind_move<'q>(
    query: Query<'q, Postgres, PgArguments>,
    id: RunId,
    moved: Option<&StatusMove>,
) -> Query<'q, Postgres, PgArguments> {
    let (status, progress, phase, error) = match moved {
        Some(m) => (
            Some(m.status),
            m.progress.to_bind(),
            m.current_phase.to_bind(),
            m.error.to_bind(),
        ),
        None => (None, (false, None), (false, None), (false, None)),
    };
    query
        .bind(id)
        .bind(status)
        .bind(progress.0)
        .bind(progress.1)
        .bind(phase.0)
        .bind(phase.1.map(Phase::name))
        .bind(error.0)
        .bind(error.1)
}

/// Moves the video's status; a completion also records when it completed.
pub(crate) async fn video_status_move(
    conn: &mut PgConnection,
    id: RunId,
    moved: &StatusMove,
) -> sqlx::Result<()> {
    let sql = format!(
        "UPDATE videos SET {MOVE},
            completed_at = CASE WHEN $2 = 'complete' THEN now() ELSE completed_at END
         WHERE id = $1"
    );
    bind_move(sqlx::query(&sql), id, Some(moved))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a phase's checkpoint (the spec, its cost and the media made so far) and the status it
/// moves to, if any.
pub(crate) async fn video_checkpoint_record(
    conn: &mut PgConnection,
    id: RunId,
    moved: Option<&StatusMove>,
    phase: Phase,
    cost_usd: f64,
    production: &Production,
) -> sqlx::Result<()> {
    let sql = format!(
        "UPDATE videos SET {MOVE},
            spec = $9, cost_breakdown = cost_breakdown || jsonb_build_object($10::text, $11::float8),
            spent_usd = spent_usd + $11,
            storyboard_keys = $12, chunk_keys = $13, stitched_key = $14, final_key = $15
         WHERE id = $1"
    );
    bind_move(sqlx::query(&sql), id, moved)
        .bind(Json(&production.spec))
        .bind(phase.name())
        .bind(cost_usd)
        .bind(keys(&production.stills))
        .bind(keys(&production.chunks))
        .bind(production.stitched.as_ref().map(Artifact::key))
        .bind(production.final_video.as_ref().map(Artifact::key))
        .execute(conn)
        .await?;
    Ok(())
}

fn keys(artifacts: &[Artifact]) -> Vec<&str> {
    artifacts.iter().map(Artifact::key).collect()
}

/// Rewinds the video to the replayed phase: what that phase and those after it made, and what
/// they cost, are gone until they run again (what they spent stays spent). The reservation
/// shrinks to what was spent: the phases run again reserve what they need.
pub(crate) async fn video_replay_rewind(
    conn: &mut PgConnection,
    id: RunId,
    moved: &StatusMove,
    undone: &[Phase],
) -> sqlx::Result<()> {
    let made_by = |phase: Phase| undone.contains(&phase);
    let sql = format!(
        "UPDATE videos SET {MOVE}, completed_at = NULL, reserved_usd = spent_usd,
            cost_breakdown = cost_breakdown - $9::text[],
            spec = CASE WHEN $10 THEN NULL ELSE spec END,
            storyboard_keys = CASE WHEN $11 THEN '{{}}' ELSE storyboard_keys END,
            chunk_keys = CASE WHEN $12 THEN '{{}}' ELSE chunk_keys END,
            stitched_key = CASE WHEN $13 THEN NULL ELSE stitched_key END,
            final_key = CASE WHEN $14 THEN NULL ELSE final_key END
         WHERE id = $1"
    );
    bind_move(sqlx::query(&sql), id, Some(moved))
        .bind(undone.iter().map(|p| p.name()).collect::<Vec<_>>())
        .bind(made_by(Phase::Planning))
        .bind(made_by(Phase::Storyboarding))
        .bind(made_by(Phase::GeneratingChunks))
        .bind(made_by(Phase::Stitching))
        .bind(made_by(Phase::AddingMusic))
        .execute(conn)
        .await?;
    Ok(())
}

/// Announces on [`VIDEOS_CHANNEL`], at commit, that these videos' statuses moved.
pub(crate) async fn video_moves_notify(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, id::text) FROM unnest($2::uuid[]) AS id")
        .bind(VIDEOS_CHANNEL)
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}
