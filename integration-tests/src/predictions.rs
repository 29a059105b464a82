//! The predictions workflow: one step that runs a model through the Replicate-style client and
//! downloads its output, so that tests can drive the client through the engine (memos, retries,
//! crashes) against a local stub of the API.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slate_activities::providers::{replicate::Replicate, Secret};
use slate_engine::{RetryPolicy, Step, StepContext, Workflow};

/// A prediction to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub model: String,
    pub input: Value,
}

/// A client of the API at `base_url` that cancels predictions after `deadline`.
pub fn client(base_url: &str, deadline: Duration) -> Replicate {
    Replicate {
        client: reqwest::Client::new(),
        base_url: base_url.to_owned(),
        token: Secret::new("r8-test-token"),
        deadline,
        poll_from: Duration::from_millis(20),
        poll_to: Duration::from_millis(100),
    }
}

/// The workflow: its step returns the size of the downloaded output.
pub fn workflow(replicate: Replicate) -> Workflow<Job> {
    let step = Step::new("fetch", move |ctx: StepContext, job: Job| {
        let replicate = replicate.clone();
        async move {
            let urls = replicate
                .run(&ctx, "output", &job.model, &job.input)
                .await?;
            let bytes = replicate.download(&urls[0]).await?;
            Ok(bytes.len())
        }
    })
    .retry(RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(100),
        ..RetryPolicy::default()
    });
    Workflow::builder("predictions", 1).step(step).build()
}
