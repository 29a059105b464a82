//! The predictions workflow: one step that runs predictions through the Replicate client, one part
//! after another, copying each output into a media store, so that tests can drive the client
//! through the engine (memos, retries, crashes) against the fake service.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slate_activities::{
    providers::{
        fetch::{Fetcher, MediaKind},
        replicate::{self, Replicate},
        Secret,
    },
    storage::{MediaStore, ScratchSpace},
};
use slate_engine::{RetryPolicy, Step, StepContext, Workflow};

/// Predictions to run, one per part, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub version: String,
    pub input: Value,
    pub seed: Option<String>,
    pub parts: Vec<String>,
    pub deadline_seconds: u64,
}

/// A client of the API at `base_url`, which trusts the local host to serve outputs over plain http.
pub fn client(base_url: &str) -> Replicate {
    Replicate {
        client: reqwest::Client::new(),
        base_url: base_url.to_owned(),
        token: Secret::new("r8_test_token"),
        fetcher: Fetcher::new(vec!["127.0.0.1".into()]),
        poll_from: Duration::from_millis(20),
        poll_to: Duration::from_millis(100),
    }
}

/// The workflow: its step returns the sizes of the copied outputs.
pub fn workflow(replicate: Replicate, media_dir: PathBuf) -> Workflow<Job> {
    let step = Step::new("fetch", move |ctx: StepContext, job: Job| {
        let replicate = replicate.clone();
        let store = MediaStore::local(&media_dir);
        async move {
            let scratch = ScratchSpace::in_temp_dir()?.attempt(&store?)?;
            let mut sizes = Vec::new();
            for name in &job.parts {
                let key = ctx.artifact(name);
                let part = replicate::Job {
                    name,
                    version: &job.version,
                    input: job.input.clone(),
                    seed: job.seed.as_deref(),
                    deadline: Duration::from_secs(job.deadline_seconds),
                    kind: MediaKind::Image,
                    key: key.key(),
                };
                let stored = replicate.run(&ctx, &scratch, &part).await?;
                let bytes = scratch.store().get(stored.key()).await?;
                sizes.push(bytes.len() as u64);
            }
            Ok(sizes)
        }
    })
    .retry(RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
        ..RetryPolicy::default()
    });
    Workflow::builder("predictions", 1).step(step).build()
}
