//! Every statement on the `videos` table: the admission's insert, the projection's writes (inside
//! the engine's transactions) and the reads the API renders. Named table, then what they do.

use chrono::{DateTime, Utc};
use slate_engine::{Artifact, RunId};
use sqlx::{postgres::PgArguments, query::Query, types::Json, PgConnection, PgPool, Postgres};
use uuid::Uuid;

use super::{moves::StatusMove, row::Video, status::VideoStatus};
use crate::{phase::Phase, plan::Request, production::Production};

/// The channel on which a video's id is announced, at commit, whenever its status moves.
pub const VIDEOS_CHANNEL: &str = "slate_videos";

const COLUMNS: &str = "id, owner, status, progress, current_phase, request, spec, cost_breakdown,
    storyboard_keys, chunk_keys, stitched_key, final_key, error, created_at, completed_at";

/// Writes a new video's row for `owner`, reserving `reserve_usd` of its monthly budget, in the
/// transaction that admits its run (`video_admit` checks the limits first).
pub async fn video_insert(
    conn: &mut PgConnection,
    run_id: RunId,
    request: &Request,
    owner: Uuid,
    reserve_usd: f64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO videos (id, prompt, request, owner, reserved_usd) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(run_id)
    .bind(&request.prompt)
    .bind(Json(request))
    .bind(owner)
    .bind(reserve_usd)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn video_find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Video>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM videos WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Up to `limit` videos (of `owner` and in `status` when given) older than `before`, newest
/// first.
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
         WHERE ($1::video_status IS NULL OR status = $1)
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
