//! Fetching providers' outputs as untrusted input (SSRF): only https and public addresses unless a
//! host is trusted, every redirect checked, a size cap while streaming, and the content probed.
//! Test names resolve to private and link-local addresses through a test resolver, and every
//! fetcher here connects to loopback only, so no packet ever leaves for such an address.

use std::{collections::HashMap, future::Future, net::IpAddr, pin::Pin, sync::Arc};

use slate_activities::{
    outbound::Lookup,
    providers::fetch::{Fetcher, MediaKind},
};
use slate_integration_tests::replicate_fake::sample_png as png;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

/// Resolves the test names to the addresses given, and nothing else.
struct TestNames(HashMap<&'static str, IpAddr>);

impl Lookup for TestNames {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let found = self.0.get(host).copied();
        Box::pin(async move {
            found
                .map(|ip| vec![ip])
                .ok_or_else(|| std::io::Error::other("unknown test name"))
        })
    }
}

/// A fetcher that trusts `trusted`, resolves the test names, and connects to loopback only.
fn fetcher(trusted: &[&str]) -> Fetcher {
    let names = TestNames(HashMap::from([
        ("cdn.test", "10.1.2.3".parse().unwrap()),
        ("metadata.test", "169.254.169.254".parse().unwrap()),
        ("local.test", "127.0.0.1".parse().unwrap()),
    ]));
    Fetcher::restricted(
        trusted.iter().map(|t| t.to_string()).collect(),
        Arc::new(names),
        |ip| ip.is_loopback(),
    )
}

async fn serving(body: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/out"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn plain_http_and_loopback_addresses_are_refused_before_any_request() {
    let server = serving(png()).await;
    let port = server.address().port();
    let strict = fetcher(&[]);
    for url in [
        format!("http://127.0.0.1:{port}/out"),
        format!("https://127.0.0.1:{port}/out"),
        format!("https://local.test:{port}/out"),
    ] {
        let refused = strict.fetch(&url, MediaKind::Image).await.unwrap_err();
        assert_eq!(
            (refused.code.as_str(), refused.retryable),
            ("unsafe_output", false),
            "{url}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused() {
    for url in [
        "https://cdn.test/out.png",
        "https://metadata.test/latest/meta-data",
    ] {
        let refused = fetcher(&[]).fetch(url, MediaKind::Image).await.unwrap_err();
        assert_eq!(refused.code, "unsafe_output", "{url}");
        assert!(
            refused.message.contains("not a public address"),
            "{}",
            refused.message
        );
    }
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused_and_redirects_are_capped() {
    let server = MockServer::start().await;
    Mock::given(path("/out"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "https://metadata.test/latest/meta-data"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/loop"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/loop"))
        .mount(&server)
        .await;
    let trusting = fetcher(&["127.0.0.1"]);
    let redirected = trusting
        .fetch(&format!("{}/out", server.uri()), MediaKind::Image)
        .await
        .unwrap_err();
    assert_eq!(redirected.code, "unsafe_output");
    assert!(
        redirected.message.contains("169.254.169.254"),
        "{}",
        redirected.message
    );
    let looped = trusting
        .fetch(&format!("{}/loop", server.uri()), MediaKind::Image)
        .await
        .unwrap_err();
    assert!(looped.message.contains("redirects"), "{}", looped.message);
}

#[tokio::test]
async fn an_oversized_body_is_refused_while_it_streams() {
    let server = serving(vec![0; 64 * 1024]).await;
    let refused = fetcher(&["127.0.0.1"])
        .with_limit(16 * 1024)
        .fetch(&format!("{}/out", server.uri()), MediaKind::Image)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code.as_str(), refused.retryable),
        ("output_too_large", false)
    );
}

#[tokio::test]
async fn only_content_of_the_kind_asked_for_is_accepted() {
    let image = serving(png()).await;
    let url = format!("{}/out", image.uri());
    let trusting = fetcher(&["127.0.0.1"]);
    let file = trusting
        .fetch(&url, MediaKind::Image)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), png());
    let not_a_video = trusting.fetch(&url, MediaKind::Video).await.unwrap_err();
    assert_eq!(not_a_video.code, "unsafe_output");

    let playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5,\nhttp://169.254.169.254/secret.ts\n#EXT-X-ENDLIST\n";
    let hls = serving(playlist.to_vec()).await;
    let refused = trusting
        .fetch(&format!("{}/out", hls.uri()), MediaKind::Video)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code, "unsafe_output",
        "an HLS playlist is not a video"
    );
    let fake_png = serving([&png()[..8], b"not really an image"].concat()).await;
    let refused = trusting
        .fetch(&format!("{}/out", fake_png.uri()), MediaKind::Image)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code, "unsafe_output",
        "a PNG signature alone is not an image"
    );
}

#[tokio::test]
async fn a_deleted_output_is_reported_gone() {
    let server = MockServer::start().await;
    let gone = fetcher(&["127.0.0.1"])
        .fetch(&format!("{}/missing", server.uri()), MediaKind::Image)
        .await
        .unwrap();
    assert!(gone.is_none());
}
