//! `kradle apply`: converge a forge to a compiled plan, recording every
//! write before it is sent.
//!
//! For one organization:
//! 1. take its apply lock (one run per organization at a time);
//! 2. read what kradle manages (object links) and, for everything in scope,
//!    what the forge has;
//! 3. work out the removals: objects kradle manages that the plan no longer
//!    has, and, with `--prune`, objects nobody declared (drift). Refuse
//!    before any write when they take away more than `--max-removal` percent
//!    of the permission grants;
//! 4. walk the plan in order: decide each operation against the live state;
//!    a match is adopted (linked), a difference is recorded as an intent,
//!    marked InFlight, sent, and recorded as Succeeded or Failed;
//! 5. send the removals the same way. Repositories are archived, never
//!    deleted.
//!
//! A run killed at any point is simply rerun: step 4 reads the forge before
//! each write, so a write that landed before the kill is found and not sent
//! again, and the intent it left open is closed.

mod levels;
mod removals;
mod summary;

pub use summary::{Summary, retries_of};

use levels::levels;
use removals::within_archived;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::StreamExt;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use kradle_compiler::forge_plan::{Backend, Operation, Placeholder, Plan, substitute};

use crate::forge::http::{Http, HttpError};
use crate::forge::{Change, Decision, Forge, Key, Removal, Request, key_of};
use crate::secrets::{SecretError, Secrets};
use crate::store::{CreatedBy, Link, NewIntent, Phase, Store, StoreError, body_digest};

/// How an apply behaves.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Read the forge, write nothing, report what a run would send.
    pub dry_run: bool,
    /// Also remove what nobody declared (drift).
    pub prune: bool,
    /// Refuse when removals take more than this share (percent) of the grants.
    pub max_removal: f64,
    /// Let such an apply through.
    pub allow_removal: bool,
    /// Fail at once when another run holds the organization.
    pub no_wait: bool,
    /// Operations sent at once (within what `dependsOn` allows).
    pub concurrency: usize,
    /// Removals wait for `kradle intents approve` (kradle.yaml
    /// `forges.approveRemovals`).
    pub approve_removals: bool,
    /// Send every hook's secret again (after rotating the values), even
    /// where nothing else differs.
    pub resend_secrets: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            dry_run: false,
            prune: false,
            max_removal: 25.0,
            allow_removal: false,
            no_wait: false,
            concurrency: 8,
            approve_removals: false,
            resend_secrets: false,
        }
    }
}

/// What happened to one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Removed,
    Archived,
    /// It existed and matched: now linked, not re-created.
    Adopted,
    Unchanged,
    /// Not declared, found on the forge; reported (removed with --prune).
    Drift,
    Failed,
    /// Not attempted: an operation it depends on failed.
    Skipped,
    /// A removal recorded as PendingApproval, not sent.
    AwaitingApproval,
    /// A removal refused by `kradle intents reject`.
    Rejected,
    /// Dry run: what a real run would do.
    WouldCreate,
    WouldUpdate,
    WouldRemove,
    WouldArchive,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub id: String,
    pub action: String,
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OpReport {
    fn new(id: &str, action: &str, result: Outcome) -> OpReport {
        OpReport {
            id: id.to_string(),
            action: action.to_string(),
            result,
            method: None,
            path: None,
            status: None,
            attempts: 0,
            error: None,
        }
    }
}

/// The report of one organization.
#[derive(Debug, Clone, Serialize)]
pub struct OrgReport {
    pub org: String,
    pub backend: Backend,
    pub operations: Vec<OpReport>,
}

/// Why an apply of an organization stopped before its writes.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the forge failed: {0}")]
    Forge(#[from] HttpError),
    #[error(
        "refusing to remove {removed} of the {total} permission grants of `{org}` ({share:.0}%, more than --max-removal {max}%); check the config, or pass --allow-removal"
    )]
    TooManyRemovals {
        org: String,
        removed: usize,
        total: usize,
        share: f64,
        max: f64,
    },
    #[error("the plan of `{org}` is for {plan}, not {forge}")]
    WrongForge {
        org: String,
        plan: Backend,
        forge: Backend,
    },
}

/// Object kinds that grant access: what the removal guard counts.
const GRANTS: &[&str] = &["collaborator", "team-member", "team-repository"];

/// Applies one organization's plan to its forge.
pub async fn apply<F: Forge>(
    store: &Store,
    forge: &F,
    plan: &Plan,
    secrets: &Secrets,
    options: &ApplyOptions,
    progress: &mut (dyn FnMut(&OpReport) + Send),
) -> Result<OrgReport, ApplyError> {
    if plan.backend != forge.backend() {
        return Err(ApplyError::WrongForge {
            org: plan.org.clone(),
            plan: plan.backend,
            forge: forge.backend(),
        });
    }
    let org = plan.org.as_str();
    let lock = if options.dry_run {
        None
    } else {
        Some(store.lock_org(org, !options.no_wait).await?)
    };
    let result = run(store, forge, plan, secrets, options, progress).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    result
}

async fn run<F: Forge>(
    store: &Store,
    forge: &F,
    plan: &Plan,
    secrets: &Secrets,
    options: &ApplyOptions,
    progress: &mut (dyn FnMut(&OpReport) + Send),
) -> Result<OrgReport, ApplyError> {
    let org = plan.org.as_str();
    let mut run = Run {
        store,
        org,
        backend: forge.backend(),
        secrets,
        options,
        outputs: HashMap::new(),
        reports: Vec::new(),
        links: store
            .links(org, forge.backend())
            .await?
            .into_iter()
            .map(|l| ((l.kind.clone(), l.name.clone()), l))
            .collect(),
    };

    // Removals and drift first, so the guard can refuse before any write.
    let desired: BTreeSet<(String, String)> = plan
        .operations
        .iter()
        .filter_map(key_of)
        .map(|k| (k.kind.to_string(), k.name))
        .collect();
    let scan = forge
        .scan(plan, &run.managed(), &desired, options.concurrency)
        .await?;
    let mut removals: Vec<Removal> = within_archived(scan.stale);
    if options.prune {
        removals.extend(within_archived(scan.drift.clone()));
    }
    let removed = removals
        .iter()
        .filter(|r| GRANTS.contains(&r.kind.as_str()))
        .count();
    let total = scan.grants.max(removed);
    let share = if total == 0 {
        0.0
    } else {
        removed as f64 * 100.0 / total as f64
    };
    if share > options.max_removal && !options.allow_removal && removed > 0 {
        return Err(ApplyError::TooManyRemovals {
            org: org.to_string(),
            removed,
            total,
            share,
            max: options.max_removal,
        });
    }

    // The plan, level by level: an operation runs once everything it
    // depends on has; the operations of one level run at once.
    let levels = levels(plan);
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    for level in 0..=levels.iter().copied().max().unwrap_or(0) {
        let mut ready = Vec::new();
        for (i, op) in plan.operations.iter().enumerate() {
            if levels[i] != level {
                continue;
            }
            match op.depends_on.iter().find(|d| failed.contains(d.as_str())) {
                Some(dep) => {
                    failed.insert(&op.id);
                    let mut r = OpReport::new(&op.id, &op.action.to_string(), Outcome::Skipped);
                    r.error = Some(format!("`{dep}` failed"));
                    run.report(progress, r);
                }
                None => ready.push(op),
            }
        }
        let this = &run;
        let mut results: Vec<(usize, Result<Done, ApplyError>)> =
            futures_util::stream::iter(ready.into_iter().enumerate())
                .map(|(n, op)| async move { (n, this.operation(forge, op).await) })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        // Reported in plan order, whatever order they finished in.
        results.sort_by_key(|(n, _)| *n);
        for (_, result) in results {
            let done = result?;
            let Some(report) = done.report else { continue };
            if report.result == Outcome::Failed {
                if let Some(op) = plan.operations.iter().find(|o| o.id == report.id) {
                    failed.insert(&op.id);
                }
            }
            if let Some(output) = done.output {
                run.outputs.insert(report.id.clone(), output);
            }
            if let Some(link) = done.link {
                run.links
                    .insert((link.kind.clone(), link.name.clone()), link);
            }
            run.report(progress, report);
        }
    }

    // Drift not pruned is reported; removals are sent.
    if !options.prune {
        for d in &scan.drift {
            let mut r = OpReport::new(
                &format!("drift:{}:{}", d.kind, d.name),
                &format!("remove-{}", d.kind),
                Outcome::Drift,
            );
            r.method = Some(d.request.method.to_string());
            r.path = Some(d.request.path.clone());
            run.report(progress, r);
        }
    }
    let mut refused = forge.last_admins(org, &removals).await?;
    let this = &run;
    let mut removed: Vec<(usize, Result<OpReport, ApplyError>)> = futures_util::stream::iter(
        removals
            .iter()
            .enumerate()
            .map(|(n, r)| (n, r, refused.remove(&n))),
    )
    .map(|(n, r, refusal)| async move { (n, this.removal(forge, r, refusal).await) })
    .buffer_unordered(options.concurrency.max(1))
    .collect()
    .await;
    removed.sort_by_key(|(n, _)| *n);
    for (_, report) in removed {
        run.report(progress, report?);
    }
    Ok(OrgReport {
        org: org.to_string(),
        backend: forge.backend(),
        operations: run.reports,
    })
}

struct Run<'a> {
    store: &'a Store,
    org: &'a str,
    backend: Backend,
    secrets: &'a Secrets,
    options: &'a ApplyOptions,
    /// What each operation's object is, for `${op:<id>.<field>}`.
    outputs: HashMap<String, Value>,
    links: BTreeMap<(String, String), Link>,
    reports: Vec<OpReport>,
}

/// What one operation produced.
#[derive(Default)]
struct Done {
    report: Option<OpReport>,
    /// Its object, for the `${op:…}` of later operations.
    output: Option<Value>,
    link: Option<Link>,
}

/// How many times one operation is decided and sent before it fails.
const ROUNDS: u32 = 4;

impl Run<'_> {
    /// The managed objects, as the forge's scan reads them.
    fn managed(&self) -> crate::forge::Links {
        self.links
            .iter()
            .map(|(key, link)| {
                let native_id = link.native_id.clone();
                (key.clone(), crate::forge::Managed { native_id })
            })
            .collect()
    }

    fn report(&mut self, progress: &mut (dyn FnMut(&OpReport) + Send), mut report: OpReport) {
        if let Some(e) = &report.error {
            report.error = Some(self.redact(e));
        }
        progress(&report);
        self.reports.push(report);
    }

    /// `text` with every secret value replaced: a forge may echo a body.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in self.secrets.values() {
            if !v.expose().is_empty() {
                out = out.replace(v.expose(), "***");
            }
        }
        out
    }

    /// The operation's path with `${op:…}` resolved; `None` when an earlier
    /// operation's object is not there (a dry run that would create it).
    fn resolve_path(&self, op: &Operation) -> Option<String> {
        substitute(op.path.as_str(), |p| match p {
            Placeholder::Op { id, field } => self
                .outputs
                .get(id)
                .and_then(|o| o.get(field))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .ok_or(()),
            other => Ok(other.to_string()),
        })
        .ok()
    }

    /// Decides and carries out one operation. Reads the run's state only;
    /// what it produced (the object, for `${op:…}`, and its link) is
    /// returned, so operations of one level run at once.
    async fn operation<F: Forge>(&self, forge: &F, op: &Operation) -> Result<Done, ApplyError> {
        let mut done = Done::default();
        let mut report = OpReport::new(&op.id, op.action.as_str(), Outcome::Unchanged);
        let key = key_of(op);
        let mut intent: Option<i64> = None;
        for _round in 0..ROUNDS {
            let path = self.resolve_path(op);
            // An earlier operation's answer lacked what this one's path
            // names (a forge that answered without an `id`): in a real run
            // that fails this operation, and its dependents are skipped.
            if path.is_none() && !self.options.dry_run {
                report.result = Outcome::Failed;
                report.error = Some(format!(
                    "`{}` names a field of an earlier operation's answer that the forge did not give; not sent",
                    op.path.as_str()
                ));
                done.report = Some(report);
                return Ok(done);
            }
            let decision = forge.decide(op, path.as_deref()).await?;
            let decision = self.secret_check(decision, op, key.as_ref(), path.as_deref());
            match decision {
                Decision::Matches(live) => {
                    // A write an earlier (killed) run sent may have landed:
                    // close its intent.
                    if !self.options.dry_run {
                        let open = match intent {
                            Some(id) => Some(id),
                            None => self
                                .store
                                .open_intent(&op.idempotency_key)
                                .await?
                                .map(|i| i.id),
                        };
                        if let Some(id) = open {
                            let phase = if intent.is_some() {
                                Phase::Succeeded
                            } else {
                                Phase::Superseded
                            };
                            self.store.finish_intent(id, phase, None).await?;
                        }
                    }
                    if report.result == Outcome::Unchanged {
                        let linked = key.as_ref().is_some_and(|k| {
                            self.links
                                .contains_key(&(k.kind.to_string(), k.name.clone()))
                        });
                        if !linked && key.is_some() {
                            report.result = Outcome::Adopted;
                        }
                    }
                    done.link = self
                        .link(key.as_ref(), &live, op, CreatedBy::Adopted)
                        .await?;
                    done.output = Some(live);
                    done.report = Some(report);
                    return Ok(done);
                }
                Decision::Fail(reason) => {
                    report.result = Outcome::Failed;
                    report.error = Some(reason);
                    done.report = Some(report);
                    return Ok(done);
                }
                Decision::Write(change, requests) => {
                    let last = requests.last().cloned();
                    report.method = last.as_ref().map(|r| r.method.to_string());
                    report.path = last.as_ref().map(|r| r.path.clone());
                    if self.options.dry_run {
                        report.result = match change {
                            Change::Create => Outcome::WouldCreate,
                            _ => Outcome::WouldUpdate,
                        };
                        done.report = Some(report);
                        return Ok(done);
                    }
                    let id = match intent {
                        Some(id) => id,
                        None => {
                            let new = NewIntent::of(self.org, self.backend, op);
                            self.store.record_intent(new).await?.id
                        }
                    };
                    intent = Some(id);
                    self.store.start_intent(id).await?;
                    report.attempts += 1;
                    match self.send(forge, &requests).await {
                        Ok(object) => {
                            self.store.finish_intent(id, Phase::Succeeded, None).await?;
                            report.result = match change {
                                Change::Create => Outcome::Created,
                                _ => Outcome::Updated,
                            };
                            report.status = None;
                            done.link = self
                                .link(key.as_ref(), &object, op, CreatedBy::Kradle)
                                .await?;
                            // A PUT answers 204: the object is what was asked.
                            let object = if object.is_null() {
                                op.body.clone()
                            } else {
                                object
                            };
                            done.output = Some(object);
                            done.report = Some(report);
                            return Ok(done);
                        }
                        // It may have landed: read again, then decide.
                        Err(SendError::Http(HttpError::Ambiguous { .. })) => continue,
                        Err(e) => {
                            let message = self.redact(&e.to_string());
                            self.store
                                .finish_intent(id, Phase::Failed, Some(&message))
                                .await?;
                            report.result = Outcome::Failed;
                            report.status = e.status();
                            report.error = Some(message);
                            done.report = Some(report);
                            return Ok(done);
                        }
                    }
                }
            }
        }
        let message = format!("no clear answer from the forge after {ROUNDS} tries");
        if let Some(id) = intent {
            self.store
                .finish_intent(id, Phase::Failed, Some(&message))
                .await?;
        }
        report.result = Outcome::Failed;
        report.error = Some(message);
        done.report = Some(report);
        Ok(done)
    }

    /// A hook that matches may still need its secret sent: no forge shows a
    /// hook's secret, so kradle compares the body it last applied (with its
    /// `${secret:…}` references, never the values) and, with
    /// `--resend-secrets`, sends every secret again.
    fn secret_check(
        &self,
        decision: Decision,
        op: &Operation,
        key: Option<&Key>,
        path: Option<&str>,
    ) -> Decision {
        let Decision::Matches(live) = &decision else {
            return decision;
        };
        if op.action != kradle_compiler::forge_plan::Action::CreateWebhook
            || op.body["config"]["secret"].is_null()
        {
            return decision;
        }
        let applied = key.and_then(|k| {
            self.links
                .get(&(k.kind.to_string(), k.name.clone()))
                .and_then(|l| l.applied_digest.clone())
        });
        let changed = applied.is_some_and(|d| d != body_digest(&op.body));
        match path {
            Some(list) if changed || self.options.resend_secrets => {
                crate::forge::hook_update(list, live, &op.body)
            }
            _ => decision,
        }
    }

    /// Sends `requests` in order, secrets resolved; the last answer.
    async fn send<F: Forge>(&self, forge: &F, requests: &[Request]) -> Result<Value, SendError> {
        let mut last = Value::Null;
        for r in requests {
            if unresolved(&r.path) {
                return Err(SendError::Unresolved(format!(
                    "the path of {} {}",
                    r.method, r.path
                )));
            }
            let body = match &r.body {
                Some(b) => Some(self.secrets.resolve(b)?),
                None => None,
            };
            if body.as_ref().is_some_and(|b| unresolved(&b.to_string())) {
                return Err(SendError::Unresolved(format!(
                    "the body of {} {}",
                    r.method, r.path
                )));
            }
            let response = forge
                .http()
                .send(r.method.clone(), &r.path, body.as_ref())
                .await;
            match response {
                Ok(resp) => {
                    forge.wrote(&r.method, &r.path, &resp.body);
                    last = resp.body;
                }
                // Removing what is already gone is done.
                Err(e) if r.method == Method::DELETE && e.status() == Some(404) => {
                    forge.forget(&r.path);
                }
                Err(e) => {
                    forge.forget(&r.path);
                    return Err(e.into());
                }
            }
        }
        Ok(last)
    }

    /// Records that kradle manages `key`; the link, for the run's state.
    async fn link(
        &self,
        key: Option<&Key>,
        object: &Value,
        op: &Operation,
        created_by: CreatedBy,
    ) -> Result<Option<Link>, ApplyError> {
        let Some(key) = key else { return Ok(None) };
        if self.options.dry_run {
            return Ok(None);
        }
        let native_id = match &object["id"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let link = Link {
            org: self.org.to_string(),
            backend: self.backend.to_string(),
            kind: key.kind.to_string(),
            name: key.name.clone(),
            native_id,
            created_by,
            applied_digest: Some(body_digest(&op.body)),
        };
        self.store.upsert_link(&link).await?;
        Ok(Some(link))
    }
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A placeholder left in what was about to be sent: a bug, never sent.
    #[error("bug: {0} still holds an unresolved placeholder; not sent")]
    Unresolved(String),
}

impl SendError {
    fn status(&self) -> Option<u16> {
        match self {
            SendError::Http(e) => e.status(),
            SendError::Secret(_) | SendError::Unresolved(_) => None,
        }
    }
}

/// Whether `text` still holds a `${op:…}` or `${secret:…}` placeholder.
fn unresolved(text: &str) -> bool {
    text.contains("${op:") || text.contains("${secret:")
}
