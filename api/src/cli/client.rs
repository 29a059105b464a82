//! `slate generate`, `slate status` and `slate replay`: clients of a running Slate's HTTP API.
//! `generate --wait` follows the video's events stream with a progress bar, then downloads it.

use std::{path::PathBuf, time::Instant};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use slate_activities::video::VideoStatus;

#[derive(Args)]
pub struct ServerArgs {
    /// The address of the Slate server.
    #[arg(long, env = "SLATE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Your API key (slate_...), when the server has keys on.
    #[arg(long, env = "SLATE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

impl ServerArgs {
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// An HTTP client that sends the API key, if there is one, with every request.
    pub(super) fn http(&self) -> anyhow::Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = self
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .context("SLATE_API_KEY holds characters a header cannot")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(reqwest::Client::builder()
            .default_headers(headers)
            .build()?)
    }
}

#[derive(Args)]
pub struct GenerateArgs {
    /// What the advertisement is about, for example "30s Nike sneakers, energetic, urban".
    prompt: String,
    /// Seconds: a multiple of 5 from 5 to 60; read from the prompt when unset.
    #[arg(long)]
    duration: Option<u32>,
    /// From 0.0 (the archetype's template as it is) to 1.0 (free variation).
    #[arg(long)]
    creativity: Option<f64>,
    /// One of the five archetypes; chosen from the prompt when unset.
    #[arg(long)]
    archetype: Option<String>,
    /// `16:9` (1280x720, the default), `9:16` (720x1280) or `1:1` (1080x1080).
    #[arg(long)]
    aspect_ratio: Option<String>,
    /// No voice reads the ad's lines.
    #[arg(long)]
    no_voiceover: bool,
    /// No captions are burned in.
    #[arg(long)]
    no_captions: bool,
    /// Pause for your approval after these phases (`slate approve`): planning, storyboarding.
    #[arg(long, value_delimiter = ',', num_args = 0.., default_missing_values = ["planning", "storyboarding"])]
    review: Option<Vec<String>>,
    /// An https URL that is POSTed a signed event at each review gate and at the video's end
    /// (`slate webhook-secret` shows the secret that signs them).
    #[arg(long)]
    webhook_url: Option<String>,
    /// Follow the video to the end with a progress bar, then download it.
    #[arg(long)]
    wait: bool,
    /// Where --wait saves the video; `<video_id>.mp4` in this folder when unset.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct StatusArgs {
    video_id: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The run (the video's id) to replay.
    run_id: String,
    /// The phase to run again from; the phases before it keep their results.
    #[arg(long = "from")]
    from_phase: String,
    /// The operators' bearer token.
    #[arg(long, env = "SLATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    #[command(flatten)]
    server: ServerArgs,
}

/// The API's answer as JSON, or its error message.
pub(super) async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]["message"].as_str().unwrap_or("no details");
    bail!("the server answered {status}: {message}")
}

/// Whether a status (the JSON of GET /api/status) is final: complete, failed or cancelled.
pub(super) fn is_finished(status: &Value) -> bool {
    status["status"]
        .as_str()
        .and_then(|name| name.parse::<VideoStatus>().ok())
        .is_some_and(VideoStatus::is_finished)
}

/// Everything about a video (GET /api/video/{id}).
pub(super) async fn describe(
    http: &reqwest::Client,
    server: &ServerArgs,
    id: &str,
) -> anyhow::Result<Value> {
    let path = format!("/api/video/{id}");
    answer(http.get(endpoint(server, &path)).send().await?).await
}

/// The bytes of a media URL.
pub(super) async fn download(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<actix_web::web::Bytes> {
    Ok(http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?)
}

pub(super) fn endpoint(server: &ServerArgs, path: &str) -> String {
    format!("{}{path}", server.url.trim_end_matches('/'))
}

pub async fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let http = args.server.http()?;
    let mut body = json!({ "prompt": args.prompt });
    if let Some(duration) = args.duration {
        body["duration"] = json!(duration);
    }
    if let Some(creativity) = args.creativity {
        body["creativity_level"] = json!(creativity);
    }
    if let Some(archetype) = &args.archetype {
        body["archetype"] = json!(archetype);
    }
    if let Some(ratio) = &args.aspect_ratio {
        body["aspect_ratio"] = json!(ratio);
    }
    if args.no_voiceover {
        body["voiceover"] = json!(false);
    }
    if args.no_captions {
        body["captions"] = json!(false);
    }
    if let Some(gates) = &args.review {
        body["review"] = json!(gates);
    }
    if let Some(url) = &args.webhook_url {
        body["webhook_url"] = json!(url);
    }
    let began = Instant::now();
    let response = http
        .post(endpoint(&args.server, "/api/generate"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach Slate at {}", args.server.url))?;
    let admitted = answer(response).await?;
    let id = admitted["video_id"]
        .as_str()
        .context("no video_id")?
        .to_owned();
    if !args.wait {
        println!("{id}");
        return Ok(());
    }
    let last = follow(&http, &args.server, &id).await?;
    if last["status"] == "awaiting_review" {
        let gate = awaiting_gate(&last);
        println!("{id} waits for your review of {gate}: slate approve {id} --gate {gate}");
        return Ok(());
    }
    if last["status"] != "complete" {
        let error = last["error"].as_str().unwrap_or("no details");
        bail!(
            "video {id} {}: {error}",
            last["status"].as_str().unwrap_or("ended")
        );
    }
    let video = describe(&http, &args.server, &id).await?;
    let url = video["final_video_url"]
        .as_str()
        .context("no final_video_url")?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{id}.mp4")));
    let bytes = download(&http, url).await?;
    tokio::fs::write(&path, &bytes)
        .await
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "{} ({} s video, ${:.2}, made in {:.1} s)",
        path.display(),
        video["spec"]["duration"],
        video["cost_usd"].as_f64().unwrap_or(0.0),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The gate a status at a review gate waits at: the phase before the one to come.
pub(super) fn awaiting_gate(status: &Value) -> &'static str {
    match status["current_phase"].as_str() {
        Some("storyboarding") => "planning",
        _ => "storyboarding",
    }
}

/// Shows the video's progress until it is finished or waits for a review; returns its last
/// status. A dropped stream
/// is resumed from the last event seen.
async fn follow(http: &reqwest::Client, server: &ServerArgs, id: &str) -> anyhow::Result<Value> {
    let bar = ProgressBar::new(100).with_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos:>3}% {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut last_id: Option<String> = None;
    let mut last = Value::Null;
    let mut failures = 0;
    loop {
        let mut request = http.get(endpoint(server, &format!("/api/status/{id}/events")));
        if let Some(seen) = &last_id {
            request = request.header("Last-Event-ID", seen);
        }
        let streamed = async {
            let mut response = request.send().await?.error_for_status()?;
            let mut text = String::new();
            while let Some(chunk) = response.chunk().await? {
                text.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = text.find("\n\n") {
                    let frame: String = text.drain(..end + 2).collect();
                    if let Some((event_id, status)) = parse(&frame) {
                        last_id = Some(event_id);
                        bar.set_position(status["progress"].as_u64().unwrap_or(bar.position()));
                        bar.set_message(status["status"].as_str().unwrap_or("").replace('_', " "));
                        last = status;
                    }
                }
                // A review holds the stream open until the client acts: stop there.
                if last["status"] == "awaiting_review" {
                    break;
                }
            }
            anyhow::Ok(())
        };
        match streamed.await {
            Ok(()) => failures = 0,
            Err(error) if failures < 10 => {
                failures += 1;
                bar.set_message(format!("reconnecting: {error}"));
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error.context("lost the events stream")),
        }
        if is_finished(&last) || last["status"] == "awaiting_review" {
            bar.finish_and_clear();
            return Ok(last);
        }
    }
}

/// A `status` event's id and data.
fn parse(frame: &str) -> Option<(String, Value)> {
    let field = |name: &str| frame.lines().find_map(|line| line.strip_prefix(name));
    if field("event: ")? != "status" {
        return None;
    }
    Some((
        field("id: ")?.to_owned(),
        serde_json::from_str(field("data: ")?).ok()?,
    ))
}

pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let path = format!("/api/status/{}", args.video_id);
    let status = answer(
        args.server
            .http()?
            .get(endpoint(&args.server, &path))
            .send()
            .await
            .with_context(|| format!("cannot reach Slate at {}", args.server.url))?,
    )
    .await?;
    for field in [
        "status",
        "progress",
        "current_phase",
        "estimated_time_remaining",
        "error",
    ] {
        if !status[field].is_null() {
            let value = &status[field];
            println!(
                "{field}: {}",
                value.as_str().map_or(value.to_string(), str::to_owned)
            );
        }
    }
    Ok(())
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let path = format!("/api/admin/runs/{}/replay", args.run_id);
    let response = reqwest::Client::new()
        .post(endpoint(&args.server, &path))
        .bearer_auth(&args.admin_token)
        .json(&json!({ "from_phase": args.from_phase }))
        .send()
        .await
        .with_context(|| format!("cannot reach Slate at {}", args.server.url))?;
    answer(response).await?;
    println!("run {} replays from {}", args.run_id, args.from_phase);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parse_reads_status_events_and_skips_comments() {
        let frame = "id: 7\nevent: status\ndata: {\"status\":\"planning\",\"progress\":10}\n\n";
        let (id, status) = parse(frame).unwrap();
        assert_eq!((id.as_str(), status["progress"].as_u64()), ("7", Some(10)));
        assert_eq!(parse(": keep-alive\n\n"), None);
        assert_eq!(parse("retry: 2000\n\n"), None);
    }
}
