//! `kradle issues set` and `kradle conflicts`: write-back of issue changes
//! to the forge, and the conflicts it finds (docs/writeback.md).

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Subcommand;
use kradle_runtime::serve::ordering_key;
use kradle_runtime::store::{Conflict, NewWriteBack, Phase, ResolveError, Store, WriteBack};
use kradle_runtime::writeback::{IssueEdit, IssueFields, Resolution};
use serde_json::json;

use super::db::Database;
use super::{out, say};
use crate::Failure;

/// Tries of a write-back job before it is given up (a first try and three
/// retries: the spec's `maxRetries` default).
const MAX_ATTEMPTS: i32 = 4;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IssuesCommand,
}

#[derive(Subcommand)]
enum IssuesCommand {
    /// Change an issue on its forge: record the change (a write intent) for `kradle serve`
    /// to send, merged with what the forge has by then.
    Set(SetArgs),
}

#[derive(clap::Args)]
struct SetArgs {
    #[command(flatten)]
    database: Database,
    /// The Issue, by name (`kubectl get issues -n kradle-org-ORG` lists them).
    #[arg(value_name = "NAME")]
    name: String,
    /// Its organization.
    #[arg(long, value_name = "SLUG")]
    org: String,
    #[arg(long = "add-label", value_name = "LABEL")]
    add_labels: Vec<String>,
    #[arg(long = "remove-label", value_name = "LABEL")]
    remove_labels: Vec<String>,
    #[arg(long = "add-assignee", value_name = "LOGIN")]
    add_assignees: Vec<String>,
    #[arg(long = "remove-assignee", value_name = "LOGIN")]
    remove_assignees: Vec<String>,
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    #[arg(long, value_name = "STATE", value_parser = ["open", "closed"])]
    state: Option<String>,
    /// The kanban column (a project's workflowColumns id), carried on the forge as the
    /// label `workflow:<column>`.
    #[arg(long, value_name = "COLUMN")]
    workflow_state: Option<String>,
    /// Wait until `kradle serve` has sent it (or held or refused it).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

pub fn run(args: Args) -> Result<u8, Failure> {
    crate::block_on(async {
        match args.command {
            IssuesCommand::Set(a) => set(a).await,
        }
    })
}

async fn set(args: SetArgs) -> Result<u8, Failure> {
    let edit = IssueEdit {
        add_labels: args.add_labels,
        remove_labels: args.remove_labels,
        add_assignees: args.add_assignees,
        remove_assignees: args.remove_assignees,
        title: args.title,
        state: args.state,
        workflow_state: args.workflow_state,
    };
    if let Err(e) = edit.check() {
        say(&format!("kradle: error: {e}"));
        return Ok(1);
    }
    let store = args.database.connect().await?;
    store.require_current().await?;
    let shown = kradle_compiler::text::escape_controls(&args.name);
    let Some(issue) = store.projection(&args.org, "Issue", &args.name).await? else {
        say(&format!(
            "kradle: error: no Issue `{shown}` in organization `{}` (kradle serve syncs them from the forge)",
            kradle_compiler::text::escape_controls(&args.org)
        ));
        return Ok(1);
    };
    // `<owner>/<repo>/issues/<number>`
    let (repo, number) = issue
        .native_id
        .rsplit_once("/issues/")
        .and_then(|(repo, n)| Some((repo, n.parse::<u64>().ok()?)))
        .ok_or_else(|| {
            Failure::Io(std::io::Error::other(format!(
                "the Issue `{shown}` has no issue number in its native id"
            )))
        })?;
    let job_key = ordering_key(
        &issue.source,
        &args.org,
        "issues",
        &json!({ "repository": { "full_name": repo }, "issue": { "number": number } }),
    );
    let base = IssueFields::from_projection(&issue.spec).base_for(&edit);
    let (wb, new) = store
        .record_write_back(&NewWriteBack {
            org: &args.org,
            backend: &issue.source,
            resource_kind: "Issue",
            resource_name: &args.name,
            receiver: &issue.receiver,
            path: format!("/repos/{repo}/issues/{number}"),
            edit: &edit,
            base,
            job_key,
            max_attempts: MAX_ATTEMPTS,
        })
        .await?;
    let id = wb.intent.id;
    say(&format!(
        "issue {shown}: write-back {id} {} ({}); `kradle serve` sends it",
        if new {
            "recorded"
        } else {
            "was recorded already"
        },
        wb.intent.phase
    ));
    if !args.wait {
        return Ok(0);
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    loop {
        let now = store.write_back(id).await?;
        let held = now
            .as_ref()
            .is_some_and(|w| w.intent.phase == Phase::Pending && w.intent.last_error.is_some());
        match now {
            Some(w) if !w.intent.phase.is_open() || held => return report(&store, &w).await,
            _ if Instant::now() >= deadline => {
                say(&format!(
                    "kradle: write-back {id} is still open after {}s; is `kradle serve` running?",
                    args.timeout
                ));
                return Ok(1);
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Says how a write-back ended; 0 when the forge has the change.
async fn report(store: &Store, w: &WriteBack) -> Result<u8, Failure> {
    let id = w.intent.id;
    let reason = w.intent.last_error.as_deref().unwrap_or_default();
    let code = match w.intent.phase {
        Phase::Succeeded => {
            say(&format!("write-back {id}: sent"));
            0
        }
        Phase::Superseded => {
            say(&format!(
                "write-back {id}: the forge had it already; nothing sent"
            ));
            0
        }
        Phase::Pending => {
            let conflicts = store.open_conflicts(id).await?;
            say(&format!("write-back {id}: {reason}"));
            let _ = std::io::stderr().write_all(conflict_table(&conflicts).as_bytes());
            3
        }
        phase => {
            say(&format!("write-back {id}: {phase}: {reason}"));
            1
        }
    };
    Ok(code)
}

#[derive(clap::Args)]
pub struct ConflictsArgs {
    #[command(subcommand)]
    command: ConflictsCommand,
}

#[derive(Subcommand)]
enum ConflictsCommand {
    /// List sync conflicts: by default the open ones, which hold their write-back.
    List(ListArgs),
    /// Decide an open conflict; when it was its write-back's last, the write is queued again.
    Resolve(ResolveArgs),
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    database: Database,
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
    /// Resolved and ignored ones too.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    output: crate::args::ListOutput,
}

#[derive(clap::Args)]
struct ResolveArgs {
    #[command(flatten)]
    database: Database,
    /// The conflict's id, as `kradle conflicts list` shows it.
    #[arg(value_name = "ID")]
    id: i64,
    /// prefer-kradle: send kradle's value; prefer-external: keep the forge's; ignore: keep
    /// the forge's and mark the conflict Ignored.
    #[arg(long = "use", value_name = "RESOLUTION", value_parser = ["prefer-kradle", "prefer-external", "ignore"])]
    resolution: String,
}

pub fn run_conflicts(args: ConflictsArgs) -> Result<u8, Failure> {
    crate::block_on(async {
        match args.command {
            ConflictsCommand::List(a) => {
                let store = a.database.connect().await?;
                store.require_current().await?;
                let conflicts = store.list_conflicts(a.org.as_deref(), a.all).await?;
                out(&a.output.render(&conflicts, || conflict_table(&conflicts)))?;
                Ok(0)
            }
            ConflictsCommand::Resolve(a) => {
                let store = a.database.connect().await?;
                store.require_current().await?;
                let resolution =
                    Resolution::parse(&a.resolution).unwrap_or(Resolution::PreferExternal);
                match store.resolve_conflict(a.id, resolution).await {
                    Ok(c) => {
                        say(&format!(
                            "conflict {}: {} of {} resolved ({}); write-back {} goes on",
                            c.id,
                            c.field_path,
                            c.resource_name,
                            resolution.as_str(),
                            c.intent_id
                        ));
                        Ok(0)
                    }
                    Err(ResolveError::Store(e)) => Err(e.into()),
                    Err(e) => {
                        say(&format!("kradle: error: {e}"));
                        Ok(1)
                    }
                }
            }
        }
    })
}

fn conflict_table(conflicts: &[Conflict]) -> String {
    if conflicts.is_empty() {
        return "no conflicts\n".into();
    }
    let show = |v: &Option<serde_json::Value>| {
        kradle_compiler::text::escape_controls(&v.as_ref().map_or("-".into(), |v| v.to_string()))
            .into_owned()
    };
    let mut text = String::from("ID\tORG\tRESOURCE\tFIELD\tBASE\tKRADLE\tEXTERNAL\tPHASE\tWRITE\n");
    for c in conflicts {
        text.push_str(&format!(
            "{}\t{}\tissue/{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.id,
            c.org,
            kradle_compiler::text::escape_controls(&c.resource_name),
            c.field_path,
            show(&c.base_value),
            show(&c.local_value),
            show(&c.external_value),
            c.resolution
                .as_ref()
                .map_or(c.phase.clone(), |r| format!("{} ({r})", c.phase)),
            c.intent_id
        ));
    }
    text
}
