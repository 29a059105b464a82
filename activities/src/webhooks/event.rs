//! The events a receiver hears, and their outbox: [`webhook_enqueue`] runs in the transaction that
//! moves a video's status, and starts the run that delivers the event that move makes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slate_engine::{RunId, StartOptions, Workflow};
use sqlx::PgConnection;
use uuid::Uuid;

/// An event to deliver: the `webhook` workflow's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub url: String,
    /// The key whose secrets sign it.
    pub owner: Uuid,
    pub event: WebhookEvent,
}

/// What a receiver is sent, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// `evt_` and the delivery's run id: the same on every attempt, for de-duplication.
    pub id: String,
    /// `video.` and the status the video moved to: `video.awaiting_review`, `video.complete`,
    /// `video.failed`, `video.cancelled` or `video.expired`.
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub data: EventData,
}

/// The video as the event found it: what GET /api/status shows, and the gate it waits at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub video_id: Uuid,
    pub version: i32,
    pub status: String,
    /// At a gate, the phase that comes once it is approved.
    pub current_phase: Option<String>,
    pub progress: Option<i16>,
    /// The review gate the video waits at (`planning` or `storyboarding`), at a gate only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// What the version has cost so far.
    pub cost_usd: f64,
    /// Why it failed or expired, as GET /api/status says it.
    pub error: Option<String>,
}

/// Starts, in the caller's transaction, the delivery to `url` of an event about a video as
/// `data` shows it, signed with the secrets of its key, `owner`.
pub async fn webhook_enqueue(
    conn: &mut PgConnection,
    webhooks: &Workflow<Delivery>,
    url: String,
    owner: Uuid,
    data: EventData,
) -> slate_engine::Result<()> {
    let run_id = RunId::default();
    let delivery = Delivery {
        url,
        owner,
        event: WebhookEvent {
            id: format!("evt_{}", run_id.0),
            kind: format!("video.{}", data.status),
            created_at: Utc::now(),
            data,
        },
    };
    let options = StartOptions {
        run_id: Some(run_id),
        idempotency_key: None,
    };
    slate_engine::start_using(conn, webhooks, &delivery, options).await?;
    Ok(())
}
