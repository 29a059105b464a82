//! The commands of `slate`: the server's (serve, worker, migrate, keys) and the client's
//! (generate, status, replay, contact-sheet, smoke).

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

mod client;
mod keys;
mod providers;
mod server;
mod sheet;
mod smoke;
mod steer;
mod store;
mod webhook;

use client::{GenerateArgs, ReplayArgs, StatusArgs};
use keys::KeysArgs;
use server::{DatabaseArgs, ServeArgs, WorkerCommandArgs};
use sheet::SheetArgs;
use smoke::SmokeArgs;
use steer::{ApproveArgs, RegenerateArgs, VersionsArgs};
use webhook::WebhookSecretArgs;

#[derive(Parser)]
#[command(
    name = "slate",
    version,
    about = "Durable video generation on PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text or JSON.
    #[arg(
        long,
        env = "SLATE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API, workers and the scheduler until SIGTERM or ctrl-c.
    Serve(Box<ServeArgs>),
    /// Run workers and the scheduler until SIGTERM or ctrl-c.
    Worker(Box<WorkerCommandArgs>),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Create, list, change, revoke and rotate clients' API keys (on DATABASE_URL directly).
    Keys(KeysArgs),
    /// Ask a running Slate for a video; with --wait, follow it and download it.
    Generate(GenerateArgs),
    /// Print where a video stands.
    Status(StatusArgs),
    /// Approve the review gate a video waits at, so that it goes on.
    Approve(ApproveArgs),
    /// Make one beat of a finished video again, as its next version.
    Regenerate(RegenerateArgs),
    /// List a video's versions.
    Versions(VersionsArgs),
    /// Print the secret that signs your webhook events; with --rotate, replace it.
    WebhookSecret(WebhookSecretArgs),
    /// Replay a run from a phase (operators; needs SLATE_ADMIN_TOKEN).
    Replay(ReplayArgs),
    /// Write a contact sheet of a finished video: frames sampled from each beat, a row each.
    ContactSheet(SheetArgs),
    /// Make 15 s and 30 s videos of every archetype at creativity 0.0, 0.5 and 1.0 through a
    /// running Slate, and print a table of outcome, cost and time.
    Smoke(SmokeArgs),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => server::serve(*args).await,
            Command::Worker(args) => server::worker(*args).await,
            Command::Generate(args) => client::generate(args).await,
            Command::Status(args) => client::status(args).await,
            Command::Replay(args) => client::replay(args).await,
            Command::Approve(args) => steer::approve(args).await,
            Command::Regenerate(args) => steer::regenerate(args).await,
            Command::Versions(args) => steer::versions(args).await,
            Command::WebhookSecret(args) => webhook::webhook_secret(args).await,
            Command::ContactSheet(args) => sheet::sheet(args).await,
            Command::Smoke(args) => smoke::smoke(args).await,
            Command::Keys(args) => keys::keys(args).await,
            Command::Migrate(args) => {
                server::connect(&args).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
        }
    }
}
