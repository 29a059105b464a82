//! Stitching: the clips, in order, joined without re-encoding into one video exactly as long as
//! the spec (every clip has the same codec settings and 150 frames).

use slate_engine::StepError;

use crate::{media::ffmpeg, storage::MediaStore};

pub async fn stitch(store: &MediaStore, clips: &[String], out_key: &str) -> Result<(), StepError> {
    let mut list = String::new();
    for clip in clips {
        let path = store.path(clip)?;
        let quoted = path.to_string_lossy().replace('\'', r"'\''");
        list.push_str(&format!("file '{quoted}'\n"));
    }
    let list_key = format!("{out_key}.txt");
    store.put(&list_key, list.as_bytes()).await?;
    let out = store.scratch(out_key).await?;
    let mut args = ffmpeg::args(["-f", "concat", "-safe", "0", "-i"]);
    args.push(store.path(&list_key)?.into_os_string());
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
