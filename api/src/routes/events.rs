//! GET /api/status/{video_id}/events: Server-Sent Events. Each `status` event carries the status
//! JSON and, as its id, the sequence number of the run's event that caused it. A stream replays the
//! video's past changes (those after Last-Event-ID when the header is sent), then follows live ones,
//! and closes after a terminal status. A process keeps at most `SLATE_MAX_EVENT_STREAMS` open, and
//! `SLATE_MAX_EVENT_STREAMS_PER_KEY` of one key; a stream whose client left is closed at its next
//! keep-alive.

use std::time::Duration;

use actix_web::{http::header, web, web::Bytes, HttpRequest, HttpResponse};
use slate_activities::video::{video_find, Tracker, Video};
use slate_engine::RunId;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use uuid::Uuid;

use crate::{
    caller::Caller,
    error::{ApiError, ErrorBody},
    routes::{find_video, status::StatusView},
    state::AppState,
};

/// One event of the stream, as its fields arrive.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StatusEvent {
    /// Always `status`.
    event: String,
    /// The sequence number of the run's event that caused it; send it back as Last-Event-ID.
    id: String,
    /// The JSON of GET /api/status.
    data: String,
}

/// How long a stream waits for news before it reads the history anyway and sends a keep-alive.
const QUIET: Duration = Duration::from_secs(5);

#[utoipa::path(get, path = "/api/status/{video_id}/events", tag = "videos", security(("client" = []), ()),
    params(("video_id" = String, Path, description = "The video's id"),
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0,
            description = "Replay only the changes after this one")),
    responses((status = 401, description = "No key, or not a valid one", body = ErrorBody),
        (status = 200, content_type = "text/event-stream", body = StatusEvent,
        description = "`status` events, each with the status JSON as data"),
        (status = 404, description = "Unknown or malformed id, or another key's video", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Too many streams are open (see Retry-After)", body = ErrorBody)))]
pub async fn events(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let after = last_event_id(&request)?;
    let video = find_video(&state.pool, caller, &path)
        .await?
        .newest()
        .clone();
    let permit = state
        .streams
        .take(caller.key_id)
        .map_err(|_| ApiError::TooManyStreams)?;
    let (frames, body) = mpsc::channel::<Bytes>(16);
    actix_web::rt::spawn(async move {
        if let Err(error) = follow(&state, &video, after, &frames).await {
            tracing::warn!(%error, video_id = %video.video_id, "an events stream ended early");
        }
        drop(permit);
    });
    let body = futures::stream::unfold(body, |mut body| async move {
        body.recv()
            .await
            .map(|frame| (Ok::<_, std::convert::Infallible>(frame), body))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// The Last-Event-ID header: the id of the last event the client saw, 0 when absent.
fn last_event_id(request: &HttpRequest) -> Result<i64, ApiError> {
    let Some(value) = request.headers().get("Last-Event-ID") else {
        return Ok(0);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|id: &i64| *id >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "Last-Event-ID",
                "Last-Event-ID must be an event id sent before",
            )
        })
}

/// Sends the status changes of `video` (a version) after `after` until it is finished or the
/// client has gone.
async fn follow(
    state: &AppState,
    video: &Video,
    after: i64,
    frames: &mpsc::Sender<Bytes>,
) -> Result<(), ApiError> {
    let run_id = video.id;
    let mut news = state.feed.subscribe();
    let mut tracker = Tracker::default();
    let mut read = None;
    if frames
        .send(Bytes::from_static(b"retry: 2000\n\n"))
        .await
        .is_err()
    {
        return Ok(());
    }
    loop {
        let events = state.engine.events(RunId(run_id), read).await?;
        let mut lengths = None;
        for event in &events {
            read = Some(event.id);
            let Some(snapshot) = tracker.apply(event) else {
                continue;
            };
            if event.id <= after {
                continue;
            }
            let lengths = match &mut lengths {
                Some(lengths) => lengths,
                None => lengths.insert(state.phase_lengths.get(&state.engine).await?),
            };
            let remaining = lengths.remaining(snapshot.status, 0.0);
            let status = StatusView::new(video, snapshot, remaining);
            if frames.send(frame(event.id, &status)).await.is_err() {
                return Ok(());
            }
        }
        if tracker
            .current()
            .is_some_and(|now| now.status.is_finished())
        {
            return Ok(());
        }
        if tracker.current().is_none() {
            // No history (trimmed by the retention): the projection still says where it stands.
            let now = video_find(&state.pool, run_id).await?;
            if let Some(now) = now.filter(|v| v.status.is_finished()) {
                let status = StatusView::new(video, now.snapshot(), None);
                let _ = frames.send(frame(0, &status)).await;
                return Ok(());
            }
        }
        if !wait_for_news(&mut news, run_id).await
            && frames
                .send(Bytes::from_static(b": keep-alive\n\n"))
                .await
                .is_err()
        {
            return Ok(());
        }
    }
}

/// One `status` event.
fn frame(id: i64, status: &StatusView) -> Bytes {
    let data = serde_json::to_string(status).expect("a status serializes");
    Bytes::from(format!("id: {id}\nevent: status\ndata: {data}\n\n"))
}

/// Waits until the feed announces `video_id` (true) or the stream has been quiet too long (false).
async fn wait_for_news(news: &mut tokio::sync::broadcast::Receiver<Uuid>, video_id: Uuid) -> bool {
    let deadline = tokio::time::sleep(QUIET);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return false,
            message = news.recv() => match message {
                Ok(id) if id == video_id => return true,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return true,
                Err(RecvError::Closed) => {
                    deadline.as_mut().await;
                    return false;
                }
            },
        }
    }
}
