//! `kradle apply`: compile the repository, then converge each forge to its
//! plan, journaling every write in PostgreSQL (docs/apply.md).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;
use kradle_compiler::forge_plan::Backend;
use kradle_compiler::lower::BuildOptions;
use kradle_runtime::apply::{
    ApplyError, ApplyOptions, OpReport, OrgReport, Outcome, Summary, apply as apply_plan,
    retries_of,
};
use kradle_runtime::cluster;
use kradle_runtime::forge::clients::{self, NoClient};
use kradle_runtime::forge::gitea::Gitea;
use kradle_runtime::forge::github::GitHub;
use kradle_runtime::secrets::Secrets;
use serde_json::json;

use super::db::Database;
use super::{load, out, render_diagnostics, use_color};
use crate::Failure;
use crate::args::{Format, Input, Revision, parse_percent};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ApplyFormat {
    /// One line per write, then a summary.
    Human,
    /// The documented JSON report (docs/apply.md).
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    revision: Revision,
    #[command(flatten)]
    database: Database,
    /// Only this organization (repeatable; default: every organization).
    #[arg(long = "org", value_name = "SLUG")]
    orgs: Vec<String>,
    /// Read the forges and print the writes a real run would send; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also remove what nobody declared (drift is otherwise only reported).
    #[arg(long)]
    prune: bool,
    /// Refuse when removals take more than this percentage of an org's permission grants.
    #[arg(long, value_name = "PERCENT", default_value_t = 25.0, value_parser = parse_percent)]
    max_removal: f64,
    /// Let an apply over --max-removal through.
    #[arg(long)]
    allow_removal: bool,
    /// Fail at once when another apply holds an organization, instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// Writes sent at once, within what the plan's dependencies allow.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Send every webhook's secret again, as after rotating the values (forges never show
    /// a hook's secret, so kradle cannot see that a value changed).
    #[arg(long)]
    resend_secrets: bool,
    /// Also read the Secrets the plans name from the cluster (in-cluster service account, or
    /// $KUBECONFIG); a --secrets file wins for the Secrets it has.
    #[arg(long)]
    kube_secrets: bool,
    /// YAML file of secret values: `"<namespace>/<name>": {<key>: <value>}`.
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
    /// Gitea base URL (default: $KRADLE_GITEA_HTTP_URL, else kradle.yaml forges.gitea.url).
    /// The token comes from $KRADLE_GITEA_TOKEN.
    #[arg(long, value_name = "URL", env = "KRADLE_GITEA_HTTP_URL")]
    gitea_url: Option<String>,
    #[command(flatten)]
    hosts: super::hosts::HostArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ApplyFormat::Human)]
    format: ApplyFormat,
}

/// Why apply could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    NoClient(#[from] NoClient),
    #[error(transparent)]
    Serve(#[from] kradle_runtime::server::ServeError),
    #[error("{0}")]
    Client(String),
    #[error(transparent)]
    Secrets(#[from] kradle_runtime::secrets::SecretError),
    #[error("{0}")]
    Forge(String),
    #[error(transparent)]
    Cluster(#[from] cluster::secrets::ClusterSecretError),
    #[error(transparent)]
    NoCluster(#[from] cluster::NoCluster),
}

/// The Gitea URL: `flag` (--gitea-url, or $KRADLE_GITEA_HTTP_URL), else
/// kradle.yaml `forges.gitea.url`.
pub(super) fn gitea_url(flag: Option<&str>, build: &kradle_compiler::Build) -> Option<String> {
    flag.filter(|u| !u.trim().is_empty())
        .map(str::to_string)
        .or_else(|| {
            build
                .validation
                .model
                .project
                .forges
                .as_ref()
                .and_then(|f| f.gitea.as_ref())
                .and_then(|g| g.url.clone())
        })
}

/// A client of the forge of one plan.
enum Client<'a> {
    Gitea(&'a Gitea),
    GitHub(Box<GitHub>),
}

pub fn run(args: Args) -> Result<u8, Failure> {
    crate::block_on(apply(args))
}

/// The secret values of `--secrets FILE`, plus, with `--kube-secrets`, the
/// Secrets `wanted` names read from the cluster (the file wins).
pub async fn load_secrets(
    file: Option<&std::path::Path>,
    kube: bool,
    wanted: impl FnOnce() -> std::collections::BTreeSet<(String, String)>,
) -> Result<Secrets, SetupError> {
    let mut secrets = match file {
        Some(path) => Secrets::from_file(path)?,
        None => Secrets::default(),
    };
    if kube {
        let client = cluster::client().await?;
        secrets.fill_from(cluster::secrets::from_cluster(&client, &wanted()).await?);
    }
    Ok(secrets)
}

/// Compiles the config read from `sources` with "now" = `now`.
pub fn compile(
    sources: kradle_compiler::source::Sources,
    now: chrono::DateTime<chrono::Utc>,
) -> kradle_compiler::Build {
    kradle_compiler::build(sources, &BuildOptions::at(now))
}

/// What an apply converges to: the compiled config's plans, or a saved
/// plan's.
struct Planned {
    plans: Vec<kradle_compiler::forge_plan::Plan>,
    approve_removals: bool,
    gitea_url: Option<String>,
    /// The saved plan applied, when it is one.
    saved: Option<super::saved::SavedPlan>,
    /// Where the plans come from, as the database records it.
    source: String,
}

/// The plans of the config at `args.input`, or of the saved plan it names;
/// `Err(code)` when there is nothing to apply (said on stderr).
fn planned(args: &Args) -> Result<Result<Planned, u8>, Failure> {
    let path = &args.input.path;
    if path.is_file() {
        if args.revision.rev.is_some() {
            let _ = writeln!(
                std::io::stderr(),
                "kradle apply: --rev reads a config; {} is a saved plan, whose revision is fixed",
                path.display()
            );
            return Ok(Err(2));
        }
        return Ok(match super::saved::SavedPlan::read(path) {
            Ok(saved) => Ok(Planned {
                plans: saved.plans.clone(),
                approve_removals: saved.approve_removals,
                gitea_url: saved.gitea_url.clone(),
                source: format!("saved plan {} ({})", path.display(), saved.head),
                saved: Some(saved),
            }),
            Err(why) => {
                let _ = writeln!(std::io::stderr(), "kradle apply: {why}");
                Err(1)
            }
        });
    }
    let (sources, now) = load(&args.input, args.revision.rev.as_deref(), None)?;
    let build = compile(sources, now);
    let color = use_color(args.input.color) && std::io::stderr().is_terminal();
    if build.has_errors() {
        let text = render_diagnostics(&build.validation, Format::Human, color, path);
        let _ = std::io::stderr().write_all(text.as_bytes());
        let _ = writeln!(
            std::io::stderr(),
            "kradle apply: the config does not compile; nothing was applied"
        );
        return Ok(Err(1));
    }
    let forges = build.validation.model.project.forges.as_ref();
    Ok(Ok(Planned {
        approve_removals: forges.and_then(|f| f.approve_removals).unwrap_or(false),
        gitea_url: gitea_url(None, &build),
        source: format!(
            "config {} ({})",
            path.display(),
            args.revision.rev.as_deref().unwrap_or("working tree")
        ),
        plans: build.output.plans,
        saved: None,
    }))
}

/// Why a saved plan is stale: an organization the database says was last
/// converged to a plan that is neither the one the reviewer compared
/// against (the base) nor this one.
async fn stale(
    store: &kradle_runtime::store::Store,
    saved: &super::saved::SavedPlan,
    plans: &[&kradle_compiler::forge_plan::Plan],
) -> Result<Option<String>, Failure> {
    for plan in plans {
        let Some(applied) = store.applied_plan(&plan.org, plan.backend).await? else {
            continue;
        };
        let expected = saved
            .expects
            .get(&super::saved::key(plan))
            .cloned()
            .flatten();
        let mine = super::saved::plan_digest(plan);
        if applied.digest != mine && Some(&applied.digest) != expected.as_ref() {
            return Ok(Some(format!(
                "the saved plan is stale: `{}` ({}) was converged to another plan since it was made \
                 (from {}, at {}); applying this one would undo that. Make a new plan from the current \
                 config and review it",
                plan.org,
                plan.backend,
                applied.source,
                applied.applied_at.format("%Y-%m-%d %H:%M:%S UTC")
            )));
        }
    }
    Ok(None)
}

async fn apply(args: Args) -> Result<u8, Failure> {
    let started = Instant::now();
    let planned = match planned(&args)? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let plans: Vec<_> = planned
        .plans
        .iter()
        .filter(|p| args.orgs.is_empty() || args.orgs.contains(&p.org))
        .collect();
    for wanted in &args.orgs {
        if !plans.iter().any(|p| &p.org == wanted) {
            let _ = writeln!(
                std::io::stderr(),
                "kradle apply: no plan for organization `{wanted}`"
            );
            return Ok(1);
        }
    }

    args.hosts.install(&[args.gitea_url.as_deref()])?;
    let secrets = load_secrets(args.secrets.as_deref(), args.kube_secrets, || {
        Secrets::referenced_by(plans.iter().copied())
    })
    .await?;
    let gitea_url = args
        .gitea_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or(planned.gitea_url.clone());
    let needs_gitea = plans.iter().any(|p| p.backend == Backend::Gitea);
    let gitea = if needs_gitea {
        Some(clients::gitea(gitea_url.as_deref())?)
    } else {
        None
    };
    // Every client is set up before anything is applied: missing
    // credentials stop the run before its first write.
    let mut clients = Vec::with_capacity(plans.len());
    for plan in &plans {
        clients.push(match plan.backend {
            Backend::Gitea => Client::Gitea(gitea.as_ref().ok_or(NoClient::NoGiteaUrl)?),
            Backend::Github => Client::GitHub(Box::new(clients::github(plan, &secrets)?)),
        });
    }

    let store = args.database.connect().await?;
    store.migrate().await?;

    let options = ApplyOptions {
        dry_run: args.dry_run,
        prune: args.prune,
        max_removal: args.max_removal,
        allow_removal: args.allow_removal,
        no_wait: args.no_wait,
        concurrency: usize::from(args.concurrency),
        resend_secrets: args.resend_secrets,
        approve_removals: planned.approve_removals,
    };
    if let Some(saved) = &planned.saved {
        if let Some(why) = stale(&store, saved, &plans).await? {
            let _ = writeln!(std::io::stderr(), "kradle apply: {why}");
            return Ok(1);
        }
    }
    let human = args.format == ApplyFormat::Human;
    let mut reports: Vec<OrgReport> = Vec::new();
    let mut refused = false;
    let mut unsupported = false;
    let mut retries = 0;
    for (plan, client) in plans.into_iter().zip(&clients) {
        let org = plan.org.clone();
        if human {
            // Said before the first request, so a forge that does not answer
            // is named while kradle waits on it.
            let host = match plan.backend {
                Backend::Gitea => gitea_url.clone(),
                Backend::Github => plan.provider.as_ref().map(|p| p.endpoint.clone()),
            };
            let _ = writeln!(
                std::io::stderr(),
                "{org} ({}): reading {}",
                plan.backend,
                host.as_deref().unwrap_or("the forge")
            );
        }
        // On a terminal, a bar with the lines printed above it; otherwise
        // the lines alone.
        let bar = (human && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(plan.operations.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(org.clone());
            bar.tick();
            bar
        });
        let mut progress = |r: &OpReport| {
            if !human {
                return;
            }
            let text = line(&org, r);
            match (&bar, text) {
                (Some(bar), text) => {
                    if let Some(t) = text {
                        bar.println(t);
                    }
                    bar.inc(1);
                }
                (None, Some(t)) => {
                    let _ = writeln!(std::io::stderr(), "{t}");
                }
                (None, None) => {}
            }
        };
        let result = match client {
            Client::GitHub(github) => {
                let result =
                    apply_plan(&store, &**github, plan, &secrets, &options, &mut progress).await;
                retries += retries_of(&github.http);
                result
            }
            Client::Gitea(gitea) => {
                apply_plan(&store, *gitea, plan, &secrets, &options, &mut progress).await
            }
        };
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        match result {
            Ok(report) => {
                // Converged: what a saved plan made later is checked against.
                let converged = report.operations.iter().all(|o| {
                    !matches!(
                        o.result,
                        Outcome::Failed | Outcome::Skipped | Outcome::AwaitingApproval
                    )
                });
                if converged && !args.dry_run {
                    store
                        .record_applied_plan(
                            &plan.org,
                            plan.backend,
                            &super::saved::plan_digest(plan),
                            &planned.source,
                        )
                        .await?;
                }
                reports.push(report);
            }
            Err(e @ ApplyError::TooManyRemovals { .. }) => {
                let _ = writeln!(std::io::stderr(), "kradle apply: {e}");
                refused = true;
            }
            Err(ApplyError::Store(e)) => return Err(e.into()),
            Err(ApplyError::Forge(e)) => {
                return Err(SetupError::Forge(format!("{}: {e}", plan.org)).into());
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "kradle apply: {e}");
                unsupported = true;
            }
        }
    }
    retries += gitea
        .as_ref()
        .map(|g| retries_of(&g.http))
        .unwrap_or_default();
    let summary = Summary::of(&reports, retries, started);
    match args.format {
        ApplyFormat::Json => {
            let doc = json!({ "dryRun": args.dry_run, "orgs": reports, "summary": summary });
            out(&(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"))?;
        }
        ApplyFormat::Human => {
            let prefix = if args.dry_run {
                "dry run: would send: "
            } else {
                ""
            };
            let _ = writeln!(std::io::stderr(), "{prefix}{}", summary.line());
        }
    }
    let failed = summary.failed + summary.skipped + summary.awaiting_approval > 0;
    Ok(if failed || refused || unsupported {
        1
    } else {
        0
    })
}

/// One line per write (and per failure, drift or skip); matches stay quiet.
/// The line of one report, or `None` for what stays quiet (matches).
fn line(org: &str, r: &OpReport) -> Option<String> {
    let sign = match r.result {
        Outcome::Unchanged | Outcome::Adopted => return None,
        Outcome::Created | Outcome::WouldCreate => "+",
        Outcome::Updated | Outcome::WouldUpdate => "~",
        Outcome::Removed | Outcome::WouldRemove => "-",
        Outcome::Archived | Outcome::WouldArchive => "a",
        Outcome::Drift => "?",
        Outcome::Failed => "!",
        Outcome::Skipped => "s",
        Outcome::AwaitingApproval => "w",
        Outcome::Rejected => "x",
    };
    let request = match (&r.method, &r.path) {
        (Some(m), Some(p)) => format!("  {m} {p}"),
        _ => String::new(),
    };
    let error = r
        .error
        .as_ref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let result = serde_json::to_value(r.result)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    Some(format!("{sign} {org} {} {result}{request}{error}", r.id))
}
