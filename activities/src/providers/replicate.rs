//! A client of Replicate's predictions API (https://replicate.com/docs/reference/http): create a
//! prediction of a version with `POST /v1/predictions`, with a `Cancel-After` deadline, poll it
//! until it ends, and copy its first output into Slate's storage at once (the service deletes
//! outputs after about an hour), fetched as untrusted input ([`Fetcher`]).
//!
//! It never pays twice for one part of a step. Before a create is sent, the time and the attempt
//! are memoized; the created prediction's id is memoized as soon as it is known; and an attempt
//! that follows one which may have sent the create (a timeout, a 5xx, a crash before the id was
//! stored) first looks for that prediction among the recent ones (`GET /v1/predictions`, which
//! shows each one's input) and adopts it. A prediction that ends cancelled or aborted (past its
//! deadline), or whose output is gone before it was copied, is replaced by a new one, memoized
//! under the next number.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slate_engine::{Artifact, StepContext, StepError};

use super::{
    fetch::{Fetcher, MediaKind},
    http::{checked, transport_error, Secret},
};
use crate::storage::Scratch;

const PROVIDER: &str = "the predictions API";

/// The most predictions one part of a step starts before it gives up.
const MAX_PREDICTIONS: u32 = 3;

/// Files up to this size go inline as data URIs; larger ones are uploaded (the reference: "Use a
/// data URL when you have a small file <= 256kb").
pub const MAX_INLINE_BYTES: usize = 256 * 1024;

/// How many pages of recent predictions (100 each) a lookup reads at most.
const MAX_LOOKUP_PAGES: usize = 5;

#[derive(Debug, Clone)]
pub struct Replicate {
    pub client: reqwest::Client,
    /// For example `https://api.replicate.com`.
    pub base_url: String,
    pub token: Secret,
    /// What downloads the outputs.
    pub fetcher: Fetcher,
    /// The first and the longest pause between two polls.
    pub poll_from: Duration,
    pub poll_to: Duration,
}

/// One prediction to run for a part of a step, and where its first output goes.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The part's name within its step (`still-01`), for memos.
    pub name: &'a str,
    /// `owner/name`, `owner/name:id` or an id.
    pub version: &'a str,
    pub input: Value,
    /// The input that takes a seed: each prediction gets one of its own, so that it can be told
    /// from the others.
    pub seed: Option<&'a str>,
    /// How long the prediction may take before the service cancels it.
    pub deadline: Duration,
    /// What its output must be.
    pub kind: MediaKind,
    /// The media key its first output is copied to (an artifact of the attempt that copies it).
    pub key: &'a str,
}

impl Job<'_> {
    /// This job with `seed` in its seed input, if it has one.
    fn seeded(&self, seed: u32) -> Self {
        let mut job = self.clone();
        if let (Some(field), Some(input)) = (job.seed, job.input.as_object_mut()) {
            input.insert(field.to_owned(), json!(seed));
        }
        job
    }
}

#[derive(Debug, Deserialize)]
struct Prediction {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    output: Value,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Page {
    results: Vec<Prediction>,
    next: Option<String>,
}

/// A create about to be sent: when, and by which attempt.
#[derive(Debug, Serialize, Deserialize)]
struct Intent {
    at: DateTime<Utc>,
    attempt: u32,
}

/// How a prediction ended.
enum Ended {
    Succeeded(Value),
    /// Cancelled or aborted: it made nothing.
    Stopped(String),
}

impl Replicate {
    /// Runs `job`, copies its first output into the store as `job.key`, and returns that key;
    /// the key an earlier attempt copied it to, if one did.
    pub async fn run(
        &self,
        ctx: &StepContext,
        scratch: &Scratch,
        job: &Job<'_>,
    ) -> Result<Artifact, StepError> {
        let mut earlier = Vec::new();
        for number in 1..=MAX_PREDICTIONS {
            let part = format!("prediction-{}-{number}", job.name);
            let job = &job.seeded(seed(ctx, &part));
            let intent: Intent = ctx
                .memo(&format!("{part}-intent"), async {
                    Ok(Intent {
                        at: Utc::now(),
                        attempt: ctx.attempt(),
                    })
                })
                .await?;
            let id: String = ctx
                .memo(&part, self.create_or_adopt(ctx, job, &intent, &earlier))
                .await?;
            let stored: Option<Artifact> = ctx
                .memo(&format!("{part}-stored"), self.finish(&id, job, scratch))
                .await?;
            if let Some(stored) = stored {
                return Ok(stored);
            }
            earlier.push(id);
        }
        Err(StepError::permanent(
            "provider_timeout",
            format!(
                "{MAX_PREDICTIONS} predictions for {} ended without an output",
                job.name
            ),
        ))
    }

    /// Waits for the prediction and copies its output; `None` when it made none to copy.
    async fn finish(
        &self,
        id: &str,
        job: &Job<'_>,
        scratch: &Scratch,
    ) -> Result<Option<Artifact>, StepError> {
        match self.wait(id, job.deadline).await? {
            Ended::Stopped(status) => {
                tracing::info!(prediction = %id, status, "prediction made nothing; starting a new one");
                Ok(None)
            }
            Ended::Succeeded(output) => {
                let file = match output {
                    Value::Null => None,
                    output => self.fetcher.fetch(&first_url(&output)?, job.kind).await?,
                };
                let Some(file) = file else {
                    tracing::warn!(prediction = %id, "prediction's output is gone; starting a new one");
                    return Ok(None);
                };
                scratch.upload(file.path(), job.key).await?;
                Ok(Some(Artifact::from_key(job.key)))
            }
        }
    }

    /// The prediction an earlier attempt created for this part, if it did; else a new one.
    async fn create_or_adopt(
        &self,
        ctx: &StepContext,
        job: &Job<'_>,
        intent: &Intent,
        earlier: &[String],
    ) -> Result<String, StepError> {
        if intent.attempt < ctx.attempt() {
            if let Some(id) = self.find(job, intent.at, earlier).await? {
                tracing::info!(prediction = %id, "adopted the prediction an earlier attempt created");
                return Ok(id);
            }
        }
        let url = format!("{}/v1/predictions", self.base());
        let request = self
            .client
            .post(url)
            .header(
                "Cancel-After",
                format!("{}s", job.deadline.as_secs().max(5)),
            )
            .json(&json!({"version": job.version, "input": job.input}));
        let prediction = self.prediction(request).await?;
        tracing::info!(prediction = %prediction.id, version = job.version, "prediction created");
        Ok(prediction.id)
    }

    /// A prediction of `job` created since shortly before `since`, found by its input, other
    /// than the `earlier` ones of this part.
    async fn find(
        &self,
        job: &Job<'_>,
        since: DateTime<Utc>,
        earlier: &[String],
    ) -> Result<Option<String>, StepError> {
        let after = (since - chrono::Duration::minutes(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut url = Some(format!(
            "{}/v1/predictions?created_after={after}",
            self.base()
        ));
        for _ in 0..MAX_LOOKUP_PAGES {
            let Some(next) = url.take() else { break };
            let response = self
                .client
                .get(next)
                .bearer_auth(self.token.expose())
                .send()
                .await
                .map_err(|e| transport_error(PROVIDER, e))?;
            let page: Page = checked(PROVIDER, response)
                .await?
                .json()
                .await
                .map_err(|e| transport_error(PROVIDER, e))?;
            let mut results = page.results.into_iter();
            if let Some(found) = results.find(|p| is_job(p, job) && !earlier.contains(&p.id)) {
                return Ok(Some(found.id));
            }
            url = page.next;
        }
        Ok(None)
    }

    /// Polls until the prediction ends; past its deadline (and a minute's grace for the service
    /// to stop it), cancels it and fails retryably.
    async fn wait(&self, id: &str, deadline: Duration) -> Result<Ended, StepError> {
        let patience = deadline + Duration::from_secs(60);
        match tokio::time::timeout(patience, self.poll(id)).await {
            Ok(ended) => ended,
            Err(_) => {
                self.cancel(id).await;
                Err(StepError::retryable(
                    "provider_timeout",
                    format!(
                        "prediction {id} ran past {} s and was cancelled",
                        patience.as_secs()
                    ),
                ))
            }
        }
    }

    async fn poll(&self, id: &str) -> Result<Ended, StepError> {
        let mut pauses = ExponentialBuilder::new()
            .with_min_delay(self.poll_from)
            .with_max_delay(self.poll_to)
            .with_jitter()
            .without_max_times()
            .build();
        loop {
            let url = format!("{}/v1/predictions/{id}", self.base());
            let prediction = self.prediction(self.client.get(url)).await?;
            match prediction.status.as_str() {
                "succeeded" => return Ok(Ended::Succeeded(prediction.output)),
                "canceled" | "aborted" => return Ok(Ended::Stopped(prediction.status)),
                "failed" => {
                    return Err(StepError::permanent(
                        "provider_failed",
                        format!("prediction {id} failed: {}", prediction.error),
                    ))
                }
                _ => tokio::time::sleep(pauses.next().unwrap_or(self.poll_to)).await,
            }
        }
    }

    /// Sends `request` with the token and reads the prediction it answers with.
    async fn prediction(&self, request: reqwest::RequestBuilder) -> Result<Prediction, StepError> {
        let response = request
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        checked(PROVIDER, response)
            .await?
            .json()
            .await
            .map_err(|e| transport_error(PROVIDER, e))
    }

    async fn cancel(&self, id: &str) {
        let url = format!("{}/v1/predictions/{id}/cancel", self.base());
        let sent = self
            .client
            .post(url)
            .bearer_auth(self.token.expose())
            .send()
            .await;
        if let Err(error) = sent {
            tracing::warn!(prediction = %id, error = %error.without_url(), "could not cancel a prediction");
        }
    }

    /// A file as a model input: inline as a data URI when it is small, else uploaded with the
    /// files API and passed by its URL.
    pub async fn file_input(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
    ) -> Result<String, StepError> {
        if bytes.len() <= MAX_INLINE_BYTES {
            return Ok(format!(
                "data:{content_type};base64,{}",
                BASE64.encode(bytes)
            ));
        }
        let content = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(content_type)
            .map_err(|e| StepError::permanent("provider_rejected", e.to_string()))?;
        let form = reqwest::multipart::Form::new().part("content", content);
        let url = format!("{}/v1/files", self.base());
        let response = self
            .client
            .post(url)
            .bearer_auth(self.token.expose())
            .multipart(form)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let file: Value = checked(PROVIDER, response)
            .await?
            .json()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        file["urls"]["get"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                StepError::permanent(
                    "provider_garbled",
                    format!("the uploaded file has no URL: {file}"),
                )
            })
    }

    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

/// The seed of a part's prediction: the same in every attempt, another for every run, part and
/// prediction number (FNV-1a, stable across builds).
fn seed(ctx: &StepContext, part: &str) -> u32 {
    let mut hasher = fnv::FnvHasher::default();
    std::hash::Hasher::write(&mut hasher, ctx.run_id().0.as_bytes());
    std::hash::Hasher::write(&mut hasher, ctx.step().as_bytes());
    std::hash::Hasher::write(&mut hasher, part.as_bytes());
    std::hash::Hasher::finish(&hasher) as u32
}

/// Whether `prediction` is one of `job`: the same model, and every input `job` sends.
fn is_job(prediction: &Prediction, job: &Job<'_>) -> bool {
    let (model, version) = job.version.split_once(':').map_or_else(
        || {
            if job.version.contains('/') {
                (Some(job.version), None)
            } else {
                (None, Some(job.version))
            }
        },
        |(m, v)| (Some(m), Some(v)),
    );
    let same_model = model.is_none_or(|m| prediction.model.as_deref() == Some(m));
    let same_version = version.is_none_or(|v| prediction.version.as_deref() == Some(v));
    let same_input = job
        .input
        .as_object()
        .is_some_and(|sent| sent.iter().all(|(k, v)| prediction.input.get(k) == Some(v)));
    same_model && same_version && same_input
}

/// The first URL of a prediction's output: one URL, or a list of them.
fn first_url(output: &Value) -> Result<String, StepError> {
    let url = match output {
        Value::String(url) => Some(url.clone()),
        Value::Array(items) => items.iter().find_map(|v| v.as_str().map(str::to_owned)),
        _ => None,
    };
    url.ok_or_else(|| {
        StepError::permanent(
            "provider_garbled",
            format!("the prediction's output has no URL: {output}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(model: &str, version: &str, input: Value) -> Prediction {
        Prediction {
            id: "p".into(),
            status: "starting".into(),
            input,
            output: Value::Null,
            error: Value::Null,
            model: Some(model.into()),
            version: Some(version.into()),
        }
    }

    #[test]
    fn a_prediction_is_recognised_by_its_model_version_and_input() {
        let job = |version| Job {
            name: "still-01",
            version,
            input: json!({"prompt": "a mug", "seed": 7}),
            seed: Some("seed"),
            deadline: Duration::from_secs(60),
            kind: MediaKind::Image,
            key: "k",
        };
        let made = prediction(
            "stability-ai/sdxl",
            "abc",
            json!({"prompt": "a mug", "seed": 7, "width": 1024}),
        );
        assert!(is_job(&made, &job("stability-ai/sdxl:abc")));
        assert!(is_job(&made, &job("stability-ai/sdxl")));
        assert!(is_job(&made, &job("abc")));
        assert!(!is_job(&made, &job("stability-ai/sdxl:def")));
        let other_seed = prediction(
            "stability-ai/sdxl",
            "abc",
            json!({"prompt": "a mug", "seed": 8}),
        );
        assert!(!is_job(&other_seed, &job("stability-ai/sdxl:abc")));
    }

    #[test]
    fn the_first_output_is_read_from_a_url_or_a_list() {
        assert_eq!(
            first_url(&json!("https://x/a.png")).unwrap(),
            "https://x/a.png"
        );
        assert_eq!(
            first_url(&json!(["https://x/a.png", "https://x/b.png"])).unwrap(),
            "https://x/a.png"
        );
        assert_eq!(
            first_url(&Value::Null).unwrap_err().code,
            "provider_garbled"
        );
    }
}
