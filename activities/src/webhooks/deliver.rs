//! The `webhook` workflow: one step that POSTs an event to its receiver. A 2xx answer delivers it.
//! Any other answer, or no answer, is tried again on [`WebhookConfig`]'s schedule, each attempt
//! signed anew; after the last attempt the delivery fails and the event is dropped. A URL the
//! outbound rules refuse, or a 410 Gone, ends it at once.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use reqwest::{
    header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT},
    StatusCode, Url,
};
use serde::{Deserialize, Serialize};
use slate_engine::{Limit, RetryPolicy, Step, StepError, Workflow};
use sqlx::PgPool;

use super::{
    event::Delivery,
    secrets::webhook_secrets_signing,
    sign::{signature, EVENT_ID_HEADER, SIGNATURE_HEADER},
};
use crate::outbound::{refusal, Outbound};

/// The workflow's durable name and version.
pub const WEBHOOK_WORKFLOW: &str = "webhook";
const VERSION: i32 = 1;
/// Its one step.
pub const WEBHOOK_STEP: &str = "deliver_webhook";

/// How long a receiver has to answer one attempt.
const ANSWER_TIME: Duration = Duration::from_secs(10);
/// The most deliveries that run at once, across every worker: slow receivers never take the
/// slots the videos' steps need.
const WEBHOOK_CONCURRENCY: u32 = 8;
/// The longest wait a receiver's Retry-After may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A delivered event: the workflow's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivered {
    /// The receiver's answer.
    pub status: u16,
}

/// When deliveries are tried.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failed attempt; each wait is three times the one before, and at
    /// most 2160 times this one (6 hours after 10 s).
    pub first_retry: Duration,
}

impl Default for WebhookConfig {
    /// 12 attempts over about 27 hours: at once, then after 10 s, 30 s, 1.5 min, 4.5 min,
    /// 13.5 min, 40.5 min, 2 h 1.5 min, and 6 h four times.
    fn default() -> Self {
        Self {
            attempts: 12,
            first_retry: Duration::from_secs(10),
        }
    }
}

impl WebhookConfig {
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.attempts.max(1),
            initial_backoff: self.first_retry,
            max_backoff: self.first_retry * 2160,
            multiplier: 3.0,
            jitter: false,
        }
    }
}

/// What deliveries need: the database (for the secrets), and where they may go.
pub struct Deliverer {
    pool: PgPool,
    outbound: Outbound,
    client: reqwest::Client,
}

impl Deliverer {
    pub fn new(pool: PgPool, outbound: Outbound) -> Self {
        let client = outbound.client(ANSWER_TIME);
        Self {
            pool,
            outbound,
            client,
        }
    }

    /// POSTs the event once.
    async fn deliver(&self, delivery: Delivery) -> Result<Delivered, StepError> {
        let url = Url::parse(&delivery.url)
            .map_err(|e| refused(format!("the webhook URL is not a URL: {e}")))?;
        self.outbound.check(&url).map_err(refused)?;
        let body = serde_json::to_vec(&delivery.event)
            .map_err(|e| StepError::permanent("webhook_event", e.to_string()))?;
        let mut conn = self.pool.acquire().await.map_err(database)?;
        let secrets = webhook_secrets_signing(&mut conn, delivery.owner)
            .await
            .map_err(database)?;
        drop(conn);
        let sent = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "Slate-Webhooks/1")
            .header(EVENT_ID_HEADER, &delivery.event.id)
            .header(
                SIGNATURE_HEADER,
                signature(&secrets, Utc::now().timestamp(), &body),
            )
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                return Err(match refusal(&error) {
                    Some(reason) => refused(reason),
                    None => StepError::retryable(
                        "webhook_unreachable",
                        format!("the receiver did not answer: {}", error.without_url()),
                    ),
                })
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(Delivered {
                status: status.as_u16(),
            });
        }
        if status == StatusCode::GONE {
            return Err(StepError::permanent(
                "webhook_gone",
                "the receiver answered 410 Gone: it takes no more events",
            ));
        }
        let mut error = StepError::retryable(
            "webhook_refused_event",
            format!("the receiver answered {status}"),
        );
        error.retry_after = retry_after(&response).map(|d| d.min(MAX_RETRY_AFTER));
        Err(error)
    }
}

/// The wait a Retry-After header of whole seconds asks for.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    seconds.trim().parse().ok().map(Duration::from_secs)
}

fn refused(reason: String) -> StepError {
    StepError::permanent("webhook_url_refused", reason)
}

fn database(error: sqlx::Error) -> StepError {
    StepError::retryable("database", error.to_string())
}

/// The workflow that delivers webhook events with `deliverer`, tried as `config` says.
pub fn webhook_workflow(deliverer: Arc<Deliverer>, config: &WebhookConfig) -> Workflow<Delivery> {
    let deliver = Step::new(WEBHOOK_STEP, move |_ctx, delivery: Delivery| {
        let deliverer = deliverer.clone();
        async move { deliverer.deliver(delivery).await }
    });
    Workflow::builder(WEBHOOK_WORKFLOW, VERSION)
        .step(
            deliver
                .timeout(ANSWER_TIME * 3)
                .retry(config.retry())
                .limit(Limit::new(WEBHOOK_WORKFLOW).concurrency(WEBHOOK_CONCURRENCY)),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_tries_twelve_times_over_about_27_hours() {
        let policy = WebhookConfig::default().retry();
        let waits: Vec<u64> = (1..=12)
            .filter_map(|attempt| policy.delay_after(attempt))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(
            waits,
            vec![10, 30, 90, 270, 810, 2430, 7290, 21600, 21600, 21600, 21600]
        );
        let hours = waits.iter().sum::<u64>() as f64 / 3600.0;
        assert!((27.0..27.1).contains(&hours), "{hours}");
    }
}
