//! `slate approve`, `slate regenerate` and `slate versions`: steering a video through a running
//! Slate's HTTP API.

use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

use super::client::{answer, endpoint, ServerArgs};

#[derive(Args)]
pub struct ApproveArgs {
    video_id: String,
    /// The gate to approve: planning or storyboarding; the one the video waits at when unset.
    #[arg(long)]
    gate: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct RegenerateArgs {
    video_id: String,
    /// The beat to make again: its position in the plan, from 1.
    #[arg(long)]
    beat: usize,
    /// A new prompt for the beat; a new take of the same one when unset.
    #[arg(long)]
    prompt: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct VersionsArgs {
    video_id: String,
    #[command(flatten)]
    server: ServerArgs,
}

async fn call(
    server: &ServerArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = server.http()?.request(method, endpoint(server, path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach Slate at {}", server.url()))?;
    answer(response).await
}

pub async fn approve(args: ApproveArgs) -> anyhow::Result<()> {
    let gate = match args.gate {
        Some(gate) => gate,
        None => {
            let path = format!("/api/status/{}", args.video_id);
            let status = call(&args.server, reqwest::Method::GET, &path, None).await?;
            anyhow::ensure!(
                status["status"] == "awaiting_review",
                "video {} is {}, not waiting for a review",
                args.video_id,
                status["status"].as_str().unwrap_or("unknown")
            );
            super::client::awaiting_gate(&status).to_owned()
        }
    };
    let path = format!("/api/video/{}/approve", args.video_id);
    let body = json!({ "gate": gate });
    let approved = call(&args.server, reqwest::Method::POST, &path, Some(body)).await?;
    println!(
        "version {} of {} goes on past {gate}",
        approved["version"], args.video_id
    );
    Ok(())
}

pub async fn regenerate(args: RegenerateArgs) -> anyhow::Result<()> {
    let path = format!(
        "/api/video/{}/beats/{}/regenerate",
        args.video_id, args.beat
    );
    let body = args.prompt.map(|prompt| json!({ "prompt": prompt }));
    let queued = call(&args.server, reqwest::Method::POST, &path, body).await?;
    println!(
        "version {} of {} is queued",
        queued["version"], args.video_id
    );
    Ok(())
}

pub async fn versions(args: VersionsArgs) -> anyhow::Result<()> {
    let path = format!("/api/video/{}/versions", args.video_id);
    let list = call(&args.server, reqwest::Method::GET, &path, None).await?;
    println!(
        "{:>7}  {:>6}  {:<17}  {:>8}  change",
        "version", "parent", "status", "cost"
    );
    for version in list["versions"].as_array().into_iter().flatten() {
        let change = match version["change"]["kind"].as_str() {
            Some("regenerate") => format!("regenerated beat {}", version["change"]["beat"]),
            Some("edit") => format!("edited {}", version["change"]["fields"]),
            _ => "first".into(),
        };
        println!(
            "{:>7}  {:>6}  {:<17}  {:>8}  {change}",
            version["version"],
            version["parent_version"]
                .as_i64()
                .map_or("-".into(), |p| p.to_string()),
            version["status"].as_str().unwrap_or(""),
            format!("${:.4}", version["cost_usd"].as_f64().unwrap_or(0.0)),
        );
    }
    Ok(())
}
