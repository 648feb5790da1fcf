//! The agent-writes worker of `kradle serve`: it sends the comments, pull
//! requests and commit statuses agents asked for through the agent API
//! (docs/dispatch.md, "The agent's side"), to GitHub or Gitea, with the
//! org's forge client (never a credential of the agent's).
//!
//! Each write is a job on the `agent-writes` queue. An attempt:
//! 1. marks the intent InFlight (committed before anything is sent);
//! 2. when an earlier attempt may have sent it (the intent was InFlight,
//!    or had been tried), looks for it on the forge first: a comment or a
//!    pull request by the marker kradle put in its body, a pull request by
//!    its head and base, a status by its context, state and description;
//! 3. sends it, and records where to see it.
//!
//! So a worker killed anywhere is simply rerun, and the forge gets the
//! write once.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::sync::watch;

use super::writeback::{Forge, Targets};
use super::{Handler, Settle, Worker, WorkerConfig};
use crate::agent::{Call, Origin, Write, already_exists, summary};
use crate::forge::http::HttpError;
use crate::store::{AGENT_QUEUE, AgentWrite, Job, Phase, Store, StoreError};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub already_there: AtomicU64,
    pub refused: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    Sent,
    /// An earlier attempt had sent it.
    AlreadyThere,
    /// Closed without being sent: why.
    Closed(String),
    /// Not a write waiting to be sent.
    Nothing,
}

/// Why an attempt is to be retried.
#[derive(Debug, thiserror::Error)]
pub enum AgentWriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Forge(#[from] HttpError),
}

/// Runs the worker until `stop` turns true.
pub async fn run(
    store: Store,
    targets: Arc<Targets>,
    lease: Duration,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let worker = Worker {
        store: store.clone(),
        handler: Arc::new(AgentWrites {
            store,
            targets,
            stats,
        }),
        config: WorkerConfig {
            lease,
            slots: 16,
            idle: Duration::from_secs(2),
            ..WorkerConfig::new(AGENT_QUEUE)
        },
    };
    worker.run(stop).await;
}

struct AgentWrites {
    store: Store,
    targets: Arc<Targets>,
    stats: Arc<Stats>,
}

impl Handler for AgentWrites {
    async fn handle_one(&self, job: &Job, _worker: &str) -> Settle {
        let id = job.payload["intent"].as_i64().unwrap_or_default();
        match execute(&self.store, &self.targets, id).await {
            Ok(executed) => {
                let counter = match &executed {
                    Executed::Sent => Some(&self.stats.sent),
                    Executed::AlreadyThere => Some(&self.stats.already_there),
                    Executed::Closed(_) => Some(&self.stats.refused),
                    Executed::Nothing => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                match &executed {
                    Executed::Sent | Executed::AlreadyThere => {
                        tracing::info!(intent = id, "agent write sent")
                    }
                    Executed::Closed(why) => {
                        tracing::warn!(intent = id, reason = %why, "agent write not sent")
                    }
                    Executed::Nothing => {}
                }
                Settle::Done
            }
            Err(error) => Settle::Failed {
                error: error.to_string(),
                backoff: Duration::from_secs(1),
            },
        }
    }

    fn retrying(&self, job: &Job, wait: Duration, error: &str) {
        self.stats.retried.fetch_add(1, Ordering::Relaxed);
        let intent = job.payload["intent"].as_i64().unwrap_or_default();
        tracing::warn!(intent, %error, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "agent write failed; it will be retried");
    }

    async fn buried(&self, job: &Job, error: &str) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        let intent = job.payload["intent"].as_i64().unwrap_or_default();
        tracing::error!(intent, %error, "agent write failed its last attempt");
        let _ = self
            .store
            .settle_agent_write(intent, Phase::Failed, Some(error), None)
            .await;
    }
}

/// What a recorded write asks for: the write, where it goes, its request.
fn planned(w: &AgentWrite) -> Result<(Write, Origin, Call), Unsendable> {
    let write: Write = serde_json::from_value(w.payload["write"].clone())
        .map_err(|e| Unsendable::Unreadable("write", e))?;
    let origin: Origin = serde_json::from_value(w.payload["origin"].clone())
        .map_err(|e| Unsendable::Unreadable("origin", e))?;
    let call = write.call(&origin, &w.intent.idempotency_key)?;
    Ok((write, origin, call))
}

/// Why a recorded write cannot be sent at all.
#[derive(Debug, thiserror::Error)]
enum Unsendable {
    #[error("the recorded {0} is unreadable: {1}")]
    Unreadable(&'static str, serde_json::Error),
    #[error(transparent)]
    NoTarget(#[from] crate::agent::NoTarget),
}

/// One attempt of write `id`. `Err` is worth retrying (no clear answer
/// from the forge, or the store away); everything else is settled in the
/// journal.
pub async fn execute(
    store: &Store,
    targets: &Targets,
    id: i64,
) -> Result<Executed, AgentWriteError> {
    let Some(w) = store.agent_write(id).await? else {
        return Ok(Executed::Nothing);
    };
    if !matches!(w.intent.phase, Phase::Pending | Phase::InFlight) {
        return Ok(Executed::Nothing);
    }
    let close = async |why: String| -> Result<Executed, AgentWriteError> {
        store
            .settle_agent_write(id, Phase::Failed, Some(&why), None)
            .await?;
        Ok(Executed::Closed(why))
    };
    let key = (w.intent.org.clone(), w.intent.backend.clone());
    let forge = match targets.get(&key).map(|t| &t.forge) {
        Some(Ok(forge)) => forge,
        Some(Err(why)) => return close(why.to_string()).await,
        None => {
            return close(format!(
                "organization `{}` has no {} forge in the config",
                w.intent.org, w.intent.backend
            ))
            .await;
        }
    };
    let (write, origin, call) = match planned(&w) {
        Ok(p) => p,
        Err(why) => return close(why.to_string()).await,
    };
    let maybe_sent = w.intent.phase == Phase::InFlight || w.intent.attempts > 0;
    store.start_intent(id).await?;
    let finish = async |found: &Value, executed: Executed| {
        let result = summary(found);
        store
            .settle_agent_write(id, Phase::Succeeded, None, Some(&result))
            .await?;
        Ok(executed)
    };
    if let Write::Labels { add, remove } = &write {
        return match labels(forge, &origin, &call, add, remove).await {
            Ok((now, sent)) => {
                let result = serde_json::json!({ "labels": now });
                store
                    .settle_agent_write(id, Phase::Succeeded, None, Some(&result))
                    .await?;
                Ok(if sent {
                    Executed::Sent
                } else {
                    Executed::AlreadyThere
                })
            }
            Err(e)
                if e.status()
                    .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
            {
                close(format!("{} refused it: {e}", forge.name())).await
            }
            Err(e) => Err(e.into()),
        };
    }
    if maybe_sent
        && let Some(found) = look(forge, &write, &origin, &call, &w.intent.idempotency_key).await?
    {
        return finish(&found, Executed::AlreadyThere).await;
    }
    let method = Method::from_str(call.method).unwrap_or(Method::POST);
    match forge
        .http()
        .send(method, &call.path, Some(&call.body))
        .await
    {
        Ok(created) => finish(&created.body, Executed::Sent).await,
        Err(e) => {
            let refused = e.status().filter(|s| (400..500).contains(s) && *s != 429);
            let Some(status) = refused else {
                return Err(e.into());
            };
            let duplicate = matches!(write, Write::PullRequest { .. })
                && already_exists(status, &e.to_string());
            if duplicate
                && let Some(found) =
                    look(forge, &write, &origin, &call, &w.intent.idempotency_key).await?
            {
                return finish(&found, Executed::AlreadyThere).await;
            }
            close(format!("{} refused it: {e}", forge.name())).await
        }
    }
}

/// A label name as one path segment.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Adds and removes labels of the issue at `call.path`, as far as the
/// issue does not have it so already (read first: so an attempt whose
/// answers were lost is finished by the next, which sends only what is
/// left); the labels it has after, and whether anything was sent.
/// - Adding is one POST of names on both forges.
/// - GitHub removes by name (404 when the issue does not have it).
/// - Gitea removes by id: the repository's labels say which (a name it
///   does not define is on no issue).
async fn labels(
    forge: &Forge,
    origin: &Origin,
    call: &Call,
    add: &[String],
    remove: &[String],
) -> Result<(Vec<String>, bool), HttpError> {
    let http = forge.http();
    let before = names(&http.list(&call.path).await?);
    let missing: Vec<&String> = add.iter().filter(|a| !before.contains(a)).collect();
    let present: Vec<&String> = remove.iter().filter(|r| before.contains(r)).collect();
    if missing.is_empty() && present.is_empty() {
        return Ok((before, false));
    }
    if !missing.is_empty() {
        let body = serde_json::json!({ "labels": missing });
        http.send(Method::POST, &call.path, Some(&body)).await?;
    }
    let defined = match (forge, present.is_empty()) {
        (Forge::Gitea(_), false) => {
            http.list(&format!("/repos/{}/labels", origin.repository))
                .await?
        }
        _ => Vec::new(),
    };
    for name in present {
        let target = match forge {
            Forge::GitHub(_) => Some(segment(name)),
            Forge::Gitea(_) => defined
                .iter()
                .find(|l| l["name"] == name.as_str())
                .and_then(|l| l["id"].as_i64())
                .map(|id| id.to_string()),
        };
        let Some(target) = target else {
            continue;
        };
        match http
            .send(Method::DELETE, &format!("{}/{target}", call.path), None)
            .await
        {
            Ok(_) => {}
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((names(&http.list(&call.path).await?), true))
}

/// The names of a list of labels.
fn names(labels: &[Value]) -> Vec<String> {
    labels
        .iter()
        .filter_map(|l| l["name"].as_str().map(str::to_string))
        .collect()
}

/// The write on the forge, if it is there.
async fn look(
    forge: &Forge,
    write: &Write,
    origin: &Origin,
    call: &Call,
    key: &str,
) -> Result<Option<Value>, HttpError> {
    let path = write.lookup(origin, call);
    let listing = Value::Array(forge.http().list(&path).await?);
    Ok(write.found(call, &listing, key))
}
