//! `kradle serve`, assembled. The CLI maps its flags to an [`Http`] and a
//! [`Loops`]; [`listen`] binds the listeners and makes the authenticators,
//! [`start`] starts the loops, [`Listening::serve`] serves until stopped
//! and [`Running::drain`] stops the loops in order. The CLI compiles the
//! config and reloads it on SIGHUP; it does not know which loop or
//! listener needs which piece.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::jobs::KubeJobs;
use crate::cluster::reviews::ClusterReviewer;
use crate::dispatch::memory::MemoryGit;
use crate::dispatch::mux::AgentMux;
use crate::forge::github::GitHub;
use crate::loops::{agent, backfill, dispatch, schedule, sync, writeback};
use crate::serve::AppState;
use crate::serve::api::StaticTokens;
use crate::serve::tls::{self, FrontProxy, Identity, ServingCert, TlsError, TlsListener};

/// What the loops of `kradle serve` need besides the server's state.
pub struct Loops {
    /// Sync workers; 0 runs no loop at all (HTTP only: deliveries are
    /// recorded and wait).
    pub workers: usize,
    /// How long a claimed job is a worker's.
    pub lease: Duration,
    /// How often a Running run's Job is looked at.
    pub poll: Duration,
    /// The base URL agents call back.
    pub callback_base: String,
    /// kradle's own image, for the tools and checkout of agent pods.
    pub tools_image: Option<String>,
    /// Where attempts run as Jobs; without it they wait in Queued.
    pub executor: Option<Arc<KubeJobs>>,
    /// How memory repositories are read.
    pub memory: Option<MemoryGit>,
    /// Where write-backs go, per (org, backend).
    pub writeback: writeback::Targets,
    /// The GitHub bindings listed for what webhooks missed.
    pub backfill: Vec<(backfill::Target, GitHub)>,
}

/// Runs advanced at once by the dispatch worker.
const DISPATCH_CONCURRENCY: usize = 16;

/// The loops, running until `stop` turns true.
pub struct Running {
    /// In the order they are drained: the scheduler first (it hands its
    /// lead to another replica at once), then dispatch, write-back and
    /// sync, each finishing the job in hand.
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

/// Starts the loops `loops` asks for, on `state`'s store, stats and shared
/// config (swapped on SIGHUP).
pub fn start(state: &AppState, loops: Loops, stop: &watch::Receiver<bool>) -> Running {
    let mut tasks = Vec::new();
    for (target, client) in loops.backfill {
        // Stopped with the process: a pass in hand is recorded per item.
        tokio::spawn(backfill::run(
            state.store().clone(),
            client,
            target,
            stop.clone(),
        ));
    }
    if loops.workers == 0 {
        return Running { tasks };
    }
    tasks.push((
        "scheduler",
        tokio::spawn(schedule::run(
            state.store().clone(),
            state.triggers(),
            stop.clone(),
        )),
    ));
    let dispatcher = dispatch::Dispatcher {
        store: state.store().clone(),
        catalog: state.catalog(),
        executor: loops.executor,
        mux: Arc::new(AgentMux::new()),
        memory: loops.memory,
        callback_base: loops.callback_base,
        tools_image: loops.tools_image,
        poll: loops.poll,
        lease: loops.lease,
        concurrency: DISPATCH_CONCURRENCY,
        stats: state.dispatch_stats(),
    };
    tasks.push((
        "dispatch",
        tokio::spawn(dispatch::run(dispatcher, stop.clone())),
    ));
    let forges = Arc::new(loops.writeback);
    tasks.push((
        "agent writes",
        tokio::spawn(agent::run(
            state.store().clone(),
            forges.clone(),
            loops.lease,
            state.agent_write_stats(),
            stop.clone(),
        )),
    ));
    tasks.push((
        "write-back",
        tokio::spawn(writeback::run(
            state.store().clone(),
            forges,
            loops.lease,
            state.writeback_stats(),
            stop.clone(),
        )),
    ));
    let config = sync::SyncConfig {
        workers: loops.workers,
        lease: loops.lease,
        ..sync::SyncConfig::default()
    };
    tasks.push((
        "sync",
        tokio::spawn(sync::run(
            state.store().clone(),
            config,
            state.worker_stats(),
            state.triggers(),
            stop.clone(),
        )),
    ));
    Running { tasks }
}

impl Running {
    /// Waits for each loop to finish what it holds, at most `deadline`
    /// each; a loop past it leaves its leases to expire.
    pub async fn drain(self, deadline: Duration) {
        for (name, task) in self.tasks {
            if tokio::time::timeout(deadline, task).await.is_err() {
                tracing::warn!(
                    loop_name = name,
                    "the loop did not stop in time; its leases will expire"
                );
            }
        }
    }
}

/// Where and how `kradle serve` listens, and who may use its API.
#[derive(Debug, Clone, Default)]
pub struct Http {
    /// The plain HTTP address (webhooks, callbacks, probes, metrics).
    pub listen: String,
    /// HTTPS (the aggregated API behind the API server), when asked for.
    pub tls: Option<Tls>,
    /// Bearer token files: (path, may the holders act, not only read).
    pub token_files: Vec<(PathBuf, bool)>,
    /// Ask the cluster who holds a token (TokenReview) and what they may
    /// do (SubjectAccessReview).
    pub token_review: bool,
    /// Whose `X-Remote-*` headers are believed.
    pub front_proxy: FrontProxyFrom,
    pub max_connections: usize,
    /// How long requests in flight get after SIGTERM.
    pub drain_timeout: Duration,
    /// `/metrics` only with an API token.
    pub metrics_require_token: bool,
}

/// The HTTPS listener.
#[derive(Debug, Clone)]
pub struct Tls {
    pub listen: String,
    /// The certificate and key files; a self-signed pair when `None`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Where to write the self-signed certificate, for clients to trust.
    pub write_cert: Option<PathBuf>,
    /// How often the files are read again for a renewed pair.
    pub reload: Duration,
}

/// Where the front proxy's CA comes from.
#[derive(Debug, Clone, Default)]
pub enum FrontProxyFrom {
    /// No front proxy: `X-Remote-*` headers are ignored.
    #[default]
    None,
    /// A CA file, and the client certificate names allowed (any when empty).
    CaFile {
        path: PathBuf,
        allowed_names: Vec<String>,
    },
    /// The cluster's `kube-system/extension-apiserver-authentication`.
    Cluster,
}

/// Why `kradle serve` cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the API token file {path}: {reason}")]
    TokenFile { path: String, reason: String },
    #[error("the API token file {0} holds no token")]
    NoToken(String),
    #[error(transparent)]
    NoCluster(#[from] crate::cluster::NoCluster),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{path}: {source}")]
    FrontProxyCa { path: String, source: TlsError },
    #[error("cannot write the certificate to {path}: {reason}")]
    WriteCert { path: String, reason: String },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

/// The listeners, bound, and the state they serve.
pub struct Listening {
    pub state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<TlsListener>,
    /// The plain HTTP address bound (its port when 0 was asked).
    pub local: SocketAddr,
    /// The HTTPS address bound, and whether it believes a front proxy.
    pub https: Option<(SocketAddr, bool)>,
}

/// Binds the listeners `http` asks for and gives `state` its
/// authenticators, front proxy and limits.
pub async fn listen(http: &Http, mut state: AppState) -> Result<Listening, ServeError> {
    let mut tokens: Option<StaticTokens> = None;
    for (path, write) in &http.token_files {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ServeError::TokenFile {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let mut file = StaticTokens::default();
        file.add(&text, *write);
        if file.is_empty() {
            return Err(ServeError::NoToken(shown));
        }
        tokens
            .get_or_insert_with(StaticTokens::default)
            .add(&text, *write);
    }
    let reviewer = match http.token_review {
        true => Some(ClusterReviewer::new(crate::cluster::client().await?)),
        false => None,
    };
    let front_proxy = match &http.front_proxy {
        FrontProxyFrom::None => None,
        FrontProxyFrom::CaFile {
            path,
            allowed_names,
        } => {
            let pem = tls::read_client_ca(path)?;
            let proxy = FrontProxy::new(&pem, allowed_names.clone()).map_err(|source| {
                ServeError::FrontProxyCa {
                    path: path.display().to_string(),
                    source,
                }
            })?;
            Some(Arc::new(proxy))
        }
        // The CLI asks for token reviews with it, so the reviewer is there.
        FrontProxyFrom::Cluster => match &reviewer {
            Some(reviewer) => Some(Arc::new(reviewer.front_proxy().await?)),
            None => None,
        },
    };
    let bind = |address: String| async move {
        tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|source| ServeError::Listen { address, source })
    };
    let tls = match &http.tls {
        None => None,
        Some(t) => {
            let identity = match (&t.cert_file, &t.key_file) {
                (Some(cert), Some(key)) => Identity::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                _ => Identity::SelfSigned {
                    names: self_signed_names(&t.listen),
                },
            };
            let cert = ServingCert::load(identity)?;
            if let (Some(file), Some(pem)) = (&t.write_cert, cert.self_signed_pem()) {
                std::fs::write(file, pem).map_err(|e| ServeError::WriteCert {
                    path: file.display().to_string(),
                    reason: e.to_string(),
                })?;
                tracing::info!(file = %file.display(), "wrote the self-signed certificate");
            }
            let config = tls::server_config(cert.clone(), front_proxy.as_deref())?;
            let tcp = bind(t.listen.clone()).await?;
            if t.cert_file.is_some() {
                reload_certificate(cert, t.reload);
            }
            let listener =
                TlsListener::new(tcp, config, front_proxy.clone()).map_err(|source| {
                    ServeError::Listen {
                        address: t.listen.clone(),
                        source,
                    }
                })?;
            Some(listener)
        }
    };
    let listener = bind(http.listen.clone()).await?;
    let local = listener.local_addr().map_err(|source| ServeError::Listen {
        address: http.listen.clone(),
        source,
    })?;
    state = state.with_limits(crate::serve::listen::Limits {
        max_connections: http.max_connections,
        drain_timeout: http.drain_timeout,
        ..Default::default()
    });
    if let Some(tokens) = tokens {
        state = state.with_api(Arc::new(tokens));
    }
    if let Some(reviewer) = reviewer {
        state = state.with_api(Arc::new(reviewer));
    }
    if http.metrics_require_token {
        state = state.with_protected_metrics();
    }
    let proxied = front_proxy.is_some();
    if let Some(proxy) = front_proxy {
        state = state.with_front_proxy(proxy);
    }
    let https = tls.as_ref().map(|t| (t.addr(), proxied));
    Ok(Listening {
        state,
        listener,
        tls,
        local,
        https,
    })
}

impl Listening {
    /// Serves until `stop` turns true, then lets the requests in flight
    /// finish (at most the drain timeout).
    pub async fn serve(self, stop: watch::Receiver<bool>) -> std::io::Result<()> {
        let stopped = |mut stop: watch::Receiver<bool>| async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let state = self.state;
        let https = async {
            match self.tls {
                Some(tls) => crate::serve::run(tls, state.clone(), stopped(stop.clone())).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(
            crate::serve::run(self.listener, state.clone(), stopped(stop.clone())),
            https
        )?;
        Ok(())
    }
}

/// Reads the serving certificate's files every `every`, and swaps in a
/// renewed pair; a broken one is logged and the old one kept.
fn reload_certificate(cert: Arc<ServingCert>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let cert = cert.clone();
            match tokio::task::spawn_blocking(move || cert.reload()).await {
                Ok(Ok(true)) => {
                    tracing::info!("the TLS certificate changed; new connections use it")
                }
                Ok(Ok(false)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "the TLS certificate is refused; the old one stays in use");
                }
                Err(_) => return,
            }
        }
    });
}

/// The names of the self-signed certificate: `localhost`, the loopback
/// addresses, and the host of the HTTPS address (its IP, or its name), so a
/// client that trusts the certificate can verify it at that address.
pub fn self_signed_names(listen: &str) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let host = match listen.rsplit_once(':') {
        Some((host, _port)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => listen,
    };
    let unspecified = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if !host.is_empty() && !unspecified && !names.iter().any(|n| n == host) {
        names.push(host.to_string());
    }
    names
}
