//! The write-back worker of `kradle serve`: it sends the changes
//! `kradle issues set` recorded (docs/writeback.md), to GitHub or Gitea.
//!
//! Each write-back is a job on the `writeback` queue with the ordering key
//! of the issue's deliveries, so it never runs beside a sync of the same
//! issue. An attempt:
//! 1. marks the intent InFlight (committed before anything is sent);
//! 2. reads the issue from the forge, and merges the change with it
//!    ([`crate::writeback::merge`]): a field changed on both sides is a
//!    conflict, settled by the sync policy or held for a person;
//! 3. sends the PATCH, unless the forge has everything already, and
//!    records the outcome with the forge's new state of the issue, queued
//!    as a delivery (`writeback:<intent>`) for the projection.
//!
//! A worker killed anywhere is simply rerun: step 2 reads the forge first,
//! so a PATCH that landed is not sent again (the intent, found InFlight,
//! is then Succeeded).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{Handler, Settle, Worker, WorkerConfig};
use crate::forge::clients::NoClient;
use crate::forge::gitea::Gitea;
use crate::forge::github::GitHub;
use crate::forge::http::{Http, HttpError};
use crate::store::{Job, NewDelivery, Phase, Settlement, Store, WRITEBACK_QUEUE, WriteBack};
use crate::writeback::{IssueFields, merge};

/// A write-back policy: from an org's ExternalBackendSyncPolicy for the
/// forge, its `conflictResolution` (`manual` when unset), whether its
/// ownership is `external-owned`, and its retry wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBackPolicy {
    pub resolution: crate::writeback::Resolution,
    pub external_owned: bool,
    pub backoff: std::time::Duration,
}

impl Default for WriteBackPolicy {
    /// An org without a sync policy for the forge: conflicts are held for
    /// a person.
    fn default() -> WriteBackPolicy {
        WriteBackPolicy {
            resolution: crate::writeback::Resolution::Manual,
            external_owned: false,
            backoff: std::time::Duration::from_millis(super::DEFAULT_BACKOFF_MS),
        }
    }
}

/// A forge's client.
#[derive(Debug, Clone)]
pub enum Forge {
    GitHub(Arc<GitHub>),
    Gitea(Arc<Gitea>),
}

impl Forge {
    pub fn http(&self) -> &Http {
        match self {
            Forge::GitHub(g) => &g.http,
            Forge::Gitea(g) => &g.http,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Forge::GitHub(_) => "GitHub",
            Forge::Gitea(_) => "Gitea",
        }
    }
}

/// What write-back may do for one organization on one forge.
#[derive(Debug, Clone)]
pub struct Target {
    pub policy: WriteBackPolicy,
    /// The client, or why there is none.
    pub forge: Result<Forge, Arc<NoClient>>,
}

/// Write-back targets by (org, backend: `github` or `gitea`).
pub type Targets = BTreeMap<(String, String), Target>;

fn target_of<'a>(targets: &'a Targets, wb: &WriteBack) -> Option<&'a Target> {
    targets.get(&(wb.intent.org.clone(), wb.intent.backend.clone()))
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub already_there: AtomicU64,
    pub blocked: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    Sent,
    /// The forge had everything already.
    AlreadyThere,
    /// Held: conflicts wait for a person.
    Blocked,
    /// Closed without being sent (refused by the forge or by policy, or
    /// nothing to send it with).
    Closed(String),
    /// Not an open write-back (closed already, or gone).
    Nothing,
}

/// Runs the write-back worker until `stop` turns true: one write-back at
/// a time.
pub async fn run(
    store: Store,
    targets: Arc<Targets>,
    lease: Duration,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let worker = Worker {
        store: store.clone(),
        handler: Arc::new(WriteBacks {
            store,
            targets,
            stats,
        }),
        config: WorkerConfig {
            lease,
            idle: Duration::from_secs(2),
            ..WorkerConfig::new(WRITEBACK_QUEUE)
        },
    };
    worker.run(stop).await;
}

/// The write-back handler.
struct WriteBacks {
    store: Store,
    targets: Arc<Targets>,
    stats: Arc<Stats>,
}

impl Handler for WriteBacks {
    async fn handle_one(&self, job: &Job, _worker: &str) -> Settle {
        self.attempt(job).await
    }

    fn retrying(&self, job: &Job, wait: Duration, error: &str) {
        self.stats.retried.fetch_add(1, Ordering::Relaxed);
        let intent = job.payload["intent"].as_i64().unwrap_or_default();
        tracing::warn!(intent, %error, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "write-back failed; it will be retried");
    }

    async fn buried(&self, job: &Job, error: &str) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        let intent = job.payload["intent"].as_i64().unwrap_or_default();
        tracing::error!(intent, %error, "write-back failed its last attempt");
        if let Ok(Some(wb)) = self.store.write_back(intent).await {
            let _ = self
                .store
                .settle_write_back(&wb, &closed(Phase::Failed, Some(error)))
                .await;
        }
    }
}

impl WriteBacks {
    /// One attempt of `job`, and what the journal makes of it.
    async fn attempt(&self, job: &Job) -> Settle {
        let (store, stats) = (&self.store, &self.stats);
        let id = job.payload["intent"].as_i64().unwrap_or_default();
        let outcome = match store.write_back(id).await {
            Ok(Some(wb)) => {
                let target = target_of(&self.targets, &wb);
                execute(store, target, &wb)
                    .await
                    .map(|e| (e, wb.resource_name))
            }
            Ok(None) => Ok((Executed::Nothing, String::new())),
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok((executed, resource)) => {
                let counter = match &executed {
                    Executed::Sent => Some(&stats.sent),
                    Executed::AlreadyThere => Some(&stats.already_there),
                    Executed::Blocked => Some(&stats.blocked),
                    Executed::Closed(_) => Some(&stats.failed),
                    Executed::Nothing => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                match &executed {
                    Executed::Closed(why) => {
                        tracing::warn!(intent = id, resource = %resource, reason = %why, "write-back not sent")
                    }
                    Executed::Blocked => {
                        tracing::warn!(intent = id, resource = %resource, "write-back held: a field changed on both sides; see `kradle conflicts list`")
                    }
                    Executed::Sent => {
                        tracing::info!(intent = id, resource = %resource, "write-back sent")
                    }
                    _ => {}
                }
                Settle::Done
            }
            Err(error) => {
                let backoff = store
                    .write_back(id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|wb| target_of(&self.targets, &wb).map(|t| t.policy.backoff))
                    .unwrap_or(Duration::from_secs(1));
                Settle::Failed {
                    error: error.to_string(),
                    backoff,
                }
            }
        }
    }
}

fn closed(phase: Phase, error: Option<&str>) -> Settlement<'_> {
    Settlement {
        phase,
        error,
        result: None,
        conflicts: &[],
        delivery: None,
    }
}

/// The owner, repository and number a write-back's path names.
fn issue_of(path: &str) -> Option<(&str, &str, u64)> {
    let mut parts = path.strip_prefix("/repos/")?.split('/');
    let (owner, repo, issues, number) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (issues == "issues" && parts.next().is_none()).then_some(())?;
    Some((owner, repo, number.parse().ok()?))
}

/// Why an attempt of a write-back is to be retried.
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Forge(#[from] HttpError),
    /// The forge gave no clear answer.
    #[error("{0}")]
    Unclear(String),
}

/// One attempt of write-back `wb`. `Err` is a failure worth retrying (the
/// forge did not answer clearly); everything else is settled in the
/// journal.
pub async fn execute(
    store: &Store,
    target: Option<&Target>,
    wb: &WriteBack,
) -> Result<Executed, WriteBackError> {
    if !wb.intent.phase.is_open() {
        return Ok(Executed::Nothing);
    }
    if !store.open_conflicts(wb.intent.id).await?.is_empty() {
        return Ok(Executed::Blocked);
    }
    let Some(target) = target else {
        return refuse(
            store,
            wb,
            format!(
                "organization `{}` has no {} forge in the config",
                wb.intent.org, wb.intent.backend
            ),
            Phase::Failed,
        )
        .await;
    };
    if target.policy.external_owned {
        return refuse(store, wb, "the sync policy says `ownership: external-owned`: the forge is authoritative and kradle writes nothing back".into(),
            Phase::Rejected,
        )
        .await;
    }
    let forge = match &target.forge {
        Ok(f) => f,
        Err(why) => return refuse(store, wb, why.to_string(), Phase::Failed).await,
    };
    let Some((owner, repo, number)) = issue_of(&wb.intent.path) else {
        return refuse(
            store,
            wb,
            format!("`{}` is not an issue's path", wb.intent.path),
            Phase::Failed,
        )
        .await;
    };
    let was_in_flight = wb.intent.phase == Phase::InFlight;
    store.start_intent(wb.intent.id).await?;

    let live = match forge.http().get_opt(&wb.intent.path).await {
        Ok(Some(live)) => live,
        Ok(None) => {
            return refuse(
                store,
                wb,
                format!("{owner}/{repo}#{number} is gone from {}", forge.name()),
                Phase::Failed,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let merged = merge(
        &wb.edit,
        &wb.base,
        &IssueFields::from_forge(&live),
        target.policy.resolution,
    );
    if merged.blocked() {
        let open = merged
            .conflicts
            .iter()
            .filter(|c| c.settled.is_none())
            .count();
        let why = format!(
            "held: {open} field(s) changed on {} too; see `kradle conflicts list`",
            forge.name()
        );
        settle(
            store,
            wb,
            Settlement {
                phase: Phase::Pending,
                error: Some(&why),
                result: None,
                conflicts: &merged.conflicts,
                delivery: None,
            },
        )
        .await?;
        return Ok(Executed::Blocked);
    }
    if merged.body.is_empty() {
        // A rerun after a PATCH that landed finds it there: ours.
        let phase = if was_in_flight {
            Phase::Succeeded
        } else {
            Phase::Superseded
        };
        let result = summary(&live);
        settle(
            store,
            wb,
            Settlement {
                phase,
                error: None,
                result: Some(&result),
                conflicts: &merged.conflicts,
                delivery: None,
            },
        )
        .await?;
        return Ok(Executed::AlreadyThere);
    }
    let updated = match send(forge, &wb.intent.path, &merged.body).await {
        Ok(updated) => updated,
        Err(Sent::Refused(why)) => {
            settle(
                store,
                wb,
                Settlement {
                    phase: Phase::Failed,
                    error: Some(&why),
                    result: None,
                    conflicts: &merged.conflicts,
                    delivery: None,
                },
            )
            .await?;
            return Ok(Executed::Closed(why));
        }
        Err(Sent::Unclear(why)) => return Err(WriteBackError::Unclear(why)),
    };
    let result = summary(&updated);
    let payload = json!({
        "action": "edited",
        "issue": updated,
        "repository": { "full_name": format!("{owner}/{repo}"), "name": repo },
    });
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    let delivery_id = format!("writeback:{}", wb.intent.id);
    settle(
        store,
        wb,
        Settlement {
            phase: Phase::Succeeded,
            error: None,
            result: Some(&result),
            conflicts: &merged.conflicts,
            delivery: Some(NewDelivery {
                org: &wb.intent.org,
                source: &wb.intent.backend,
                receiver: &wb.receiver,
                delivery_id: &delivery_id,
                event: "issues",
                action: Some("edited"),
                payload: &payload,
                body_digest: hex::encode(Sha256::digest(&bytes)),
                key: wb.job_key.clone(),
                max_attempts: 4,
                backoff_ms: u64::try_from(target.policy.backoff.as_millis()).unwrap_or(1000),
            }),
        },
    )
    .await?;
    Ok(Executed::Sent)
}

/// Why a write did not go through.
enum Sent {
    /// The forge refused it, clearly (a 4xx other than 429): no retry
    /// changes that.
    Refused(String),
    /// No clear answer: read the forge and try again.
    Unclear(String),
}

impl From<HttpError> for Sent {
    fn from(e: HttpError) -> Sent {
        match e.status() {
            Some(status @ 400..=499) if status != 429 => Sent::Refused(e.to_string()),
            _ => Sent::Unclear(e.to_string()),
        }
    }
}

/// Sends the merged `body` to the issue at `path`; returns the issue as
/// the forge has it after.
/// - GitHub takes it all in one `PATCH`.
/// - Gitea sets labels with `PUT …/labels` (by name) and the rest with
///   `PATCH`; the issue is read again after, since neither answer has
///   both.
async fn send(forge: &Forge, path: &str, body: &Map<String, Value>) -> Result<Value, Sent> {
    let http = forge.http();
    match forge {
        Forge::GitHub(_) => {
            let body = Value::Object(body.clone());
            Ok(http.send(Method::PATCH, path, Some(&body)).await?.body)
        }
        Forge::Gitea(_) => {
            let mut rest = body.clone();
            if let Some(labels) = rest.remove("labels") {
                let labels = json!({ "labels": labels });
                http.send(Method::PUT, &format!("{path}/labels"), Some(&labels))
                    .await?;
            }
            if !rest.is_empty() {
                http.send(Method::PATCH, path, Some(&Value::Object(rest)))
                    .await?;
            }
            http.get_opt(path)
                .await?
                .ok_or_else(|| Sent::Unclear(format!("{path} is gone after the write")))
        }
    }
}

async fn settle(store: &Store, wb: &WriteBack, s: Settlement<'_>) -> Result<(), WriteBackError> {
    Ok(store.settle_write_back(wb, &s).await?)
}

/// Closes `wb` unsent, in `phase`, saying why.
async fn refuse(
    store: &Store,
    wb: &WriteBack,
    why: String,
    phase: Phase,
) -> Result<Executed, WriteBackError> {
    settle(store, wb, closed(phase, Some(&why))).await?;
    Ok(Executed::Closed(why))
}

/// What the journal keeps of the forge's answer.
fn summary(issue: &Value) -> Value {
    json!({
        "number": issue["number"],
        "state": issue["state"],
        "updatedAt": issue["updated_at"],
        "url": issue["html_url"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_issue_path_names_an_issue() {
        assert_eq!(
            issue_of("/repos/globex/doomsday/issues/7"),
            Some(("globex", "doomsday", 7))
        );
        assert_eq!(issue_of("/repos/globex/doomsday/pulls/7"), None);
        assert_eq!(issue_of("/repos/globex/doomsday/issues/7/labels"), None);
        assert_eq!(issue_of("/repos/globex/doomsday/issues/x"), None);
    }
}
