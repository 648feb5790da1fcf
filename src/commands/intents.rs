//! `kradle intents`: the forge writes kradle journaled, and the approval of
//! the ones that wait for it (kradle.yaml `forges.approveRemovals`).

use std::io::Write;

use clap::Subcommand;
use kradle_runtime::store::{Intent, Phase};

use super::db::Database;
use super::out;
use crate::Failure;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IntentsCommand,
}

#[derive(Subcommand)]
enum IntentsCommand {
    /// List write intents: by default the ones waiting for approval.
    List(ListArgs),
    /// Approve intents waiting for approval; the next `kradle apply` sends them.
    Approve(DecideArgs),
    /// Reject intents waiting for approval; they are never sent.
    Reject(DecideArgs),
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    database: Database,
    /// Only this organization.
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
    /// Every intent, whatever its phase (the journal).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    output: crate::args::ListOutput,
}

#[derive(clap::Args)]
struct DecideArgs {
    #[command(flatten)]
    database: Database,
    /// Intent ids, as `kradle intents list` shows them.
    #[arg(required = true, value_name = "ID")]
    ids: Vec<i64>,
}

pub fn run(args: Args) -> Result<u8, Failure> {
    crate::block_on(async {
        match args.command {
            IntentsCommand::List(a) => list(a).await,
            IntentsCommand::Approve(a) => decide(a, true).await,
            IntentsCommand::Reject(a) => decide(a, false).await,
        }
    })
}

async fn list(args: ListArgs) -> Result<u8, Failure> {
    let store = args.database.connect().await?;
    store.require_current().await?;
    let phases: &[Phase] = if args.all {
        Phase::ALL
    } else {
        &[Phase::PendingApproval]
    };
    let intents = store.list_intents(args.org.as_deref(), phases).await?;
    out(&args.output.render(&intents, || table(&intents)))?;
    Ok(0)
}

fn table(intents: &[Intent]) -> String {
    if intents.is_empty() {
        return "no intents\n".into();
    }
    let mut text = String::from("ID\tORG\tBACKEND\tPHASE\tOPERATION\tREQUEST\n");
    for i in intents {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{} {}\n",
            i.id,
            i.org,
            i.backend,
            i.phase,
            kradle_compiler::text::escape_controls(&i.operation_id),
            i.method,
            kradle_compiler::text::escape_controls(&i.path)
        ));
    }
    text
}

async fn decide(args: DecideArgs, approve: bool) -> Result<u8, Failure> {
    let store = args.database.connect().await?;
    store.require_current().await?;
    let mut err = std::io::stderr();
    let mut missing = false;
    for id in args.ids {
        match store.decide_intent(id, approve).await? {
            Some(i) => {
                let _ = writeln!(
                    err,
                    "intent {id} ({} {} of {}): {}",
                    i.method,
                    kradle_compiler::text::escape_controls(&i.path),
                    i.org,
                    if approve {
                        "approved; the next `kradle apply` sends it"
                    } else {
                        "rejected; it will not be sent"
                    }
                );
            }
            None => {
                let _ = writeln!(err, "intent {id} is not waiting for approval");
                missing = true;
            }
        }
    }
    Ok(if missing { 1 } else { 0 })
}
