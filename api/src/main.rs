//! `slate`: Slate's command line. It only parses arguments, installs telemetry and runs the
//! command; everything else lives in the library crates.

mod cli;
mod telemetry;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    telemetry::init(cli.log_format);
    cli.run().await
}
