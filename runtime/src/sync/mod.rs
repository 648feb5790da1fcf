//! Inbound sync: a verified delivery becomes a normalized sync event
//! (spec ExternalSyncEvent) and, for the kinds kradle projects, the object
//! it is about (Issue, PullRequest, Review, Pipeline, Job) with its external
//! envelope (docs/serve.md, "Sync").
//!
//! Everything here is pure: the store applies what [`normalize`] returns,
//! in the transaction that completes the delivery's job.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::text_enum::text_enum;

text_enum! {
    /// What became of a sync event (`kradle_sync_events.outcome`).
    pub enum Outcome {
        /// The projection was written.
        Applied = "applied",
        /// The projection already held a newer state of the object.
        Superseded = "superseded",
        /// A status update for an object kradle does not have.
        Unmatched = "unmatched",
        /// kradle keeps no projection of this kind; the event is recorded.
        Recorded = "recorded",
    }
}

/// A delivery, normalized (spec `normalizeEvent()`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncEvent {
    /// The event, in GitHub's vocabulary (Gitea's names are mapped).
    pub event_type: String,
    pub action: Option<String>,
    /// The kind of object the event is about (`Issue`, `Repository`, ...).
    pub resource_kind: &'static str,
    /// The forge's id of that object (for an issue, its repository and
    /// number: numbers are what forges show, ids differ between them).
    pub native_id: String,
    /// `owner/name`, when the event is about a repository.
    pub repository: Option<String>,
    /// The provider's `updated_at` of the object, when the payload has one.
    pub updated_at: Option<DateTime<Utc>>,
    /// What to write, if kradle keeps a projection of the object.
    pub change: Option<Change>,
}

/// A change to a projection.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create or replace the projection with this native id.
    Upsert(Projection),
    /// Merge `status` into the projection of `kind` that `target` finds,
    /// if there is one (check suites and check runs update the Pipeline or
    /// Job their workflow made).
    UpdateStatus {
        kind: &'static str,
        target: Target,
        status: Value,
    },
}

/// Which projection a status update is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The one with this native id.
    NativeId(String),
    /// The one whose status has `field` = `value`.
    Status { field: &'static str, value: String },
}

/// A projected object: what the aggregated API serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub kind: &'static str,
    /// A Kubernetes name, unique per org and kind: source, repository and
    /// the forge's number or id (`github-widgets-12`).
    pub name: String,
    pub native_id: String,
    pub labels: Map<String, Value>,
    pub spec: Value,
    /// The status, without the `external` envelope the store adds.
    pub status: Value,
}

/// Why a delivery could not be normalized. The job fails (and is retried,
/// then a dead letter): a payload without what its event must carry is a
/// forge bug or a forgery that got a valid signature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{event} payload without {missing}")]
pub struct NormalizeError {
    pub event: String,
    pub missing: &'static str,
}

/// Normalizes a delivery of `source` (`github` or `gitea`).
pub fn normalize(
    source: &str,
    org: &str,
    event: &str,
    payload: &Value,
) -> Result<SyncEvent, NormalizeError> {
    let event_type = canonical_event(source, event, payload);
    let action = payload["action"].as_str().map(str::to_string);
    let repository = payload["repository"]["full_name"]
        .as_str()
        .map(str::to_string);
    let repo_name = payload["repository"]["name"].as_str().unwrap_or_default();
    let missing = |what: &'static str| NormalizeError {
        event: event_type.clone(),
        missing: what,
    };
    let base = Base {
        source,
        org,
        repository: repository.as_deref().unwrap_or_default(),
        repo_name,
    };
    let needs_repo = || repository.clone().ok_or_else(|| missing("repository"));

    let (resource_kind, native_id, updated_at, change) = match event_type.as_str() {
        "issues" | "issue_comment" => {
            let issue = object(payload, "issue").ok_or_else(|| missing("issue"))?;
            needs_repo()?;
            let number = number(issue).ok_or_else(|| missing("issue.number"))?;
            // A comment on a pull request carries the pull request as an
            // issue (with a `pull_request` field).
            let is_pr = issue.get("pull_request").is_some_and(|p| !p.is_null())
                || payload["is_pull"].as_bool() == Some(true);
            let updated = time(&issue["updated_at"]);
            if is_pr {
                let p = base.pull_request(issue, number, None);
                (
                    "PullRequest",
                    p.native_id.clone(),
                    updated,
                    Some(Change::Upsert(p)),
                )
            } else {
                let p = base.issue(issue, number, action.as_deref());
                (
                    "Issue",
                    p.native_id.clone(),
                    updated,
                    Some(Change::Upsert(p)),
                )
            }
        }
        "pull_request" => {
            let pr = object(payload, "pull_request").ok_or_else(|| missing("pull_request"))?;
            needs_repo()?;
            let number = number(pr)
                .or_else(|| payload["number"].as_u64())
                .ok_or_else(|| missing("pull_request.number"))?;
            let p = base.pull_request(pr, number, Some(pr));
            (
                "PullRequest",
                p.native_id.clone(),
                time(&pr["updated_at"]),
                Some(Change::Upsert(p)),
            )
        }
        "pull_request_review" => {
            let pr = object(payload, "pull_request").ok_or_else(|| missing("pull_request"))?;
            needs_repo()?;
            let number = number(pr).ok_or_else(|| missing("pull_request.number"))?;
            let review = &payload["review"];
            let (id, state) = if source == "gitea" {
                // Gitea's review events carry the verdict in the event name
                // and the review's text, without a review id.
                let state = match event {
                    "pull_request_approved" => "approved",
                    "pull_request_rejected" => "changes_requested",
                    _ => "commented",
                };
                let id = payload["review"]["id"]
                    .as_u64()
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| format!("{}-{}", time_text(&pr["updated_at"]), state));
                (id, state.to_string())
            } else {
                let id = review["id"].as_u64().ok_or_else(|| missing("review.id"))?;
                let state = review["state"]
                    .as_str()
                    .unwrap_or("commented")
                    .to_lowercase();
                (id.to_string(), state)
            };
            let updated = time(&review["submitted_at"]).or_else(|| time(&pr["updated_at"]));
            let p = base.review(number, &id, &state, review);
            (
                "Review",
                p.native_id.clone(),
                updated,
                Some(Change::Upsert(p)),
            )
        }
        "workflow_run" => {
            let run = object(payload, "workflow_run").ok_or_else(|| missing("workflow_run"))?;
            needs_repo()?;
            let id = run["id"]
                .as_u64()
                .ok_or_else(|| missing("workflow_run.id"))?;
            let p = base.pipeline(run, id);
            (
                "Pipeline",
                p.native_id.clone(),
                time(&run["updated_at"]),
                Some(Change::Upsert(p)),
            )
        }
        "workflow_job" => {
            let job = object(payload, "workflow_job").ok_or_else(|| missing("workflow_job"))?;
            needs_repo()?;
            let id = job["id"]
                .as_u64()
                .ok_or_else(|| missing("workflow_job.id"))?;
            let updated = time(&job["completed_at"]).or_else(|| time(&job["started_at"]));
            let p = base.job(job, id);
            ("Job", p.native_id.clone(), updated, Some(Change::Upsert(p)))
        }
        "check_suite" => {
            let suite = object(payload, "check_suite").ok_or_else(|| missing("check_suite"))?;
            let id = suite["id"]
                .as_u64()
                .ok_or_else(|| missing("check_suite.id"))?;
            let status = json!({
                "phase": phase(suite["status"].as_str(), suite["conclusion"].as_str()),
                "conclusion": suite["conclusion"],
            });
            let change = Change::UpdateStatus {
                kind: "Pipeline",
                target: Target::Status {
                    field: "checkSuiteId",
                    value: id.to_string(),
                },
                status,
            };
            (
                "Pipeline",
                format!("check-suite/{id}"),
                time(&suite["updated_at"]),
                Some(change),
            )
        }
        "check_run" => {
            let run = object(payload, "check_run").ok_or_else(|| missing("check_run"))?;
            let id = run["id"].as_u64().ok_or_else(|| missing("check_run.id"))?;
            let status = json!({
                "phase": phase(run["status"].as_str(), run["conclusion"].as_str()),
                "conclusion": run["conclusion"],
                "startedAt": run["started_at"],
                "completedAt": run["completed_at"],
            });
            // A GitHub Actions job is a check run with the same id.
            let change = Change::UpdateStatus {
                kind: "Job",
                target: Target::NativeId(format!("{}/jobs/{id}", base.repository)),
                status,
            };
            let updated = time(&run["completed_at"]).or_else(|| time(&run["started_at"]));
            ("Job", format!("check-run/{id}"), updated, Some(change))
        }
        "push" | "create" | "delete" => {
            let repo = needs_repo()?;
            let r = payload["ref"].as_str().unwrap_or_default();
            ("Repository", format!("{repo}@{r}"), None, None)
        }
        "deployment" | "deployment_status" => {
            let id = payload["deployment"]["id"]
                .as_u64()
                .ok_or_else(|| missing("deployment.id"))?;
            let updated = time(&payload["deployment_status"]["updated_at"])
                .or_else(|| time(&payload["deployment"]["updated_at"]));
            ("Deployment", format!("deployments/{id}"), updated, None)
        }
        "label" => {
            let name = payload["label"]["name"]
                .as_str()
                .ok_or_else(|| missing("label.name"))?;
            let scope = repository.as_deref().unwrap_or(org);
            ("Label", format!("{scope}/labels/{name}"), None, None)
        }
        _ => {
            // Recorded, so triggers can see it, but nothing is projected.
            let scope = repository.as_deref().unwrap_or(org);
            ("Event", scope.to_string(), None, None)
        }
    };
    Ok(SyncEvent {
        event_type,
        action,
        resource_kind,
        native_id,
        repository,
        updated_at,
        change: change.map(|c| match c {
            Change::Upsert(mut p) => {
                p.labels.insert("kradle.a5c.ai/org".into(), org.into());
                drop_nulls(&mut p.spec);
                drop_nulls(&mut p.status);
                Change::Upsert(p)
            }
            other => other,
        }),
    })
}

/// Gitea's event header names, in GitHub's vocabulary.
fn canonical_event(source: &str, event: &str, payload: &Value) -> String {
    if source != "gitea" {
        return event.to_string();
    }
    match event {
        "issues" | "issue_assign" | "issue_label" | "issue_milestone" => "issues",
        "pull_request"
        | "pull_request_assign"
        | "pull_request_label"
        | "pull_request_milestone"
        | "pull_request_sync"
        | "pull_request_review_request" => "pull_request",
        "pull_request_approved" | "pull_request_rejected" | "pull_request_comment"
            if payload.get("review").is_some() =>
        {
            "pull_request_review"
        }
        "pull_request_comment" => "issue_comment",
        other => other,
    }
    .to_string()
}

/// What every projection of one delivery shares.
struct Base<'a> {
    source: &'a str,
    org: &'a str,
    repository: &'a str,
    repo_name: &'a str,
}

impl Base<'_> {
    fn projection(&self, kind: &'static str, suffix: &str, native_id: String) -> Projection {
        let mut labels = Map::new();
        labels.insert("kradle.a5c.ai/source".into(), self.source.into());
        if !self.repo_name.is_empty() {
            labels.insert(
                "kradle.a5c.ai/repository".into(),
                dns_label(self.repo_name).into(),
            );
        }
        Projection {
            kind,
            name: dns_name(&format!("{}-{}-{suffix}", self.source, self.repo_name)),
            native_id,
            labels,
            spec: json!({ "organizationRef": self.org }),
            status: json!({}),
        }
    }

    fn issue(&self, issue: &Value, number: u64, action: Option<&str>) -> Projection {
        let mut p = self.projection(
            "Issue",
            &number.to_string(),
            format!("{}/issues/{number}", self.repository),
        );
        let deleted = action == Some("deleted");
        merge(
            &mut p.spec,
            json!({
                "repositoryRefs": [self.repo_name],
                "number": number,
                "title": issue["title"],
                "body": issue["body"],
                "state": issue["state"],
                "labels": names(&issue["labels"], "name"),
                "assignees": names(&issue["assignees"], "login"),
                "author": issue["user"]["login"],
            }),
        );
        let labels = names(&issue["labels"], "name");
        let column = labels
            .as_array()
            .and_then(|l| crate::writeback::workflow_state(l.iter().filter_map(Value::as_str)));
        if let Some(column) = column {
            p.spec["workflowState"] = column.into();
        }
        p.status = json!({
            "phase": if deleted { "Deleted" } else { "Synced" },
            "url": issue["html_url"],
            "closedAt": issue["closed_at"],
        });
        p
    }

    /// From a pull request, or from the issue form a comment on one carries
    /// (`full` is `None` then: no refs, no merge state).
    fn pull_request(&self, pr: &Value, number: u64, full: Option<&Value>) -> Projection {
        let mut p = self.projection(
            "PullRequest",
            &number.to_string(),
            format!("{}/pulls/{number}", self.repository),
        );
        merge(
            &mut p.spec,
            json!({
                "repository": self.repo_name,
                "number": number,
                "title": pr["title"],
                "body": pr["body"],
                "state": pr["state"],
                "labels": names(&pr["labels"], "name"),
                "assignees": names(&pr["assignees"], "login"),
                "author": pr["user"]["login"],
            }),
        );
        p.status = json!({ "phase": "Synced", "url": pr["html_url"] });
        if let Some(full) = full {
            merge(
                &mut p.spec,
                json!({
                    "head": full["head"]["ref"],
                    "base": full["base"]["ref"],
                    "headSha": full["head"]["sha"],
                    "draft": full["draft"],
                    "requestedReviewers": names(&full["requested_reviewers"], "login"),
                }),
            );
            merge(
                &mut p.status,
                json!({ "merged": full["merged"], "mergedAt": full["merged_at"] }),
            );
        }
        p
    }

    fn review(&self, number: u64, id: &str, state: &str, review: &Value) -> Projection {
        let mut p = self.projection(
            "Review",
            &format!("{number}-review-{id}"),
            format!("{}/pulls/{number}/reviews/{id}", self.repository),
        );
        merge(
            &mut p.spec,
            json!({
                "pullRequest": dns_name(&format!("{}-{}-{number}", self.source, self.repo_name)),
                "state": state,
                "body": review["body"].as_str().or(review["content"].as_str()),
                "author": review["user"]["login"],
            }),
        );
        p.status = json!({ "phase": "Synced", "url": review["html_url"] });
        p
    }

    fn pipeline(&self, run: &Value, id: u64) -> Projection {
        let mut p = self.projection(
            "Pipeline",
            &format!("run-{id}"),
            format!("{}/runs/{id}", self.repository),
        );
        merge(
            &mut p.spec,
            json!({
                "repository": self.repo_name,
                "ref": run["head_branch"].as_str().or(run["head_sha"].as_str()),
                "headSha": run["head_sha"],
                "workflow": run["name"],
                "event": run["event"],
                "actor": run["actor"]["login"].as_str().or(run["triggering_actor"]["login"].as_str()),
                // A run from a fork runs untrusted code (spec Pipeline).
                "trustTier": if run["head_repository"]["fork"].as_bool() == Some(true) {
                    "untrusted"
                } else {
                    "trusted"
                },
            }),
        );
        p.status = json!({
            "phase": phase(run["status"].as_str(), run["conclusion"].as_str()),
            "conclusion": run["conclusion"],
            "url": run["html_url"],
            "checkSuiteId": run["check_suite_id"].as_u64().map(|i| i.to_string()),
        });
        p
    }

    fn job(&self, job: &Value, id: u64) -> Projection {
        let mut p = self.projection(
            "Job",
            &format!("job-{id}"),
            format!("{}/jobs/{id}", self.repository),
        );
        let run = job["run_id"].as_u64().unwrap_or_default();
        merge(
            &mut p.spec,
            json!({
                "pipeline": dns_name(&format!("{}-{}-run-{run}", self.source, self.repo_name)),
                "step": job["name"],
                "labels": job["labels"],
                "runnerName": job["runner_name"],
            }),
        );
        p.status = json!({
            "phase": phase(job["status"].as_str(), job["conclusion"].as_str()),
            "conclusion": job["conclusion"],
            "startedAt": job["started_at"],
            "completedAt": job["completed_at"],
            "url": job["html_url"],
        });
        p
    }
}

text_enum! {
    /// The phase of a CI run or job (a Pipeline's or Job's `status.phase`).
    pub enum PipelinePhase {
        Pending = "Pending",
        Queued = "Queued",
        Running = "Running",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Cancelled = "Cancelled",
    }
}

/// The spec's phase mapping for runs and jobs (§3.4): queued, waiting,
/// requested and pending are `Queued`/`Pending`; in progress is `Running`;
/// completed is `Succeeded` on success (and on a skip or neutral
/// conclusion), `Cancelled` when cancelled, `Failed` otherwise.
pub fn phase(status: Option<&str>, conclusion: Option<&str>) -> PipelinePhase {
    match (status, conclusion) {
        (Some("completed"), Some("success" | "neutral" | "skipped")) => PipelinePhase::Succeeded,
        (Some("completed"), Some("cancelled")) => PipelinePhase::Cancelled,
        (Some("completed"), _) => PipelinePhase::Failed,
        (Some("in_progress"), _) => PipelinePhase::Running,
        (Some("queued" | "requested"), _) => PipelinePhase::Queued,
        _ => PipelinePhase::Pending,
    }
}

fn object<'a>(payload: &'a Value, field: &str) -> Option<&'a Value> {
    payload.get(field).filter(|v| v.is_object())
}

fn number(v: &Value) -> Option<u64> {
    v["number"].as_u64()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn time_text(v: &Value) -> String {
    time(v)
        .map(|t| t.timestamp().to_string())
        .unwrap_or_default()
}

/// The `field` of each object of a list (labels' names, users' logins).
fn names(list: &Value, field: &str) -> Value {
    let mut out: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o[field].as_str())
        .collect();
    out.sort_unstable();
    out.dedup();
    json!(out)
}

/// Leaves out the fields the payload did not have.
fn drop_nulls(v: &mut Value) {
    if let Some(map) = v.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// A Kubernetes object name (RFC 1123 subdomain, at most 253 characters)
/// from free text: lowercase, anything else folded to `-`.
pub fn dns_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out
        .trim_matches(|c: char| c == '-' || c == '.')
        .chars()
        .take(253)
        .collect();
    trimmed.trim_end_matches(['-', '.']).to_string()
}

/// A label value: at most 63 characters of a DNS name.
fn dns_label(text: &str) -> String {
    let name: String = dns_name(text).replace('.', "-").chars().take(63).collect();
    name.trim_end_matches('-').to_string()
}

/// The ordering key of a delivery: deliveries about the same object (an
/// issue or pull request and its comments and reviews, a workflow run and
/// its jobs) share it, so they are processed in order, one at a time.
pub fn ordering_key(source: &str, org: &str, event: &str, payload: &Value) -> String {
    let repo = payload["repository"]["full_name"]
        .as_str()
        .unwrap_or_default();
    let number = payload["issue"]["number"]
        .as_u64()
        .or_else(|| payload["pull_request"]["number"].as_u64())
        .or_else(|| payload["number"].as_u64());
    let object = match (event, number) {
        (_, Some(n)) => format!("#{n}"),
        ("workflow_run", _) => format!("/run/{}", payload["workflow_run"]["id"]),
        ("workflow_job", _) => format!("/run/{}", payload["workflow_job"]["run_id"]),
        _ => String::new(),
    };
    format!("{source}:{org}:{repo}{object}")
}

#[cfg(test)]
mod tests;
