//! How an event is signed: `Slate-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, where each
//! `v1` is the HMAC-SHA256, under one of the key's live webhook secrets (the whole `whsec_...`
//! string as the HMAC key), of the timestamp, a period and the raw body. A receiver recomputes it
//! with its secret, compares in constant time, and refuses a timestamp older than [`TOLERANCE`].

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Slate-Signature";
/// The header that carries the event's id (the body's `id`), the same on every attempt.
pub const EVENT_ID_HEADER: &str = "Slate-Event-Id";
/// How old a signature's timestamp a receiver should accept: 5 minutes. Every attempt is signed
/// anew, so a retried event is never older than this when it arrives.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// The signature header's value for `body` sent at `timestamp`, one `v1` per secret.
pub fn signature(secrets: &[String], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_timestamp_a_period_and_the_body() {
        // printf '%s' '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test
        let secrets = vec!["whsec_test".to_owned()];
        assert_eq!(
            signature(&secrets, 1_700_000_000, br#"{"id":"evt_1"}"#),
            "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
        );
    }

    #[test]
    fn each_live_secret_adds_a_signature() {
        let secrets = vec!["whsec_new".to_owned(), "whsec_old".to_owned()];
        let header = signature(&secrets, 1, b"{}");
        assert_eq!(header.matches(",v1=").count(), 2);
        assert!(header.starts_with("t=1,v1="));
    }
}
