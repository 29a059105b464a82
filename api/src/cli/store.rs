//! Where media are kept: a local folder (`SLATE_MEDIA_DIR`), or an S3-compatible bucket when
//! `SLATE_S3_BUCKET` is set; and where this process's tools work on local copies.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use slate_activities::{
    providers::Secret,
    storage::{MediaStore, S3Settings, ScratchSpace, StoreSettings},
};

#[derive(Args)]
pub struct StoreArgs {
    /// Where stills, clips and videos are kept when no S3 bucket is set.
    #[arg(long, env = "SLATE_MEDIA_DIR", default_value = "data/media")]
    media_dir: PathBuf,
    /// Keeps media in this S3-compatible bucket instead of `media_dir`.
    #[arg(long, env = "SLATE_S3_BUCKET")]
    s3_bucket: Option<String>,
    /// The store's endpoint, for example http://127.0.0.1:3900; AWS's for the region when unset.
    #[arg(long, env = "SLATE_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    #[arg(long, env = "SLATE_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    #[arg(long, env = "SLATE_S3_ACCESS_KEY_ID")]
    s3_access_key_id: Option<String>,
    #[arg(long, env = "SLATE_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    s3_secret_access_key: Option<String>,
    /// Addresses objects as endpoint/bucket/key (most self-hosted stores need it) rather than
    /// bucket.endpoint/key.
    #[arg(long, env = "SLATE_S3_PATH_STYLE", default_value_t = false)]
    s3_path_style: bool,
    /// A folder of the bucket to keep media under (for example `slate/`); the bucket's root when
    /// unset.
    #[arg(long, env = "SLATE_S3_PREFIX")]
    s3_prefix: Option<String>,
    /// Where ffmpeg and the providers work on local copies of media: a folder per process, and
    /// in it one per attempt.
    #[arg(long, env = "SLATE_SCRATCH_DIR")]
    scratch_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The media store, and this process's scratch space (orphaned scratch folders of dead
    /// processes are removed first).
    pub fn open(&self) -> anyhow::Result<(MediaStore, ScratchSpace)> {
        let settings = match &self.s3_bucket {
            None => StoreSettings::Local {
                root: self.media_dir.clone(),
            },
            Some(bucket) => StoreSettings::S3(S3Settings {
                endpoint: self.s3_endpoint.clone(),
                bucket: bucket.clone(),
                region: self.s3_region.clone(),
                access_key_id: self
                    .s3_access_key_id
                    .clone()
                    .context("SLATE_S3_BUCKET is set, but not SLATE_S3_ACCESS_KEY_ID")?,
                secret_access_key: Secret::new(
                    self.s3_secret_access_key
                        .clone()
                        .context("SLATE_S3_BUCKET is set, but not SLATE_S3_SECRET_ACCESS_KEY")?,
                ),
                path_style: self.s3_path_style,
                prefix: self.s3_prefix.clone(),
            }),
        };
        let store = MediaStore::open(&settings).context("cannot open the media store")?;
        let scratch = match &self.scratch_dir {
            Some(folder) => ScratchSpace::open(folder),
            None => ScratchSpace::in_temp_dir(),
        };
        Ok((store, scratch.context("cannot open the scratch folder")?))
    }
}
