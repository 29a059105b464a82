//! Regenerating one 5 s beat of a 30 s video against making the whole video, in wall time and
//! in what each would cost with the reference cloud models. `slate serve` (embedded providers,
//! its own workers) runs in a process of its own; this process is the client.

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use slate_activities::{cost::Prices, phase::Phase, production::Production, spec::Spec};
use slate_integration_tests::{database::TestDatabase, process::SlateServer, wait};
use tokio::time::Instant;

use crate::{percentile, Report};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("slate serve answers");
        answer.json().await.unwrap_or(Value::Null)
    }

    /// Waits until version `version` of video `id` is complete; fails if it ends otherwise.
    async fn complete(&self, id: &str, version: i64) -> anyhow::Result<()> {
        let path = format!("/api/status/{id}");
        let status = wait::until("the version", Duration::from_secs(600), || async {
            let status = self.call(reqwest::Method::GET, &path, None).await;
            let finished = status["version"] == version
                && ["complete", "failed", "cancelled"].contains(&status["status"].as_str()?);
            finished.then_some(status)
        })
        .await;
        anyhow::ensure!(
            status["status"] == "complete",
            "the version ended: {status}"
        );
        Ok(())
    }
}

pub async fn measure(report: &mut Report) -> anyhow::Result<()> {
    let db = TestDatabase::new().await;
    let media = tempfile::tempdir()?;
    let server = SlateServer::start(&db.url, media.path(), &[]).await;
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let body = json!({"prompt": "an ad for Aurelia, a luxury watch, elegant, aurelia.com",
                      "duration": 30, "archetype": "luxury_showcase"});
    let began = Instant::now();
    let admitted = client
        .call(reqwest::Method::POST, "/api/generate", Some(body))
        .await;
    let id = admitted["video_id"]
        .as_str()
        .context("admitted")?
        .to_owned();
    client.complete(&id, 1).await?;
    let whole_seconds = began.elapsed().as_secs_f64();
    let video = client
        .call(reqwest::Method::GET, &format!("/api/video/{id}"), None)
        .await;
    let spec: Spec = serde_json::from_value(video["spec"].clone())?;
    let prices = Prices::REFERENCE_CLOUD;
    let whole_cost = prices.total(&spec);

    let mut times = Vec::new();
    let mut costs = Vec::new();
    let short = spec
        .beats
        .iter()
        .enumerate()
        .filter(|(_, b)| b.duration == 5);
    for (version, (index, _)) in (2..).zip(short) {
        let path = format!("/api/video/{id}/beats/{}/regenerate", index + 1);
        let began = Instant::now();
        let queued = client.call(reqwest::Method::POST, &path, None).await;
        anyhow::ensure!(queued["version"] == version, "regenerate: {queued}");
        client.complete(&id, version).await?;
        times.push(began.elapsed().as_secs_f64() / whole_seconds);
        let run: uuid::Uuid =
            sqlx::query_scalar("SELECT id FROM videos WHERE video_id = $1::uuid AND version = $2")
                .bind(&id)
                .bind(version as i32)
                .fetch_one(&db.pool)
                .await?;
        costs.push(version_cost(&db, run, prices).await? / whole_cost);
    }
    server.stop().await;
    db.drop().await;
    anyhow::ensure!(!times.is_empty(), "the plan has no 5 s beat");
    times.sort_by(f64::total_cmp);
    costs.sort_by(f64::total_cmp);
    report.line(format!(
        "regenerating one 5 s beat of a 30 s video ({} beats tried, embedded providers; the \
         whole video {whole_seconds:.1} s): median {:.0}% of the whole video's wall time, worst \
         {:.0}%; with the reference cloud models it would cost {:.0}% of the whole video's \
         ${whole_cost:.3}, worst {:.0}% (goal: at most 30% of each)",
        times.len(),
        100.0 * percentile(&times, 0.5),
        100.0 * percentile(&times, 1.0),
        100.0 * percentile(&costs, 0.5),
        100.0 * percentile(&costs, 1.0),
    ));
    Ok(())
}

/// What a version would cost at `prices`: what its phases make, its kept parts left out.
async fn version_cost(db: &TestDatabase, run: uuid::Uuid, prices: Prices) -> anyhow::Result<f64> {
    let planned: Value = sqlx::query_scalar(
        "SELECT output FROM checkpoints WHERE run_id = $1 AND step = 'planning'",
    )
    .bind(run)
    .fetch_one(&db.pool)
    .await?;
    let production: Production = serde_json::from_value(planned)?;
    Ok(Phase::ALL[Phase::Storyboarding.index()..]
        .iter()
        .map(|phase| prices.phase_for(*phase, &production))
        .sum())
}
