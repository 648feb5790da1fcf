//! `kradle serve`: webhook ingest, sync workers, backfill and the aggregated API (docs/serve.md).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kradle_runtime::cluster::jobs::KubeJobs;
use kradle_runtime::compiler::forge_plan::{Backend, Plan};
use kradle_runtime::dispatch::Triggers;
use kradle_runtime::dispatch::catalog::Catalog;
use kradle_runtime::dispatch::memory::MemoryGit;
use kradle_runtime::forge::github::GitHub;
use kradle_runtime::loops::backfill::Target;
use kradle_runtime::loops::writeback;
use kradle_runtime::secrets::{SecretValue, Secrets};
use kradle_runtime::serve::{AppState, Receivers, backfill_targets, writeback_policies};
use kradle_runtime::server;
use kradle_runtime::store::Store;
use tokio::signal::unix::{Signal, SignalKind, signal as unix_signal};

use super::apply::{SetupError, compile, gitea_url, load_secrets};
use super::db::Database;
use super::{load, render_diagnostics};
use crate::Failure;
use crate::args::{Format, Input};
use kradle_runtime::forge::clients::{self, NoClient};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    database: Database,
    /// Address to listen on (port 0 picks a free port; the line `listening on` says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// YAML file of secret values: `"<namespace>/<name>": {<key>: <value>}`.
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
    /// Also read the webhook Secrets from the cluster (in-cluster service account, or
    /// $KUBECONFIG); a --secrets file wins for the Secrets it has.
    #[arg(long)]
    kube_secrets: bool,
    /// File of bearer tokens (one per line) that may read the aggregated API; without it the
    /// API refuses every request.
    #[arg(long, value_name = "FILE", conflicts_with = "api_token_review")]
    api_token_file: Option<PathBuf>,
    /// `/metrics` answers only callers that may read the API (a token of --api-token-file,
    /// or one the cluster allows with --api-token-review). Off by default: Prometheus
    /// scrapes in-cluster, and the chart's NetworkPolicy limits who reaches the port.
    #[arg(long)]
    metrics_require_token: bool,
    /// File of bearer tokens (`<token> [name]` per line) that may also act through the API:
    /// dispatch runs, approve or deny approvals, cancel runs (recorded under the name).
    #[arg(long, value_name = "FILE", conflicts_with = "api_token_review")]
    api_write_token_file: Option<PathBuf>,
    /// Let the Kubernetes API server decide who reads the aggregated API: TokenReview for
    /// the caller's token, then SubjectAccessReview for get/list of the resource in the
    /// namespace (in-cluster service account, or $KUBECONFIG).
    #[arg(long)]
    api_token_review: bool,
    /// Also serve HTTPS on ADDR, for an APIService: the Kubernetes API server calls an
    /// aggregated API over TLS. --listen keeps serving plain HTTP (webhooks, callbacks, probes).
    #[arg(long, value_name = "ADDR")]
    tls_listen: Option<String>,
    /// The serving certificate of --tls-listen (PEM, leaf first). Without it, a self-signed
    /// one is made at start: enough for an APIService with insecureSkipTLSVerify.
    #[arg(long, value_name = "FILE", requires_all = ["tls_listen", "tls_key_file"])]
    tls_cert_file: Option<PathBuf>,
    /// With the self-signed certificate (no --tls-cert-file), write it as PEM to FILE when it
    /// is made, for clients to trust: `kubectl --certificate-authority FILE`.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_listen",
        conflicts_with = "tls_cert_file"
    )]
    tls_write_cert: Option<PathBuf>,
    /// The private key of --tls-cert-file (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// Every SECONDS, read --tls-cert-file and --tls-key-file again, and serve new
    /// connections with them when they changed (a renewed certificate needs no restart).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    tls_reload: u64,
    /// Believe the caller the Kubernetes API server names in X-Remote-User/-Group/-Extra-*
    /// on --tls-listen, when its client certificate chains to this CA (PEM); access is
    /// then decided by SubjectAccessReview.
    #[arg(long, value_name = "FILE", requires_all = ["tls_listen", "api_token_review"], conflicts_with = "requestheader_from_cluster")]
    requestheader_client_ca_file: Option<PathBuf>,
    /// The common names the front proxy's certificate may have (comma-separated; empty:
    /// any the CA signed).
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        requires = "requestheader_client_ca_file"
    )]
    requestheader_allowed_names: Vec<String>,
    /// As --requestheader-client-ca-file, with the CA, allowed names and headers read from
    /// the ConfigMap kube-system/extension-apiserver-authentication, as Kubernetes'
    /// aggregated servers do.
    #[arg(long, requires_all = ["tls_listen", "api_token_review"])]
    requestheader_from_cluster: bool,
    /// Sync workers draining the queue (0: only receive, leave the jobs queued).
    #[arg(long, value_name = "N", default_value_t = 2)]
    workers: usize,
    /// Seconds a worker holds a claimed job before another may take it (its heartbeat
    /// renews the lease while it works).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    job_lease: u64,
    /// Gitea base URL, for write-back to Gitea (default: $KRADLE_GITEA_HTTP_URL, else
    /// kradle.yaml forges.gitea.url). The token comes from $KRADLE_GITEA_TOKEN.
    #[arg(long, value_name = "URL", env = "KRADLE_GITEA_HTTP_URL")]
    gitea_url: Option<String>,
    #[command(flatten)]
    hosts: super::hosts::HostArgs,
    /// Where agent runs execute: Kubernetes Jobs (in-cluster service account, or
    /// $KUBECONFIG), or nowhere (`off`: runs wait in Queued until a server with a cluster
    /// starts).
    #[arg(long, value_enum, value_name = "BACKEND", default_value_t = DispatchBackend::Kubernetes)]
    dispatch: DispatchBackend,
    /// The URL agents call back (`<URL>/api/orgs/{org}/agents/runs/{run}/callback`), as
    /// their pods reach this server; default: http:// and the address listened on.
    #[arg(long, value_name = "URL", env = "KRADLE_CALLBACK_URL")]
    callback_url: Option<String>,
    /// kradle's own image (the Helm chart sets it): each agent pod gets an init container
    /// that copies its static binary to /kradle/bin (`kradle agent …`), and one that checks
    /// out the run's repository into /workspace. Without it, pods get neither.
    #[arg(long, value_name = "IMAGE", env = "KRADLE_AGENT_TOOLS_IMAGE")]
    agent_tools_image: Option<String>,
    /// The git URL of an org's memory repository (AgentMemoryRepository), with `{org}` and
    /// `{repo}` in it (`https://gitea.example/{org}/{repo}.git`). With it, each run is pinned
    /// to the commit of its org's memory branch (AgentMemorySnapshot); without it, runs are
    /// not pinned. The HTTP password is $KRADLE_MEMORY_GIT_TOKEN, else $KRADLE_GITEA_TOKEN.
    #[arg(long, value_name = "TEMPLATE", env = "KRADLE_MEMORY_GIT_URL")]
    memory_git_url: Option<String>,
    /// Milliseconds between two looks at a running agent Job.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    job_poll_ms: u64,
    /// Every SECONDS, look whether the config changed (its files, or the folder a link such
    /// as git-sync's `current` points to), and reload it as SIGHUP does.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    watch_config: Option<u64>,
    /// Log lines as text, or as one JSON object per line.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Connections served at once on each listener; past it, new ones wait in the
    /// kernel's backlog. Keep it well below the open-file limit (`ulimit -n`).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Seconds the requests in flight get to finish after SIGTERM before their
    /// connections are dropped (keep it below the pod's terminationGracePeriodSeconds).
    #[arg(long, value_name = "SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_timeout: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DispatchBackend {
    Kubernetes,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Sends tracing events at INFO and above to stderr, as text or JSON.
fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false);
    // Only fails when a subscriber is already set (never, in the binary).
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The agent stacks of a compiled config, with the readiness its
/// `report.json` gives them.
pub(super) fn catalog_of(build: &kradle_compiler::Build) -> Catalog {
    let report: serde_json::Value = build
        .files
        .get("report.json")
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    Catalog::from_objects(build.output.objects.iter().map(|o| &o.value), &report)
}

/// How long SIGTERM waits for the workers.
const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

pub fn run(args: Args) -> Result<u8, Failure> {
    init_logging(args.log_format);
    crate::block_on(serve(args))
}

/// What a compiled config gives `kradle serve`.
struct Loaded {
    receivers: Receivers,
    /// The GitHub bindings to backfill, each with its client.
    backfill: Vec<(Target, GitHub)>,
    /// Per org and forge, what write-back may do, and its client.
    writeback: writeback::Targets,
    /// The enabled AgentTriggerRules.
    triggers: Triggers,
    /// The AgentStacks, for the dispatch worker.
    catalog: Catalog,
}

/// The receivers of the config at `args.input`, or why there are none:
/// `Ok(Err(text))` when the config does not compile (the diagnostics).
async fn load_config(args: &Args) -> Result<Result<Loaded, String>, Failure> {
    let (sources, now) = load(&args.input, None, None)?;
    let build = compile(sources, now);
    if build.has_errors() {
        let text = render_diagnostics(&build.validation, Format::Human, false, &args.input.path);
        return Ok(Err(text));
    }
    let objects: Vec<&serde_json::Value> = build.output.objects.iter().map(|o| &o.value).collect();
    let github_plans: Vec<&Plan> = build
        .output
        .plans
        .iter()
        .filter(|p| p.backend == Backend::Github)
        .collect();
    let owner_of = |org: &str| {
        github_plans
            .iter()
            .find(|p| p.org == org)
            .and_then(|p| p.provider.as_ref())
            .map(|p| p.owner.clone())
    };
    let targets = backfill_targets(objects.iter().copied(), owner_of);
    let policies = writeback_policies(objects.iter().copied());
    let mut catalog = catalog_of(&build);
    let secrets = load_secrets(args.secrets.as_deref(), args.kube_secrets, || {
        let mut wanted = Receivers::secrets_wanted(objects.iter().copied());
        // The Agent Mux gateways' tokens.
        wanted.extend(catalog.secrets_wanted());
        // Backfill and write-back use each GitHub plan's credentials.
        wanted.extend(Secrets::referenced_by(github_plans.iter().copied()));
        wanted
    })
    .await?;
    let receivers = Receivers::from_objects(objects.iter().copied(), &secrets)
        .map_err(|e| Failure::Apply(SetupError::Forge(e.to_string())))?;
    // Backfill needs the binding's credentials; without them, deliveries
    // are still received, and the log says backfill is off.
    let mut backfill = Vec::new();
    for target in targets {
        let Some(plan) = github_plans.iter().find(|p| p.org == target.org) else {
            continue;
        };
        match clients::github(plan, &secrets) {
            Ok(client) => backfill.push((target, client)),
            Err(e) => tracing::warn!(
                org = %target.org,
                binding = %target.binding,
                error = %e,
                "backfill is off for this binding: its credentials cannot be loaded"
            ),
        }
    }
    // Every org with a plan can write back; its sync policy for the forge
    // (if any) says how. A client that cannot be set up fails the
    // write-backs with the reason, and serve still runs.
    let gitea_url = gitea_url(args.gitea_url.as_deref(), &build);
    let gitea = build
        .output
        .plans
        .iter()
        .any(|p| p.backend == Backend::Gitea)
        .then(|| {
            clients::gitea(gitea_url.as_deref())
                .map(|g| writeback::Forge::Gitea(Arc::new(g)))
                .map_err(Arc::new)
        });
    let mut writeback = writeback::Targets::new();
    for plan in &build.output.plans {
        let backend = plan.backend.to_string();
        let forge = match plan.backend {
            Backend::Github => clients::github(plan, &secrets)
                .map(|g| writeback::Forge::GitHub(Arc::new(g)))
                .map_err(Arc::new),
            Backend::Gitea => gitea.clone().unwrap_or(Err(Arc::new(NoClient::NoGiteaUrl))),
        };
        let key = (plan.org.clone(), backend);
        let policy = policies.get(&key).copied().unwrap_or_default();
        writeback.insert(key, writeback::Target { policy, forge });
    }
    for (org, error) in catalog.resolve_tokens(&secrets) {
        tracing::warn!(%org, %error, "the org's Agent Mux gateway token is missing: its gateway launches are refused");
    }
    let (triggers, warnings) = Triggers::from_objects(objects.iter().copied());
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(Ok(Loaded {
        receivers,
        backfill,
        writeback,
        triggers,
        catalog,
    }))
}

async fn serve(args: Args) -> Result<u8, Failure> {
    args.hosts.install(&[args.gitea_url.as_deref()])?;
    let Loaded {
        receivers,
        backfill,
        writeback: writeback_targets,
        triggers,
        catalog,
    } = match load_config(&args).await? {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            let _ = std::io::stderr().write_all(diagnostics.as_bytes());
            tracing::error!("the config does not compile; not serving");
            return Ok(1);
        }
    };
    let url = args
        .database
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .ok_or(kradle_runtime::store::StoreError::NoUrl)?;
    // A delivery waits at most this long for a connection before its 503:
    // well within the forges' own timeouts (GitHub 10 s, Gitea 5 s).
    let store = Store::connect_waiting(url, Duration::from_secs(3)).await?;
    store.migrate().await?;

    let http = server::Http {
        listen: args.listen.clone(),
        tls: args.tls_listen.clone().map(|listen| server::Tls {
            listen,
            cert_file: args.tls_cert_file.clone(),
            key_file: args.tls_key_file.clone(),
            write_cert: args.tls_write_cert.clone(),
            reload: Duration::from_secs(args.tls_reload),
        }),
        token_files: [
            (&args.api_token_file, false),
            (&args.api_write_token_file, true),
        ]
        .into_iter()
        .filter_map(|(path, write)| Some((path.clone()?, write)))
        .collect(),
        token_review: args.api_token_review,
        front_proxy: match &args.requestheader_client_ca_file {
            Some(path) => server::FrontProxyFrom::CaFile {
                path: path.clone(),
                allowed_names: args.requestheader_allowed_names.clone(),
            },
            None if args.requestheader_from_cluster => server::FrontProxyFrom::Cluster,
            None => server::FrontProxyFrom::None,
        },
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        drain_timeout: Duration::from_secs(args.shutdown_timeout),
        metrics_require_token: args.metrics_require_token,
    };
    let (github, gitea) = receivers.counts();
    let state = AppState::new(store, receivers);
    let trigger_rules = triggers.len();
    state.replace_triggers(triggers);
    let stacks = catalog.len();
    let memories = catalog.memories();
    state.replace_catalog(catalog);
    let listening = server::listen(&http, state)
        .await
        .map_err(SetupError::from)?;
    // The signal handlers are in place before `listening on` is logged: a
    // SIGHUP or SIGTERM sent as soon as that line shows must not meet the
    // default action (which ends the process).
    let hangup = unix_signal(SignalKind::hangup())?;
    let term = unix_signal(SignalKind::terminate())?;
    let executor = match args.dispatch {
        DispatchBackend::Off => None,
        DispatchBackend::Kubernetes => match kradle_runtime::cluster::client().await {
            Ok(client) => Some(Arc::new(KubeJobs::new(client))),
            Err(error) => {
                tracing::warn!(%error, "agent runs wait in Queued: no cluster to create their Jobs in");
                None
            }
        },
    };
    let local = listening.local;
    tracing::info!(
        github_bindings = github,
        gitea_subscriptions = gitea,
        workers = args.workers,
        trigger_rules,
        agent_stacks = stacks,
        "listening on http://{local}",
    );
    if let Some((addr, proxied)) = listening.https {
        tracing::info!(
            front_proxy = proxied,
            self_signed = args.tls_cert_file.is_none(),
            "serving HTTPS on https://{addr}",
        );
    }
    let state = listening.state.clone();

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let memory = args.memory_git_url.clone().map(|url_template| MemoryGit {
        url_template,
        token: ["KRADLE_MEMORY_GIT_TOKEN", "KRADLE_GITEA_TOKEN"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .map(|t| t.trim().to_string())
            .find(|t| !t.is_empty())
            .map(SecretValue::new),
    });
    if memory.is_none() && memories > 0 {
        tracing::warn!(
            orgs = memories,
            "runs are not pinned to a memory commit: AgentMemoryRepository needs --memory-git-url"
        );
    }
    let loops = server::Loops {
        workers: args.workers,
        lease: Duration::from_secs(args.job_lease),
        poll: Duration::from_millis(args.job_poll_ms),
        callback_base: args
            .callback_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}")),
        tools_image: args.agent_tools_image.clone(),
        executor,
        memory,
        writeback: writeback_targets,
        backfill,
    };
    let running = server::start(&state, loops, &stop);
    reload_on_hangup(args, state.clone(), hangup);
    tokio::spawn(async move {
        terminated(term).await;
        let _ = stop_tx.send(true);
    });
    listening.serve(stop.clone()).await?;
    running.drain(DRAIN_DEADLINE).await;
    tracing::info!("stopped");
    Ok(0)
}

/// What the config is, for `--watch-config`: the folder its path resolves to
/// (git-sync swaps a link to a new folder per commit) and the digest of every
/// file read. None when it cannot be read (the reload then says why).
fn config_fingerprint(
    path: &std::path::Path,
    read: &kradle_compiler::source::ReadOptions,
) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let real = std::fs::canonicalize(path).ok()?;
    let sources = kradle_compiler::Sources::from_dir_with(&real, read).ok()?;
    let mut digest = Sha256::new();
    digest.update(real.as_os_str().as_encoded_bytes());
    for file in &sources.files {
        digest.update([0]);
        digest.update(file.path.as_bytes());
        digest.update([0]);
        digest.update(file.text.as_deref().unwrap_or_default().as_bytes());
    }
    Some(digest.finalize().to_vec())
}

/// On SIGHUP, or when `--watch-config` sees the config change, compiles the
/// config again and swaps in its receivers; a config that does not compile
/// (or lacks a secret) is refused, and the old one kept.
fn reload_on_hangup(args: Args, state: AppState, mut hangup: Signal) {
    tokio::spawn(async move {
        let watch = args.watch_config.map(Duration::from_secs);
        let path = args.input.path.clone();
        let read = args.input.read.options(None);
        let fingerprint = || {
            let (path, read) = (path.clone(), read.clone());
            tokio::task::spawn_blocking(move || config_fingerprint(&path, &read))
        };
        let mut seen = match watch {
            Some(_) => fingerprint().await.ok().flatten(),
            None => None,
        };
        loop {
            let trigger = tokio::select! {
                signal = hangup.recv() => match signal {
                    Some(()) => "SIGHUP",
                    None => break,
                },
                () = async {
                    match watch {
                        Some(every) => tokio::time::sleep(every).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = fingerprint().await.ok().flatten();
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    "the config changed"
                }
            };
            match load_config(&args).await {
                Ok(Ok(Loaded {
                    receivers: r,
                    triggers,
                    catalog,
                    ..
                })) => {
                    let (github, gitea) = r.counts();
                    let trigger_rules = triggers.len();
                    state.replace_receivers(r);
                    state.replace_triggers(triggers);
                    state.replace_catalog(catalog);
                    tracing::info!(
                        trigger,
                        github_bindings = github,
                        gitea_subscriptions = gitea,
                        trigger_rules,
                        "reloaded the config"
                    );
                }
                Ok(Err(diagnostics)) => tracing::warn!(
                    trigger,
                    diagnostics = %one_line(&diagnostics),
                    "reload refused: the config does not compile; keeping the old one"
                ),
                Err(e) => {
                    tracing::warn!(trigger, error = %e, "reload refused; keeping the old one")
                }
            }
        }
    });
}

/// Rendered diagnostics on one log line: each one's code, message and
/// place (`KR207 × unknown field … ╭─[orgs/acme/x.yaml:4:9]`).
fn one_line(diagnostics: &str) -> String {
    diagnostics
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("KR") || l.starts_with('×') || l.starts_with('⚠') || l.starts_with("╭─[")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resolves on SIGTERM or Ctrl-C.
async fn terminated(mut term: Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("draining: no new connections or claims; finishing those in flight");
}
