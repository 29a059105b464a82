//! Stitching: the clips, in order, joined without re-encoding into one video exactly as long as
//! the spec (every clip has the same codec settings and 150 frames). ffmpeg reads the clips from a
//! list of their paths, which is written outside the media store, since the store is served.

use std::io::Write;

use slate_engine::StepError;

use crate::{
    media::ffmpeg,
    storage::{MediaStore, StoreError},
};

pub async fn stitch(store: &MediaStore, clips: &[String], out_key: &str) -> Result<(), StepError> {
    let mut list = String::new();
    for clip in clips {
        let path = store.path(clip)?;
        let quoted = path.to_string_lossy().replace('\'', r"'\''");
        list.push_str(&format!("file '{quoted}'\n"));
    }
    let list = write_list(&list)?;
    let out = store.scratch(out_key).await?;
    let mut args = ffmpeg::args(["-f", "concat", "-safe", "0", "-i"]);
    args.push(list.path().as_os_str().to_owned());
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
    store.commit(&out, out_key).await.map_err(StepError::from)
}

/// The concat list in a temporary file of the system's, removed when dropped.
fn write_list(list: &str) -> Result<tempfile::NamedTempFile, StoreError> {
    let io = |source| StoreError::Io {
        path: std::env::temp_dir(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix("slate-stitch-")
        .suffix(".txt")
        .tempfile()
        .map_err(io)?;
    file.write_all(list.as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(file)
}
