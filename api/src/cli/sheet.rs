//! `slate contact-sheet`: a PNG of frames sampled from a finished video, one row per beat, read
//! through a running Slate's HTTP API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use slate_activities::media::sheet::{contact_sheet, Row};

use super::client::{describe, download, ServerArgs};

#[derive(Args)]
pub struct SheetArgs {
    video_id: String,
    /// Where the PNG goes; `<video_id>-sheet.png` in this folder when unset.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Frames per beat.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=12))]
    frames: u32,
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn sheet(args: SheetArgs) -> anyhow::Result<()> {
    let http = args.server.http()?;
    let video = describe(&http, &args.server, &args.video_id).await?;
    let url = video["final_video_url"]
        .as_str()
        .context("the video is not complete yet")?;
    let rows: Vec<Row> = video["spec"]["beats"]
        .as_array()
        .context("the video has no spec")?
        .iter()
        .map(|beat| {
            let start = beat["start"].as_f64().unwrap_or(0.0) as f32;
            let duration = beat["duration"].as_f64().unwrap_or(5.0) as f32;
            Row {
                label: beat["id"].as_str().unwrap_or("").replace('_', " "),
                start,
                end: start + duration,
            }
        })
        .collect();
    let folder = tempfile::tempdir()?;
    let file = folder.path().join("video.mp4");
    std::fs::write(&file, download(&http, url).await?)?;
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}-sheet.png", args.video_id)));
    contact_sheet(&file, &rows, args.frames, folder.path(), &out)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    println!("{}", out.display());
    Ok(())
}
