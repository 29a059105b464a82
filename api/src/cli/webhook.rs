//! `slate webhook-secret`: the secret that signs the caller's webhook events, and its rotation.

use anyhow::Context;
use clap::Args;

use super::client::{answer, endpoint, ServerArgs};

#[derive(Args)]
pub struct WebhookSecretArgs {
    /// Replace the secret; the previous one still signs events for 24 hours.
    #[arg(long)]
    rotate: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn webhook_secret(args: WebhookSecretArgs) -> anyhow::Result<()> {
    let http = args.server.http()?;
    let request = if args.rotate {
        http.post(endpoint(&args.server, "/api/webhooks/secret/rotate"))
    } else {
        http.get(endpoint(&args.server, "/api/webhooks/secret"))
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach Slate at {}", args.server.url()))?;
    let secret = answer(response).await?;
    println!("{}", secret["secret"].as_str().unwrap_or_default());
    eprintln!(
        "Events carry {}: t=<unix seconds>,v1=<HMAC-SHA256 of \"<t>.<body>\" under this secret, hex>. \
         Refuse a t more than {} s from now.",
        secret["signature_header"].as_str().unwrap_or_default(),
        secret["tolerance_secs"]
    );
    Ok(())
}
