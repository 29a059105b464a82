//! Where the media store is: a local folder, or an S3-compatible bucket (AWS S3, Garage, MinIO,
//! Ceph, R2...), named by endpoint, bucket, region and credentials.

use std::{path::PathBuf, sync::Arc, time::Duration};

use object_store::{
    aws::AmazonS3Builder, local::LocalFileSystem, prefix::PrefixStore, ClientOptions, ObjectStore,
    RetryConfig,
};

use super::error::StoreError;
use crate::providers::http::Secret;

/// How long one request to an S3-compatible store may take before it is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The client's own retries of a failed request (a 5xx, a timeout, a lost connection): a few,
/// quickly, since a failed store operation fails its step, which the engine retries with its
/// own backoff.
fn retries() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..RetryConfig::default()
    }
}

/// Where media are kept.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// A folder of the local filesystem: every process that shares it must share the disk.
    Local { root: PathBuf },
    /// A bucket of an S3-compatible store, which processes on any machine share.
    S3(S3Settings),
}

/// An S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// For example `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:3900`; AWS's own
    /// endpoint for the region when `None`.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Addresses objects as `endpoint/bucket/key` (path style, which most self-hosted servers
    /// need) rather than `bucket.endpoint/key` (virtual-hosted style).
    pub path_style: bool,
    /// A folder of the bucket to keep every key under; the bucket's root when `None`.
    pub prefix: Option<String>,
}

impl StoreSettings {
    pub(super) fn build(&self) -> Result<Arc<dyn ObjectStore>, StoreError> {
        match self {
            Self::Local { root } => {
                std::fs::create_dir_all(root).map_err(StoreError::io(root))?;
                Ok(Arc::new(LocalFileSystem::new_with_prefix(root)?))
            }
            Self::S3(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(s3.secret_access_key.expose())
                    .with_virtual_hosted_style_request(!s3.path_style)
                    .with_client_options(ClientOptions::new().with_timeout(REQUEST_TIMEOUT))
                    .with_retry(retries());
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                let bucket = builder.build()?;
                match s3.prefix.as_deref().map(|p| p.trim_matches('/')) {
                    Some(prefix) if !prefix.is_empty() => {
                        Ok(Arc::new(PrefixStore::new(bucket, prefix)))
                    }
                    _ => Ok(Arc::new(bucket)),
                }
            }
        }
    }
}
