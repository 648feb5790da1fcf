//! `kradle db`: the runtime's PostgreSQL database.

use std::io::Write;

use clap::Subcommand;
use kradle_runtime::store::{DATABASE_URL_ENV, Store, latest_migration};

use crate::Failure;

/// Where kradle's database is.
#[derive(clap::Args, Clone)]
pub struct Database {
    /// PostgreSQL URL, e.g. postgres://kradle@db:5432/kradle (default: $KRADLE_DATABASE_URL).
    /// Prefer the environment variable when the URL holds a password.
    #[arg(long, value_name = "URL", env = DATABASE_URL_ENV, hide_env_values = true)]
    pub database_url: Option<String>,
}

impl Database {
    /// Connects, or fails with exit 2 and a message without the URL.
    pub async fn connect(&self) -> Result<Store, Failure> {
        Ok(Store::connect_from(self.database_url.as_deref()).await?)
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply the migrations this kradle embeds that the database lacks (safe to rerun, and to
    /// run from several replicas at once).
    Migrate(Database),
    /// Say whether the database's schema is current; exit 1 when it is not.
    Status(Database),
}

pub fn run(args: Args) -> Result<u8, Failure> {
    crate::block_on(async {
        let mut err = std::io::stderr();
        match args.command {
            DbCommand::Migrate(db) => {
                let store = db.connect().await?;
                let report = store.migrate().await?;
                let applied = if report.applied.is_empty() {
                    "nothing to apply".to_string()
                } else {
                    format!(
                        "applied {}",
                        report
                            .applied
                            .iter()
                            .map(|v| format!("{v:04}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let _ = writeln!(
                    err,
                    "{}: {applied}; schema at {:04}",
                    store.server(),
                    report.current
                );
                Ok(0)
            }
            DbCommand::Status(db) => {
                let store = db.connect().await?;
                let current = store.is_current().await?;
                let _ = writeln!(
                    err,
                    "{}: {} (this kradle embeds migrations up to {:04})",
                    store.server(),
                    if current {
                        "schema current"
                    } else {
                        "not migrated: run `kradle db migrate`"
                    },
                    latest_migration()
                );
                Ok(if current { 0 } else { 1 })
            }
        }
    })
}
