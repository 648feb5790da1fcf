//! `kradle dispatch`, `kradle runs` and `kradle approvals`: agent runs
//! and their approvals, read and acted on in PostgreSQL; `kradle serve`
//! does the rest (docs/dispatch.md).

use clap::Subcommand;
use kradle_runtime::dispatch::catalog::{DEFAULT_DEADLINE_SECONDS, DEFAULT_MAX_ATTEMPTS};
use kradle_runtime::dispatch::run::{Backend, Phase};
use kradle_runtime::store::{Cancelled, Decided, ListQuery, Store, StoredObject};
use serde_json::Value;

use super::db::Database;
use super::{out, say};
use crate::Failure;

/// Who acts: `--as`, else $USER, else `kradle-cli` (said on stderr: the
/// record would otherwise name nobody without a word).
fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| {
            say("kradle: note: $USER is not set, so this is recorded as `kradle-cli`; pass --as NAME to name who acts");
            "kradle-cli".into()
        })
}

fn esc(text: &str) -> String {
    kradle_compiler::text::escape_controls(text).into_owned()
}

#[derive(clap::Args)]
pub struct DispatchArgs {
    #[command(flatten)]
    database: Database,
    #[arg(long, value_name = "SLUG")]
    org: String,
    /// The AgentStack to run.
    #[arg(long, value_name = "NAME")]
    stack: String,
    #[arg(long, value_name = "KIND")]
    task_kind: String,
    /// The repository (name) to work on; it must be one of the org's.
    #[arg(long, value_name = "NAME")]
    repository: Option<String>,
    /// The branch to work on (default: main).
    #[arg(long = "ref", value_name = "REF")]
    git_ref: Option<String>,
    /// Who asks (default: $USER): recorded on the run and its approvals.
    #[arg(long = "as", value_name = "NAME")]
    actor: Option<String>,
    /// The config repository `kradle serve` runs: the org, stack and repository are checked
    /// against it before anything is stored (default: this folder, when it holds a
    /// kradle.yaml).
    #[arg(long, value_name = "PATH", env = "KRADLE_CONFIG")]
    config: Option<std::path::PathBuf>,
}

/// Why the run names what the config at `path` does not have; `Ok(None)`
/// when it has all of it.
fn refused_by_config(
    path: &std::path::Path,
    args: &DispatchArgs,
) -> Result<Option<String>, Failure> {
    let sources = kradle_compiler::source::Sources::from_dir(path)?;
    let build = super::apply::compile(sources, chrono::Utc::now());
    if build.has_errors() {
        return Ok(Some(format!(
            "the config {} does not compile (`kradle validate {}` says why), so the run cannot be checked",
            path.display(),
            path.display()
        )));
    }
    Ok(super::serve::catalog_of(&build)
        .check_names(&args.org, &args.stack, args.repository.as_deref())
        .err()
        .map(|why| why.to_string()))
}

/// `kradle dispatch`: a manual run, Pending, for `kradle serve` to take on.
pub fn run_dispatch(args: DispatchArgs) -> Result<u8, Failure> {
    crate::block_on(async {
        if let Err(why) = kradle_runtime::dispatch::check_manual(
            &args.stack,
            &args.task_kind,
            args.repository.as_deref(),
            args.git_ref.as_deref(),
        ) {
            say(&format!("kradle: error: {why}"));
            return Ok(1);
        }
        let config = args.config.clone().or_else(|| {
            std::path::Path::new(kradle_compiler::source::PROJECT_FILE)
                .is_file()
                .then(|| std::path::PathBuf::from("."))
        });
        match &config {
            Some(path) => {
                if let Some(why) = refused_by_config(path, &args)? {
                    say(&format!("kradle: error: {why}"));
                    return Ok(1);
                }
            }
            None => say(
                "kradle: note: not checked against a config (run it in the config repository, or pass --config PATH)",
            ),
        }
        let store = args.database.connect().await?;
        store.require_current().await?;
        let name = store
            .dispatch_manually(
                &args.org,
                &args.stack,
                &args.task_kind,
                args.repository.as_deref(),
                args.git_ref.as_deref(),
                &actor(args.actor),
                DEFAULT_MAX_ATTEMPTS,
                DEFAULT_DEADLINE_SECONDS,
            )
            .await?;
        out(&format!("{name}\n"))?;
        say(&format!(
            "run {name} is Pending; `kradle runs get {name} --org {}` follows it",
            args.org
        ));
        Ok(0)
    })
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// List agent runs, newest last.
    List(ListArgs),
    /// A run: its phase, conditions and attempts.
    Get(NamedArgs),
    /// Cancel a run: it is Cancelled at once, and `kradle serve` deletes its Job.
    Cancel(ActArgs),
    /// Print the log of a run's agent (its latest attempt's pod, from the cluster of the
    /// in-cluster service account or $KUBECONFIG).
    Logs(LogsArgs),
}

/// A run or an approval, by name, in its organization.
#[derive(clap::Args)]
struct Named {
    #[command(flatten)]
    database: Database,
    #[arg(value_name = "NAME")]
    name: String,
    /// The organization; needed only when several have one of that name.
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
}

impl Named {
    /// The organization, once [`Named::resolve`] found it.
    fn org(&self) -> &str {
        self.org.as_deref().unwrap_or_default()
    }

    /// Finds the organization when `--org` was not given: the one that has
    /// a run (or an approval) of this name. `Err(1)` (said) when none or
    /// several do.
    async fn resolve(
        &mut self,
        store: &kradle_runtime::store::Store,
        approvals: bool,
    ) -> Result<Result<(), u8>, Failure> {
        if self.org.is_some() {
            return Ok(Ok(()));
        }
        let what = if approvals { "approval" } else { "run" };
        let orgs = store.orgs_naming(approvals, &self.name).await?;
        match orgs.as_slice() {
            [one] => {
                self.org = Some(one.clone());
                Ok(Ok(()))
            }
            [] => {
                say(&format!(
                    "kradle: error: no organization has {what} `{}`",
                    esc(&self.name)
                ));
                Ok(Err(1))
            }
            several => {
                say(&format!(
                    "kradle: error: {} organizations have {what} `{}` ({}): pass --org",
                    several.len(),
                    esc(&self.name),
                    several.join(", ")
                ));
                Ok(Err(1))
            }
        }
    }
}

#[derive(clap::Args)]
struct LogsArgs {
    #[command(flatten)]
    named: Named,
    /// This attempt's (default: the latest).
    #[arg(long, value_name = "N")]
    attempt: Option<i32>,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    database: Database,
    /// One organization (default: all).
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
    #[command(flatten)]
    output: crate::args::ListOutput,
}

#[derive(clap::Args)]
struct NamedArgs {
    #[command(flatten)]
    named: Named,
    #[command(flatten)]
    output: crate::args::ListOutput,
}

#[derive(clap::Args)]
struct ActArgs {
    #[command(flatten)]
    named: Named,
    /// Who acts (default: $USER).
    #[arg(long = "as", value_name = "NAME")]
    actor: Option<String>,
    /// Why (recorded with the decision).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

/// Every object of `kind` (in `org`, or named `name`), page by page.
async fn all(
    store: &Store,
    kind: &str,
    org: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<StoredObject>, Failure> {
    let mut items = Vec::new();
    let mut query = ListQuery {
        org: org.map(str::to_string),
        name: name.map(str::to_string),
        ..ListQuery::default()
    };
    loop {
        let page = store.list_objects(kind, &query).await?;
        items.extend(page.items);
        match page.next {
            Some(after) => query.after = after,
            None => return Ok(items),
        }
    }
}

/// The records as `-o json|yaml` prints them.
fn records(objects: &[StoredObject]) -> Vec<Value> {
    objects
        .iter()
        .map(|o| {
            serde_json::json!({ "metadata": { "name": o.name, "organization": o.org,
                "creationTimestamp": o.created_at }, "spec": o.spec, "status": o.status })
        })
        .collect()
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("-")
}

fn age(o: &StoredObject) -> String {
    let secs = (chrono::Utc::now() - o.created_at).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn table(rows: Vec<Vec<String>>) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        text.push_str(cells.join("   ").trim_end());
        text.push('\n');
    }
    text
}

fn runs_table(runs: &[StoredObject]) -> String {
    if runs.is_empty() {
        return "no runs\n".into();
    }
    let mut rows = vec![
        [
            "ORG",
            "NAME",
            "STACK",
            "TASK",
            "REPOSITORY",
            "PHASE",
            "ATTEMPTS",
            "REASON",
            "AGE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in runs {
        rows.push(vec![
            esc(&r.org),
            esc(&r.name),
            esc(field(&r.spec, "agentStack")),
            esc(field(&r.spec, "taskKind")),
            esc(field(&r.spec, "repository")),
            field(&r.status, "phase").to_string(),
            format!(
                "{}/{}",
                r.status["attempts"].as_i64().unwrap_or(0),
                r.status["maxAttempts"].as_i64().unwrap_or(0)
            ),
            esc(field(&r.status, "reason")),
            age(r),
        ]);
    }
    table(rows)
}

/// `kubectl describe`-like text of a run and its attempts.
fn describe(run: &StoredObject, attempts: &[StoredObject], approvals: &[StoredObject]) -> String {
    let (spec, status) = (&run.spec, &run.status);
    let mut text = format!(
        "Name:         {}\nOrganization: {}\nStack:        {}\nTask kind:    {}\nRepository:   {}\nRef:          {}\nRequested by: {}\nPhase:        {}\nReason:       {}\nMessage:      {}\nWorkspace:    {}\nJob:          {}\n",
        esc(&run.name),
        esc(&run.org),
        esc(field(spec, "agentStack")),
        esc(field(spec, "taskKind")),
        esc(field(spec, "repository")),
        esc(field(spec, "ref")),
        esc(field(spec, "requestedBy")),
        field(status, "phase"),
        esc(field(status, "reason")),
        esc(field(status, "message")),
        esc(field(spec, "workspaceRef")),
        esc(field(status, "jobName")),
    );
    text.push_str("Conditions:\n");
    let mut rows = vec![vec!["  TYPE".to_string(), "STATUS".into()]];
    for c in status["conditions"].as_array().into_iter().flatten() {
        rows.push(vec![
            format!("  {}", field(c, "type")),
            field(c, "status").into(),
        ]);
    }
    text.push_str(&table(rows));
    text.push_str("Attempts:\n");
    let mut rows = vec![
        ["  #", "REASON", "PHASE", "JOB", "RESULT"]
            .map(String::from)
            .to_vec(),
    ];
    for a in attempts {
        rows.push(vec![
            format!("  {}", a.spec["attempt"].as_i64().unwrap_or(0)),
            field(&a.spec, "attemptReason").into(),
            field(&a.status, "phase").into(),
            esc(field(&a.status, "jobName")),
            esc(&format!(
                "{} {}",
                a.status["reason"].as_str().unwrap_or(""),
                a.status["message"].as_str().unwrap_or("")
            ))
            .trim()
            .to_string(),
        ]);
    }
    text.push_str(&table(rows));
    if !approvals.is_empty() {
        text.push_str("Approvals:\n");
        text.push_str(&approvals_table(approvals, "  "));
    }
    text
}

pub fn run_runs(args: RunsArgs) -> Result<u8, Failure> {
    crate::block_on(async {
        match args.command {
            RunsCommand::List(a) => {
                let store = a.database.connect().await?;
                store.require_current().await?;
                let runs = all(&store, "AgentDispatchRun", a.org.as_deref(), None).await?;
                out(&a.output.render(&records(&runs), || runs_table(&runs)))?;
                Ok(0)
            }
            RunsCommand::Get(mut a) => {
                let store = a.named.database.connect().await?;
                store.require_current().await?;
                if let Err(code) = a.named.resolve(&store, false).await? {
                    return Ok(code);
                }
                let runs = all(
                    &store,
                    "AgentDispatchRun",
                    Some(a.named.org()),
                    Some(&a.named.name),
                )
                .await?;
                let Some(run) = runs.first() else {
                    say(&format!(
                        "kradle: error: organization `{}` has no run `{}`",
                        a.named.org(),
                        esc(&a.named.name)
                    ));
                    return Ok(1);
                };
                let attempts: Vec<StoredObject> =
                    all(&store, "AgentDispatchAttempt", Some(a.named.org()), None)
                        .await?
                        .into_iter()
                        .filter(|x| x.spec["agentDispatchRun"] == run.name.as_str())
                        .collect();
                let approvals: Vec<StoredObject> =
                    all(&store, "AgentApproval", Some(a.named.org()), None)
                        .await?
                        .into_iter()
                        .filter(|x| x.spec["dispatchRun"] == run.name.as_str())
                        .collect();
                let mut every = vec![run.clone()];
                every.extend(attempts.iter().cloned());
                every.extend(approvals.iter().cloned());
                out(&a
                    .output
                    .render(&records(&every), || describe(run, &attempts, &approvals)))?;
                Ok(0)
            }
            RunsCommand::Logs(a) => logs(a).await,
            RunsCommand::Cancel(mut a) => {
                let store = a.named.database.connect().await?;
                store.require_current().await?;
                if let Err(code) = a.named.resolve(&store, false).await? {
                    return Ok(code);
                }
                match store
                    .cancel_run(a.named.org(), &a.named.name, &actor(a.actor))
                    .await?
                {
                    Cancelled::Cancelled => {
                        say(&format!(
                            "run {} cancelled; `kradle serve` deletes its Job",
                            esc(&a.named.name)
                        ));
                        Ok(0)
                    }
                    Cancelled::NotFound => {
                        say(&format!(
                            "kradle: error: organization `{}` has no run `{}`",
                            a.named.org(),
                            esc(&a.named.name)
                        ));
                        Ok(1)
                    }
                    Cancelled::Finished(phase) => {
                        say(&format!(
                            "kradle: error: run {} is over ({phase})",
                            esc(&a.named.name)
                        ));
                        Ok(1)
                    }
                }
            }
        }
    })
}

async fn logs(mut a: LogsArgs) -> Result<u8, Failure> {
    let store = a.named.database.connect().await?;
    store.require_current().await?;
    if let Err(code) = a.named.resolve(&store, false).await? {
        return Ok(code);
    }
    let Some(run) = store
        .dispatch_run_named(a.named.org(), &a.named.name)
        .await?
    else {
        say(&format!(
            "kradle: error: organization `{}` has no run `{}`",
            a.named.org(),
            esc(&a.named.name)
        ));
        return Ok(1);
    };
    let attempt = a.attempt.unwrap_or(run.attempts);
    let waiting = matches!(
        run.phase,
        Phase::Pending | Phase::AwaitingApproval | Phase::Queued
    );
    if waiting && (run.attempts == 0 || attempt == run.attempts) {
        say(&format!(
            "kradle: error: run {} is {}: its attempt has not started, so there is no log yet (`kradle runs get {} --org {}` says what it waits for)",
            esc(&run.name),
            run.phase,
            esc(&run.name),
            run.org
        ));
        return Ok(1);
    }
    if attempt < 1 || attempt > run.attempts {
        say(&format!(
            "kradle: error: run {} has {} attempt(s)",
            esc(&run.name),
            run.attempts
        ));
        return Ok(1);
    }
    if attempt == run.attempts && run.backend == Some(Backend::AgentMux) {
        say(&format!(
            "kradle: error: attempt {attempt} of run {} runs on the Agent Mux gateway, not in a pod: its transcript is `kubectl get agentsessiontranscripts {} -n {} -o yaml`",
            esc(&run.name),
            esc(&run.name),
            kradle_runtime::names::org_namespace(&run.org)
        ));
        return Ok(1);
    }
    let job = kradle_runtime::names::job_name(&run.name, attempt);
    let namespace = kradle_runtime::names::org_namespace(&run.org);
    let client = match kradle_runtime::cluster::client().await {
        Ok(client) => client,
        Err(e) => {
            say(&format!(
                "kradle: error: the log of Job {job} is in the cluster, and no cluster is reachable (in-cluster service account, or $KUBECONFIG): {e}"
            ));
            return Ok(2);
        }
    };
    let jobs = kradle_runtime::cluster::jobs::KubeJobs::new(client);
    match jobs.logs(&namespace, &job).await {
        Ok(Some(text)) => {
            out(&text)?;
            Ok(0)
        }
        Ok(None) => {
            say(&format!(
                "kradle: error: Job {job} has no pod in {namespace} (not started, or removed: finished Jobs are kept 24 hours)"
            ));
            Ok(1)
        }
        Err(e) => {
            say(&format!("kradle: error: {e}"));
            Ok(1)
        }
    }
}

#[derive(clap::Args)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// List approvals: by default the pending ones, whose runs wait.
    List(ApprovalListArgs),
    /// Approve: the run goes on to its workspace and Job.
    Approve(ActArgs),
    /// Deny: the run fails.
    Deny(ActArgs),
}

#[derive(clap::Args)]
struct ApprovalListArgs {
    #[command(flatten)]
    database: Database,
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
    /// Decided ones too.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    output: crate::args::ListOutput,
}

fn approvals_table(approvals: &[StoredObject], indent: &str) -> String {
    if approvals.is_empty() {
        return format!("{indent}no approvals\n");
    }
    let mut rows = vec![
        [
            "ORG",
            "NAME",
            "RUN",
            "ACTION",
            "REQUESTED BY",
            "PHASE",
            "DECIDED BY",
            "AGE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for p in approvals {
        rows.push(vec![
            esc(&p.org),
            esc(&p.name),
            esc(field(&p.spec, "dispatchRun")),
            field(&p.spec, "action").into(),
            esc(field(&p.spec, "requestedBy")),
            field(&p.status, "phase").into(),
            esc(field(&p.status, "decidedBy")),
            age(p),
        ]);
    }
    let mut rows_text = table(rows);
    if !indent.is_empty() {
        rows_text = rows_text
            .lines()
            .map(|l| format!("{indent}{l}\n"))
            .collect();
    }
    rows_text
}

pub fn run_approvals(args: ApprovalsArgs) -> Result<u8, Failure> {
    crate::block_on(async {
        let (a, approve) = match args.command {
            ApprovalsCommand::List(a) => {
                let store = a.database.connect().await?;
                store.require_current().await?;
                let approvals: Vec<StoredObject> =
                    all(&store, "AgentApproval", a.org.as_deref(), None)
                        .await?
                        .into_iter()
                        .filter(|p| a.all || p.status["phase"] == "Pending")
                        .collect();
                out(&a
                    .output
                    .render(&records(&approvals), || approvals_table(&approvals, "")))?;
                return Ok(0);
            }
            ApprovalsCommand::Approve(a) => (a, true),
            ApprovalsCommand::Deny(a) => (a, false),
        };
        let mut a = a;
        let store = a.named.database.connect().await?;
        store.require_current().await?;
        if let Err(code) = a.named.resolve(&store, true).await? {
            return Ok(code);
        }
        let who = actor(a.actor);
        match store
            .decide_approval(
                a.named.org(),
                &a.named.name,
                approve,
                &who,
                a.reason.as_deref(),
            )
            .await?
        {
            Decided::Approved => {
                say(&format!(
                    "approval {} approved by {who}: its run goes on",
                    esc(&a.named.name)
                ));
                Ok(0)
            }
            Decided::Denied => {
                say(&format!(
                    "approval {} denied by {who}: its run failed",
                    esc(&a.named.name)
                ));
                Ok(0)
            }
            Decided::Writes { approved, writes } => {
                say(&format!(
                    "approval {} {} by {who}: {writes} write(s) of its run {}",
                    esc(&a.named.name),
                    if approved { "approved" } else { "denied" },
                    if approved {
                        "queued; later ones are sent without asking"
                    } else {
                        "rejected; later ones are too"
                    }
                ));
                Ok(0)
            }
            Decided::NotFound => {
                say(&format!(
                    "kradle: error: organization `{}` has no approval `{}`",
                    a.named.org(),
                    esc(&a.named.name)
                ));
                Ok(1)
            }
            Decided::Already(how) => {
                say(&format!(
                    "kradle: error: approval {} was {how} already",
                    esc(&a.named.name)
                ));
                Ok(1)
            }
        }
    })
}
