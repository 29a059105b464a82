//! `slate smoke`: makes a matrix of videos through the API of a running Slate (15 s and 30 s, each
//! archetype, creativity 0.0, 0.5 and 1.0), checks each final MP4 downloads, and prints a table of
//! outcome, cost and time per case. It fails when any case does.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::client::{answer, describe, download, endpoint, is_finished, ServerArgs};

#[derive(Args)]
pub struct SmokeArgs {
    /// How many videos are made at once.
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// How long one video may take, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    #[command(flatten)]
    server: ServerArgs,
}

/// A prompt that suits each archetype.
const ARCHETYPES: [(&str, &str); 5] = [
    (
        "luxury_showcase",
        "a luxury watch, elegant and sophisticated",
    ),
    (
        "energetic_lifestyle",
        "Nike sneakers, energetic urban style",
    ),
    (
        "minimalist_reveal",
        "an iPhone, minimalist, clean and modern",
    ),
    (
        "emotional_storytelling",
        "a family car, with an emotional story",
    ),
    ("feature_demo", "a smart thermostat, a demo of its features"),
];

struct Case {
    duration: u32,
    archetype: &'static str,
    prompt: &'static str,
    creativity: f64,
}

struct Outcome {
    status: String,
    cost_usd: f64,
    seconds: f64,
}

pub async fn smoke(args: SmokeArgs) -> anyhow::Result<()> {
    let mut cases = Vec::new();
    for duration in [15, 30] {
        for (archetype, prompt) in ARCHETYPES {
            for creativity in [0.0, 0.5, 1.0] {
                cases.push(Case {
                    duration,
                    archetype,
                    prompt,
                    creativity,
                });
            }
        }
    }
    let http = args.server.http()?;
    let limit = Duration::from_secs(args.timeout_secs);
    println!(
        "{:>8}  {:<24} {:>10}  {:<10} {:>9} {:>8}",
        "duration", "archetype", "creativity", "outcome", "cost", "time"
    );
    let mut failures = 0;
    for batch in cases.chunks(args.parallel.max(1)) {
        let runs = batch
            .iter()
            .map(|case| run(&http, &args.server, case, limit));
        for (case, outcome) in batch.iter().zip(futures::future::join_all(runs).await) {
            let outcome = outcome.unwrap_or_else(|error| Outcome {
                status: format!("error: {error:#}"),
                cost_usd: 0.0,
                seconds: 0.0,
            });
            if outcome.status != "ok" {
                failures += 1;
            }
            println!(
                "{:>7}s  {:<24} {:>10.1}  {:<10} {:>9} {:>7.1}s",
                case.duration,
                case.archetype,
                case.creativity,
                outcome.status,
                format!("${:.4}", outcome.cost_usd),
                outcome.seconds
            );
        }
    }
    if failures > 0 {
        bail!("{failures} of {} cases failed", cases.len());
    }
    println!("all {} cases passed", cases.len());
    Ok(())
}

/// Makes one video, waits for it, and checks its MP4 downloads.
async fn run(
    http: &reqwest::Client,
    server: &ServerArgs,
    case: &Case,
    limit: Duration,
) -> anyhow::Result<Outcome> {
    let began = Instant::now();
    let body = json!({
        "prompt": format!("{}s ad for {}", case.duration, case.prompt),
        "duration": case.duration,
        "archetype": case.archetype,
        "creativity_level": case.creativity,
    });
    let admitted = answer(
        http.post(endpoint(server, "/api/generate"))
            .json(&body)
            .send()
            .await?,
    )
    .await?;
    let id = admitted["video_id"].as_str().unwrap_or_default().to_owned();
    let status = loop {
        let status = answer(
            http.get(endpoint(server, &format!("/api/status/{id}")))
                .send()
                .await?,
        )
        .await?;
        if is_finished(&status) {
            break status;
        }
        if began.elapsed() > limit {
            bail!("not finished after {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let video = describe(http, server, &id).await?;
    let seconds = began.elapsed().as_secs_f64();
    let cost_usd = video["cost_usd"].as_f64().unwrap_or(0.0);
    if status["status"] != "complete" {
        let error = status["error"].as_str().unwrap_or("no details");
        return Ok(Outcome {
            status: format!("{}: {error}", status["status"].as_str().unwrap_or("?")),
            cost_usd,
            seconds,
        });
    }
    let url = video["final_video_url"].as_str().unwrap_or_default();
    let file = download(http, url).await?;
    let status = if file.len() > 10_000 && video["spec"]["duration"] == case.duration {
        "ok"
    } else {
        "bad file"
    };
    Ok(Outcome {
        status: status.into(),
        cost_usd,
        seconds,
    })
}
