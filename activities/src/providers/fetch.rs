//! Fetching what a provider points at, as untrusted input. A prediction's output is a URL that
//! Slate did not choose, so a fetch:
//! - goes where [`Outbound`] allows (https, public addresses), checking each redirect it follows,
//!   at most a few;
//! - streams the body into a scratch file outside the media store, up to a size per kind of media;
//! - checks the content is what it should be (the image or video or audio is probed with an
//!   explicit demuxer and reads files only) before it may become an artifact.

use std::{io::Write, sync::Arc, time::Duration};

use reqwest::{StatusCode, Url};
use slate_engine::StepError;
use tempfile::NamedTempFile;
use tokio::io::AsyncReadExt;

use super::http::{status_error, transport_error};
use crate::{
    media::ffmpeg,
    outbound::{refusal, ConnectFilter, Lookup, Outbound},
};

const PROVIDER: &str = "the provider's file server";

/// The most redirects a fetch follows.
const MAX_REDIRECTS: usize = 5;

/// What a fetched file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
}

impl MediaKind {
    /// The largest file of this kind a fetch accepts.
    pub fn max_bytes(self) -> u64 {
        match self {
            MediaKind::Image => 25 << 20,
            MediaKind::Video => 250 << 20,
            MediaKind::Audio => 50 << 20,
        }
    }
}

/// Downloads providers' outputs safely.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    outbound: Outbound,
    /// The largest file accepted, per kind; [`MediaKind::max_bytes`] unless set otherwise.
    limit: Option<u64>,
}

impl Fetcher {
    /// A fetcher that resolves names with the system's resolver; `trusted` hosts may be reached
    /// over plain http and at non-public addresses.
    pub fn new(trusted: Vec<String>) -> Self {
        Self::with(Outbound::new(trusted))
    }

    /// A fetcher that resolves names with `lookup`.
    pub fn with_lookup(trusted: Vec<String>, lookup: Arc<dyn Lookup>) -> Self {
        Self::with(Outbound::with_lookup(trusted, lookup))
    }

    /// A fetcher that also connects only to addresses `connect` allows.
    pub fn restricted(
        trusted: Vec<String>,
        lookup: Arc<dyn Lookup>,
        connect: ConnectFilter,
    ) -> Self {
        Self::with(Outbound::restricted(trusted, lookup, connect))
    }

    fn with(outbound: Outbound) -> Self {
        Self {
            client: outbound.client(Duration::from_secs(300)),
            outbound,
            limit: None,
        }
    }

    /// The same fetcher accepting at most `bytes` per file.
    pub fn with_limit(mut self, bytes: u64) -> Self {
        self.limit = Some(bytes);
        self
    }

    /// Downloads `url` into a scratch file and checks it holds `kind`; none when the server says
    /// it is gone (404, 410).
    pub async fn fetch(
        &self,
        url: &str,
        kind: MediaKind,
    ) -> Result<Option<NamedTempFile>, StepError> {
        let mut url =
            Url::parse(url).map_err(|e| unsafe_output(format!("{url} is not a URL: {e}")))?;
        for _ in 0..=MAX_REDIRECTS {
            self.outbound.check(&url).map_err(unsafe_output)?;
            let response =
                self.client
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(|e| match refusal(&e) {
                        Some(reason) => unsafe_output(reason),
                        None => transport_error(PROVIDER, e),
                    })?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        unsafe_output(format!("a redirect from {url} names no location"))
                    })?;
                url = url
                    .join(location)
                    .map_err(|e| unsafe_output(format!("a redirect to {location}: {e}")))?;
                continue;
            }
            if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
                return Ok(None);
            }
            if !status.is_success() {
                let headers = response.headers().clone();
                let body = response.text().await.unwrap_or_default();
                return Err(status_error(PROVIDER, status, &headers, &body));
            }
            let file = self.save(response, kind).await?;
            validate(file.path(), kind).await?;
            return Ok(Some(file));
        }
        Err(unsafe_output(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Streams the body into a scratch file, up to the size allowed for `kind`.
    async fn save(
        &self,
        mut response: reqwest::Response,
        kind: MediaKind,
    ) -> Result<NamedTempFile, StepError> {
        let limit = self.limit.unwrap_or(kind.max_bytes());
        let too_large = || {
            StepError::permanent(
                "output_too_large",
                format!("the output is over {limit} bytes"),
            )
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let scratch = |e: std::io::Error| StepError::retryable("storage", e.to_string());
        let mut file = NamedTempFile::new().map_err(scratch)?;
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?
        {
            written += chunk.len() as u64;
            if written > limit {
                return Err(too_large());
            }
            file.write_all(&chunk).map_err(scratch)?;
        }
        file.flush().map_err(scratch)?;
        Ok(file)
    }
}

fn unsafe_output(reason: impl Into<String>) -> StepError {
    StepError::permanent("unsafe_output", reason.into())
}

/// Checks with ffprobe, reading the file only and with the demuxer its first bytes name, that
/// `path` holds `kind`.
async fn validate(path: &std::path::Path, kind: MediaKind) -> Result<(), StepError> {
    let mut head = Vec::with_capacity(12);
    let read = async {
        let file = tokio::fs::File::open(path).await?;
        file.take(12).read_to_end(&mut head).await
    };
    read.await
        .map_err(|e| StepError::retryable("storage", e.to_string()))?;
    let demuxer = match (kind, head.as_slice()) {
        (MediaKind::Image, [0x89, b'P', b'N', b'G', ..]) => "png_pipe",
        (MediaKind::Image, [0xff, 0xd8, 0xff, ..]) => "jpeg_pipe",
        (MediaKind::Image, [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P']) => {
            "webp_pipe"
        }
        (MediaKind::Video, [_, _, _, _, b'f', b't', b'y', b'p', ..]) => "mp4",
        (MediaKind::Audio, [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E']) => "wav",
        (MediaKind::Audio, [b'I', b'D', b'3', ..] | [0xff, 0xe0..=0xff, ..]) => "mp3",
        _ => {
            return Err(unsafe_output(format!(
                "the output is not a {kind:?} file Slate reads"
            )))
        }
    };
    let wanted = match kind {
        MediaKind::Image | MediaKind::Video => "video",
        MediaKind::Audio => "audio",
    };
    // An image is decoded whole; a clip or a track is read packet by packet.
    let (count, counted) = match kind {
        MediaKind::Image => ("-count_frames", "nb_read_frames"),
        MediaKind::Video | MediaKind::Audio => ("-count_packets", "nb_read_packets"),
    };
    let mut args = ffmpeg::args(["-v", "error", "-protocol_whitelist", "file", "-f", demuxer]);
    let entries = format!("stream=codec_type,{counted}");
    args.extend(ffmpeg::args([
        count,
        "-show_entries",
        &entries,
        "-of",
        "csv=p=0",
    ]));
    args.push(path.as_os_str().to_owned());
    let streams = ffmpeg::probe(args).await.map_err(|e| {
        unsafe_output(format!(
            "the output does not read as {kind:?}: {}",
            e.message
        ))
    })?;
    let readable = streams.lines().any(|line| {
        let mut fields = line.trim().split(',');
        let of_kind = fields.next() == Some(wanted);
        of_kind
            && fields
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > 0)
    });
    if !readable {
        return Err(unsafe_output(format!(
            "the output has no readable {wanted} stream"
        )));
    }
    Ok(())
}
