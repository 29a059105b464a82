//! Fetching what a provider points at, as untrusted input. A prediction's output is a URL that
//! Slate did not choose, so a fetch:
//! - goes over https only (plain http only to hosts the operator allows);
//! - refuses hosts that resolve to loopback, private, link-local or other non-public addresses,
//!   checked on the addresses it connects to (the resolver filters them, so a name cannot change
//!   its answer between the check and the connection), unless the operator allows the host;
//! - follows at most a few redirects, checking each one the same way;
//! - streams the body into a scratch file outside the media store, up to a size per kind of media;
//! - checks the content is what it should be (the image or video or audio is probed with an
//!   explicit demuxer and reads files only) before it may become an artifact.

use std::{
    future::Future,
    io::Write,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    redirect, StatusCode, Url,
};
use slate_engine::StepError;
use tempfile::NamedTempFile;
use tokio::io::AsyncReadExt;

use super::http::{status_error, transport_error};
use crate::media::ffmpeg;

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

/// Looks a host name up.
pub trait Lookup: Send + Sync {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system's resolver.
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Downloads providers' outputs safely.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// Hosts that may be reached over plain http and at non-public addresses (a local object
    /// store, a test server).
    trusted: Arc<Vec<String>>,
    /// The largest file accepted, per kind; [`MediaKind::max_bytes`] unless set otherwise.
    limit: Option<u64>,
    connect: ConnectFilter,
}

/// Which addresses a fetch may connect to, after the public-address check.
type ConnectFilter = fn(IpAddr) -> bool;

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("trusted", &self.trusted)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Why a fetch was refused before any byte was read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl Fetcher {
    /// A fetcher that resolves names with the system's resolver.
    pub fn new(trusted: Vec<String>) -> Self {
        Self::with_lookup(trusted, Arc::new(SystemLookup))
    }

    /// A fetcher that resolves names with `lookup`.
    pub fn with_lookup(trusted: Vec<String>, lookup: Arc<dyn Lookup>) -> Self {
        Self::restricted(trusted, lookup, |_| true)
    }

    /// A fetcher that also connects only to addresses `connect` allows: tests allow loopback
    /// only, so that a fault in the checks can never send a packet elsewhere.
    pub fn restricted(
        trusted: Vec<String>,
        lookup: Arc<dyn Lookup>,
        connect: ConnectFilter,
    ) -> Self {
        let trusted = Arc::new(trusted);
        let resolver = Guarded {
            lookup,
            trusted: trusted.clone(),
            connect,
        };
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .expect("a client without custom TLS builds");
        Self {
            client,
            trusted,
            limit: None,
            connect,
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
            self.check(&url)?;
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

    /// Refuses a URL that is not https (for a host not trusted), or names a non-public address.
    fn check(&self, url: &Url) -> Result<(), StepError> {
        let host = url.host_str().unwrap_or("");
        let trusted = self.trusted.iter().any(|t| t == host);
        match url.scheme() {
            "https" => {}
            "http" if trusted => {}
            scheme => {
                return Err(unsafe_output(format!(
                    "{scheme} URLs are not fetched: {host}"
                )))
            }
        }
        let literal = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if let Some(ip) = literal.filter(|ip| !trusted && !is_public(*ip)) {
            return Err(unsafe_output(format!("{ip} is not a public address")));
        }
        if let Some(ip) = literal.filter(|ip| !(self.connect)(*ip)) {
            return Err(unsafe_output(format!(
                "connections to {ip} are not allowed here"
            )));
        }
        Ok(())
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

/// The resolver of fetches: it answers only public addresses, or refuses the name.
struct Guarded {
    lookup: Arc<dyn Lookup>,
    trusted: Arc<Vec<String>>,
    connect: ConnectFilter,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup.clone();
        let trusted = self.trusted.iter().any(|t| t == name.as_str());
        let connect = self.connect;
        Box::pin(async move {
            let ips = lookup.lookup(name.as_str()).await?;
            let refused = |reason: String| {
                Box::new(Refused(reason)) as Box<dyn std::error::Error + Send + Sync>
            };
            if let Some(ip) = ips.iter().find(|ip| !trusted && !is_public(**ip)) {
                return Err(refused(format!(
                    "{} resolves to {ip}, not a public address",
                    name.as_str()
                )));
            }
            if let Some(ip) = ips.iter().find(|ip| !connect(**ip)) {
                return Err(refused(format!("connections to {ip} are not allowed here")));
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The refusal behind a failed request, if the resolver refused.
fn refusal(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        source = cause.source();
    }
    None
}

fn unsafe_output(reason: impl Into<String>) -> StepError {
    StepError::permanent("unsafe_output", reason.into())
}

/// Whether `ip` is an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_of_the_public_internet_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
