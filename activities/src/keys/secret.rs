//! A key's secret as clients hold it: `slate_<lookup>_<secret>`, 12 and 32 random base62
//! characters. The prefix lets scanners find leaked secrets; the lookup names the secret without
//! revealing it; only the SHA-256 of the whole string is stored, and it is compared in constant
//! time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "slate_";
const LOOKUP_CHARS: usize = 12;
const SECRET_CHARS: usize = 32;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A secret as a client sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new secret from the operating system's random source.
    pub fn generate() -> Self {
        Self(format!(
            "{PREFIX}{}_{}",
            base62(LOOKUP_CHARS),
            base62(SECRET_CHARS)
        ))
    }

    /// The secret a client sent, if it has the shape of one.
    pub fn parse(sent: &str) -> Option<Self> {
        let (lookup, secret) = sent.strip_prefix(PREFIX)?.split_once('_')?;
        let shaped = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        (shaped(lookup, LOOKUP_CHARS) && shaped(secret, SECRET_CHARS)).then(|| Self(sent.into()))
    }

    /// The public part that finds the secret's row and names it in lists.
    pub fn lookup(&self) -> &str {
        &self.0[PREFIX.len()..PREFIX.len() + LOOKUP_CHARS]
    }

    pub fn sha256(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    /// Whether `stored` is this secret's hash, in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        bool::from(self.sha256().ct_eq(stored))
    }

    /// The whole secret, to show once to whoever created it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({PREFIX}{}_…)", self.lookup())
    }
}

/// `len` characters drawn uniformly from [`BASE62`] (bytes of 248 and more are drawn again).
pub(crate) fn base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut bytes).expect("the operating system's random source");
        out.extend(
            bytes
                .iter()
                .filter(|b| **b < 248)
                .map(|b| BASE62[usize::from(*b % 62)] as char)
                .take(len - out.len()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_parses_and_matches_only_its_own_hash() {
        let secret = Secret::generate();
        let parsed = Secret::parse(secret.expose()).unwrap();
        assert_eq!(parsed, secret);
        assert!(secret.expose().starts_with("slate_"));
        assert_eq!(secret.expose().len(), 6 + 12 + 1 + 32);
        assert!(parsed.matches(&secret.sha256()));
        assert!(!Secret::generate().matches(&secret.sha256()));
        assert!(!format!("{secret:?}").contains(&secret.expose()[19..]));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        let good = Secret::generate();
        for bad in [
            "",
            "slate_",
            "Bearer x",
            &good.expose()[1..],
            &good.expose()[..good.expose().len() - 1],
            &good.expose().replace('_', "-"),
            &format!("{}!", &good.expose()[..good.expose().len() - 1]),
        ] {
            assert!(Secret::parse(bad).is_none(), "{bad:?}");
        }
    }
}
