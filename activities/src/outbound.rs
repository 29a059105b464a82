//! Reaching a URL that Slate did not choose (a provider's output, a client's webhook) without
//! letting it reach inside the network Slate runs in. A request:
//! - goes over https only (plain http only to hosts the operator trusts);
//! - refuses hosts that resolve to loopback, private, link-local or other non-public addresses,
//!   checked on the addresses it connects to (the resolver filters them, so a name cannot change
//!   its answer between the check and the connection), unless the operator trusts the host;
//! - follows no redirect by itself: whoever follows one checks it first.

use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    redirect, Url,
};

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

/// Which addresses a request may connect to, after the public-address check.
pub type ConnectFilter = fn(IpAddr) -> bool;

/// Where requests to untrusted URLs may go.
#[derive(Clone)]
pub struct Outbound {
    /// Hosts that may be reached over plain http and at non-public addresses (a local object
    /// store, a test server).
    trusted: Arc<Vec<String>>,
    lookup: Arc<dyn Lookup>,
    connect: ConnectFilter,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused before it was sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl Outbound {
    /// Public hosts, and `trusted`, resolved with the system's resolver.
    pub fn new(trusted: Vec<String>) -> Self {
        Self::with_lookup(trusted, Arc::new(SystemLookup))
    }

    /// Public hosts, and `trusted`, resolved with `lookup`.
    pub fn with_lookup(trusted: Vec<String>, lookup: Arc<dyn Lookup>) -> Self {
        Self::restricted(trusted, lookup, |_| true)
    }

    /// Also only addresses `connect` allows: tests allow loopback only, so that a fault in the
    /// checks can never send a packet elsewhere.
    pub fn restricted(
        trusted: Vec<String>,
        lookup: Arc<dyn Lookup>,
        connect: ConnectFilter,
    ) -> Self {
        Self {
            trusted: Arc::new(trusted),
            lookup,
            connect,
        }
    }

    /// A client that resolves names through these rules, follows no redirect and gives up on a
    /// request after `timeout`.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        let resolver = Guarded {
            lookup: self.lookup.clone(),
            trusted: self.trusted.clone(),
            connect: self.connect,
        };
        reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .expect("a client without custom TLS builds")
    }

    /// Refuses a URL that is not https (for a host not trusted), or names a non-public address;
    /// the reason is for operators and clients alike (it names the host, never the path).
    pub fn check(&self, url: &Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or("");
        let trusted = self.trusted.iter().any(|t| t == host);
        match url.scheme() {
            "https" => {}
            "http" if trusted => {}
            scheme => return Err(format!("{scheme} URLs are not allowed: {host}")),
        }
        let literal = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if let Some(ip) = literal.filter(|ip| !trusted && !is_public(*ip)) {
            return Err(format!("{ip} is not a public address"));
        }
        if let Some(ip) = literal.filter(|ip| !(self.connect)(*ip)) {
            return Err(format!("connections to {ip} are not allowed here"));
        }
        Ok(())
    }
}

/// The refusal behind a failed request, if the resolver refused its host.
pub fn refusal(error: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        source = cause.source();
    }
    None
}

/// The resolver of untrusted requests: it answers only public addresses, or refuses the name.
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

    #[test]
    fn only_https_urls_of_public_or_trusted_hosts_pass() {
        let outbound = Outbound::new(vec!["127.0.0.1".into()]);
        let check = |url: &str| outbound.check(&Url::parse(url).unwrap());
        assert!(check("https://hooks.example.com/slate").is_ok());
        assert!(check("http://127.0.0.1:9000/hook").is_ok());
        assert!(check("http://hooks.example.com/slate").is_err());
        assert!(check("https://10.0.0.1/hook").is_err());
        assert!(check("https://[::1]/hook").is_err());
        assert!(check("ftp://hooks.example.com/").is_err());
    }
}
