//! A Replicate-style predictions client: create a prediction, poll it with backoff until it ends,
//! download its output, cancel it when it runs past its deadline. The prediction's id is
//! memoized right after it is created, so a resumed step polls the same prediction instead of
//! paying for a second one. A prediction cancelled by an earlier attempt's deadline is replaced
//! by a new one, memoized under the next number.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;
use serde_json::{json, Value};
use slate_engine::{StepContext, StepError};

use super::http::{checked, transport_error, Secret};

const PROVIDER: &str = "the predictions API";

#[derive(Debug, Clone)]
pub struct Replicate {
    pub client: reqwest::Client,
    /// For example `https://api.replicate.com`.
    pub base_url: String,
    pub token: Secret,
    /// How long one prediction may run before it is cancelled.
    pub deadline: Duration,
    /// The first and the longest pause between two polls.
    pub poll_from: Duration,
    pub poll_to: Duration,
}

#[derive(Debug, Deserialize)]
struct Prediction {
    id: String,
    status: String,
    #[serde(default)]
    output: Value,
    #[serde(default)]
    error: Value,
}

/// How a prediction ended.
enum Ended {
    Succeeded(Value),
    Canceled,
}

impl Replicate {
    /// Runs `model` (`owner/name`) on `input` for the part `name` of the step, and returns the
    /// URLs of its output.
    pub async fn run(
        &self,
        ctx: &StepContext,
        name: &str,
        model: &str,
        input: &Value,
    ) -> Result<Vec<String>, StepError> {
        for number in 1.. {
            let key = format!("prediction-{name}-{number}");
            let id: String = ctx.memo(&key, self.create(model, input)).await?;
            match self.wait(&id).await? {
                Ended::Succeeded(output) => return urls(&output),
                Ended::Canceled => {
                    tracing::info!(prediction = %id, "prediction was cancelled; starting a new one")
                }
            }
        }
        unreachable!("the loop returns")
    }

    async fn create(&self, model: &str, input: &Value) -> Result<String, StepError> {
        let url = format!("{}/v1/models/{model}/predictions", self.base());
        let request = self.client.post(url).json(&json!({ "input": input }));
        let prediction = self.prediction(request).await?;
        tracing::info!(prediction = %prediction.id, model, "prediction created");
        Ok(prediction.id)
    }

    /// Polls until the prediction ends; cancels it and fails (retryably) past the deadline.
    async fn wait(&self, id: &str) -> Result<Ended, StepError> {
        match tokio::time::timeout(self.deadline, self.poll(id)).await {
            Ok(ended) => ended,
            Err(_) => {
                self.cancel(id).await;
                Err(StepError::retryable(
                    "provider_timeout",
                    format!(
                        "prediction {id} ran past {} s and was cancelled",
                        self.deadline.as_secs_f64()
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
                "canceled" => return Ok(Ended::Canceled),
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

    /// The bytes at `url` (an output of a prediction).
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, StepError> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let bytes = checked(PROVIDER, response)
            .await?
            .bytes()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        Ok(bytes.to_vec())
    }

    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

/// A prediction's output as URLs: one URL, or a list of them.
fn urls(output: &Value) -> Result<Vec<String>, StepError> {
    let urls: Vec<String> = match output {
        Value::String(url) => vec![url.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if urls.is_empty() {
        return Err(StepError::permanent(
            "provider_garbled",
            format!("the prediction's output has no URL: {output}"),
        ));
    }
    Ok(urls)
}
