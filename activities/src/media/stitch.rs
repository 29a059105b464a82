//! Stitching: the clips, in order, joined without re-encoding into one video exactly as long as
//! the spec (every clip has the same codec settings and 150 frames). ffmpeg reads local copies of
//! the clips from a list in the attempt's scratch folder.

use slate_engine::StepError;

use crate::{
    media::{chunks, ffmpeg},
    storage::{Scratch, StoreError},
};

pub async fn stitch(scratch: &Scratch, clips: &[&str], out_key: &str) -> Result<(), StepError> {
    let mut list = String::new();
    for clip in clips {
        let path = scratch.fetch(clip).await?;
        let quoted = path.to_string_lossy().replace('\'', r"'\''");
        list.push_str(&format!("file '{quoted}'\n"));
    }
    let list_path = scratch.path("concat.txt");
    tokio::fs::write(&list_path, list)
        .await
        .map_err(|source| StoreError::Io {
            path: list_path.clone(),
            source,
        })?;
    let out = chunks::output(scratch, out_key);
    let mut args = ffmpeg::args(["-f", "concat", "-safe", "0", "-i"]);
    args.push(list_path.into_os_string());
    args.extend(ffmpeg::args([
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]));
    args.push(out.clone().into_os_string());
    ffmpeg::run(args).await?;
    Ok(scratch.upload(&out, out_key).await?)
}
