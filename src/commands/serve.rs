//! `kradle serve`: webhook ingest into PostgreSQL (docs/serve.md).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use kradle_runtime::serve::{AppState, Receivers};
use kradle_runtime::store::Store;

use super::apply::{SetupError, compile, load_secrets};
use super::db::Database;
use super::{load, render_diagnostics};
use crate::Failure;
use crate::args::{Format, Input};

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
}

pub fn run(args: Args) -> Result<u8, Failure> {
    crate::block_on(serve(args))
}

fn log(line: &str) {
    let _ = writeln!(std::io::stderr(), "kradle serve: {line}");
}

/// The receivers of the config at `args.input`, or why there are none:
/// `Ok(Err(text))` when the config does not compile (the diagnostics).
async fn receivers(args: &Args) -> Result<Result<Receivers, String>, Failure> {
    let (sources, now) = load(&args.input, None, None)?;
    let build = compile(sources, now);
    if build.has_errors() {
        let text = render_diagnostics(&build.validation, Format::Human, false, &args.input.path);
        return Ok(Err(text));
    }
    let objects: Vec<&serde_json::Value> = build.output.objects.iter().map(|o| &o.value).collect();
    let secrets = load_secrets(args.secrets.as_deref(), args.kube_secrets, || {
        Receivers::secrets_wanted(objects.iter().copied())
    })
    .await?;
    Receivers::from_objects(objects, &secrets)
        .map(Ok)
        .map_err(|e| Failure::Apply(SetupError::Forge(e.to_string())))
}

async fn serve(args: Args) -> Result<u8, Failure> {
    let receivers = match receivers(&args).await? {
        Ok(r) => r,
        Err(diagnostics) => {
            let _ = std::io::stderr().write_all(diagnostics.as_bytes());
            log("the config does not compile; not serving");
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

    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let (github, gitea) = receivers.counts();
    let state = AppState::new(store, receivers);
    log(&format!(
        "listening on http://{} ({github} GitHub bindings, {gitea} Gitea subscriptions)",
        listener.local_addr()?
    ));

    reload_on_hangup(args, state.clone())?;
    kradle_runtime::serve::run(listener, state, terminated()).await?;
    log("stopped");
    Ok(0)
}

/// On SIGHUP, compiles the config again and swaps in its receivers; a
/// config that does not compile (or lacks a secret) is refused, and the
/// old one kept.
fn reload_on_hangup(args: Args, state: AppState) -> Result<(), Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match receivers(&args).await {
                Ok(Ok(r)) => {
                    let (github, gitea) = r.counts();
                    state.replace_receivers(r);
                    log(&format!(
                        "reloaded: {github} GitHub bindings, {gitea} Gitea subscriptions"
                    ));
                }
                Ok(Err(_)) => {
                    log("reload refused: the config does not compile; keeping the old one")
                }
                Err(e) => log(&format!("reload refused: {e}; keeping the old one")),
            }
        }
    });
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    log("draining: no new connections; finishing those in flight");
}
