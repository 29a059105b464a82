//! When client requests need keys (`SLATE_AUTH`): automatically, not on a loopback address and
//! a refusal to start on any other; or always; or never.

use std::net::{IpAddr, Ipv6Addr};

/// `SLATE_AUTH`: whether clients need keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthSetting {
    /// No keys on a loopback address; a refusal to start on any other.
    #[default]
    Auto,
    /// Every client request needs a key.
    Keys,
    /// No keys, wherever Slate listens.
    None,
}

/// Whether client requests need keys, as the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Keys,
    Off,
}

impl AuthSetting {
    /// What `self` means for a server listening on `host`; an error tells the operator what to
    /// set when keys are left unset on an address others can reach.
    pub fn resolve(self, host: &str) -> Result<Auth, String> {
        match self {
            Self::Keys => Ok(Auth::Keys),
            Self::Auto if is_loopback(host) => Ok(Auth::Off),
            Self::Auto => Err(format!(
                "Slate would listen on {host}, which others can reach, without API keys. Set \
                 SLATE_AUTH=keys and give clients keys (`slate keys create --name ...`), or set \
                 SLATE_AUTH=none to serve without keys anyway"
            )),
            Self::None => {
                if !is_loopback(host) {
                    tracing::warn!(
                        %host,
                        "SLATE_AUTH=none on an address others can reach: ANYONE WHO REACHES IT \
                         MAY START VIDEOS, SPEND THE PROVIDERS' MONEY AND SEE EVERY VIDEO"
                    );
                }
                Ok(Auth::Off)
            }
        }
    }
}

/// Whether `host` is a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip == IpAddr::V6(Ipv6Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_auth_is_off_on_loopback_and_refuses_other_addresses() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.8.9.10"] {
            assert_eq!(AuthSetting::Auto.resolve(host), Ok(Auth::Off), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.5", "slate.example.com"] {
            let refusal = AuthSetting::Auto.resolve(host).unwrap_err();
            assert!(refusal.contains("SLATE_AUTH=keys"), "{refusal}");
        }
        assert_eq!(AuthSetting::Keys.resolve("127.0.0.1"), Ok(Auth::Keys));
        assert_eq!(AuthSetting::None.resolve("0.0.0.0"), Ok(Auth::Off));
    }
}
