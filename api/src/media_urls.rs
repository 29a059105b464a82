//! Media URLs: absolute, signed and expiring. A URL names a media key, the second it expires and
//! an HMAC-SHA-256 of both under a secret every Slate process on the database shares, so it
//! plays in a `<video>` tag without a bearer header and cannot be guessed or extended.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;

/// Expiries are rounded up to a quarter of an hour, so a media's URL stays the same for that long
/// (browsers cache it) and a URL lives between its lifetime and 15 minutes more.
const ROUNDING_SECS: u64 = 15 * 60;

/// Builds and checks the URLs of media keys.
#[derive(Clone)]
pub struct MediaUrls {
    /// For example `http://127.0.0.1:8080`.
    public_url: String,
    secret: Vec<u8>,
    lifetime: Duration,
}

/// Why a media URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    Invalid,
}

impl MediaUrls {
    pub fn new(public_url: String, secret: Vec<u8>, lifetime: Duration) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            secret,
            lifetime,
        }
    }

    /// The signed URL of `key`, valid for the lifetime at least.
    pub fn url(&self, key: &str) -> String {
        let expires =
            (unix_now() + self.lifetime.as_secs()).div_ceil(ROUNDING_SECS) * ROUNDING_SECS;
        format!(
            "{}/media/{key}?expires={expires}&signature={}",
            self.public_url,
            hex::encode(self.mac(key, expires).finalize().into_bytes())
        )
    }

    /// Whether `expires` and `signature` (from a URL's query) were signed for `key` and have not
    /// expired.
    pub fn verify(&self, key: &str, expires: &str, signature: &str) -> Result<(), Refusal> {
        let expires: u64 = expires.parse().map_err(|_| Refusal::Invalid)?;
        let signature = hex::decode(signature).map_err(|_| Refusal::Invalid)?;
        self.mac(key, expires)
            .verify_slice(&signature)
            .map_err(|_| Refusal::Invalid)?;
        if expires < unix_now() {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    fn mac(&self, key: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

impl std::fmt::Debug for MediaUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaUrls")
            .field("public_url", &self.public_url)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The signing secret every process shares: the first process to ask writes a random one.
pub async fn shared_secret(pool: &PgPool) -> sqlx::Result<Vec<u8>> {
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).expect("the operating system's random source");
    sqlx::query("INSERT INTO media_url_secret (secret) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(&fresh[..])
        .execute(pool)
        .await?;
    sqlx::query_scalar("SELECT secret FROM media_url_secret")
        .fetch_one(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(lifetime: Duration) -> MediaUrls {
        MediaUrls::new("http://x/".into(), vec![7; 32], lifetime)
    }

    fn query(url: &str) -> (String, String, String) {
        let url = url::Url::parse(url).unwrap();
        let key = url.path().strip_prefix("/media/").unwrap().to_owned();
        let get = |name| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .unwrap()
                .1
                .into_owned()
        };
        (key, get("expires"), get("signature"))
    }

    #[test]
    fn a_signed_url_verifies_and_a_tampered_one_does_not() {
        let urls = urls(Duration::from_secs(3600));
        let (key, expires, signature) = query(&urls.url("videos/a/final.mp4"));
        assert_eq!(key, "videos/a/final.mp4");
        assert_eq!(urls.verify(&key, &expires, &signature), Ok(()));
        let later = (expires.parse::<u64>().unwrap() + 900).to_string();
        assert_eq!(urls.verify(&key, &later, &signature), Err(Refusal::Invalid));
        assert_eq!(
            urls.verify("videos/b/final.mp4", &expires, &signature),
            Err(Refusal::Invalid)
        );
        assert_eq!(urls.verify(&key, &expires, "zz"), Err(Refusal::Invalid));
        let other = MediaUrls::new("http://x".into(), vec![8; 32], Duration::from_secs(3600));
        assert_eq!(
            other.verify(&key, &expires, &signature),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn a_url_lives_its_lifetime_at_least_and_a_quarter_hour_more_at_most() {
        let urls = urls(Duration::from_secs(3600));
        let (_, expires, _) = query(&urls.url("k"));
        let left = expires.parse::<u64>().unwrap() - unix_now();
        assert!((3600..=3600 + ROUNDING_SECS).contains(&left), "{left}");
    }
}
