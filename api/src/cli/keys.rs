//! `slate keys`: operators create, list, revoke and rotate clients' API keys directly in the
//! database at DATABASE_URL (no admin token needed). A new secret is printed once.

use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use slate_activities::keys::{
    key_create, key_list, key_revoke, key_rotate, key_update, KeyChange, NewKey,
};
use uuid::Uuid;

use super::server::{connect, DatabaseArgs};

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print its secret (shown this once).
    Create {
        /// Who the key is for.
        #[arg(long)]
        name: String,
        /// The most its videos may cost in a calendar month (UTC), in USD; no cap when unset.
        #[arg(long)]
        monthly_budget_usd: Option<f64>,
        /// How many of its videos may be in the making at once; the server's default when unset.
        #[arg(long)]
        max_active_videos: Option<i32>,
        /// When it stops working, for example 2027-01-01T00:00:00Z; never when unset.
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// List every key, its limits and its secrets' lookups (never the secrets).
    List,
    /// Change a key's limits or expiry.
    Update {
        key_id: Uuid,
        #[arg(long)]
        monthly_budget_usd: Option<f64>,
        /// Remove the key's monthly cap.
        #[arg(long, conflicts_with = "monthly_budget_usd")]
        no_monthly_budget: bool,
        #[arg(long)]
        max_active_videos: Option<i32>,
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// Revoke a key: its secrets stop working at once, on every process.
    Revoke { key_id: Uuid },
    /// Give a key a new secret; the old ones keep working for the overlap.
    Rotate {
        key_id: Uuid,
        /// How long the old secrets keep working, in hours.
        #[arg(long, default_value_t = 24)]
        overlap_hours: u64,
    },
}

pub async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let pool = connect(&args.database).await?;
    match args.command {
        KeysCommand::Create {
            name,
            monthly_budget_usd,
            max_active_videos,
            expires_at,
        } => {
            check_limits(monthly_budget_usd, max_active_videos)?;
            let new = NewKey {
                name,
                monthly_budget_usd,
                max_active_videos,
                expires_at,
            };
            let (key, secret) = key_create(&pool, &new).await?;
            eprintln!(
                "key {} ({}) created; its secret is shown this once:",
                key.id, key.name
            );
            println!("{}", secret.expose());
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<20} {:>10} {:>7}  {:<8} secrets",
                "key_id", "name", "budget", "active", "state"
            );
            for listing in key_list(&pool).await? {
                let key = &listing.key;
                let state = match (key.revoked_at, key.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(at)) if at <= Utc::now() => "expired",
                    _ => "active",
                };
                let lookups: Vec<String> = listing
                    .secrets
                    .iter()
                    .map(|s| match s.expires_at {
                        Some(end) => format!("{} (until {end})", s.lookup),
                        None => s.lookup.clone(),
                    })
                    .collect();
                println!(
                    "{:<36}  {:<20} {:>10} {:>7}  {:<8} {}",
                    key.id,
                    key.name,
                    key.monthly_budget_usd
                        .map_or("-".into(), |b| format!("${b:.2}")),
                    key.max_active_videos.map_or("-".into(), |m| m.to_string()),
                    state,
                    lookups.join(", ")
                );
            }
        }
        KeysCommand::Update {
            key_id,
            monthly_budget_usd,
            no_monthly_budget,
            max_active_videos,
            expires_at,
        } => {
            check_limits(monthly_budget_usd, max_active_videos)?;
            let change = KeyChange {
                name: None,
                monthly_budget_usd: if no_monthly_budget {
                    Some(None)
                } else {
                    monthly_budget_usd.map(Some)
                },
                max_active_videos: max_active_videos.map(Some),
                expires_at: expires_at.map(Some),
            };
            let key = key_update(&pool, key_id, &change).await?;
            println!("key {} ({}) updated", key.id, key.name);
        }
        KeysCommand::Revoke { key_id } => {
            let key = key_revoke(&pool, key_id).await?;
            println!("key {} ({}) revoked", key.id, key.name);
        }
        KeysCommand::Rotate {
            key_id,
            overlap_hours,
        } => {
            let overlap = Duration::from_secs(overlap_hours.min(30 * 24) * 3600);
            let (secret, old_end) = key_rotate(&pool, key_id, overlap).await?;
            eprintln!("key {key_id} rotated; its old secrets work until {old_end}; the new one:");
            println!("{}", secret.expose());
        }
    }
    Ok(())
}

fn check_limits(budget: Option<f64>, active: Option<i32>) -> anyhow::Result<()> {
    if budget.is_some_and(|b| !b.is_finite() || b < 0.0) {
        bail!("--monthly-budget-usd must be a number of USD, 0 or more");
    }
    if active.is_some_and(|a| !(1..=10_000).contains(&a)) {
        bail!("--max-active-videos must be from 1 to 10000");
    }
    Ok(())
}
