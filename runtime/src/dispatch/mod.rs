//! Agent dispatch (spec §3.1, AgentTriggerRule, AgentTriggerExecution).
//!
//! This part is trigger evaluation: each normalized sync event is evaluated
//! against its org's enabled AgentTriggerRules, in the transaction that
//! applies the event, so a rule fires at most once per delivery, and a
//! crash neither loses nor repeats an evaluation (docs/dispatch.md).
//!
//! Everything here is pure; the store records what [`Triggers::evaluate`]
//! decides.

pub mod bundle;
pub mod catalog;
pub mod cron;
pub mod executor;
pub mod job;
pub mod memory;
pub mod mux;
pub mod outcome;
pub mod run;

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::sync::SyncEvent;
use crate::text_enum::text_enum;

/// The most a comment pattern may compile to: a hostile pattern in a pull
/// request cannot make every sync slow.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// The part of a comment a pattern is matched against.
const MAX_COMMENT: usize = 64 * 1024;

/// What an event offers the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerEvent<'a> {
    /// In GitHub's vocabulary (`issue_comment`, `workflow_run`, ...).
    pub event_type: &'a str,
    pub action: Option<&'a str>,
    /// The repository's name (not its owner).
    pub repository: Option<&'a str>,
    /// Who caused it (`sender.login`).
    pub actor: Option<&'a str>,
    /// A comment's body.
    pub comment: Option<&'a str>,
    /// The label added or removed.
    pub label: Option<&'a str>,
    /// How the CI run of a `workflow_run`, `workflow_job`, `check_run` or
    /// `check_suite` ended (`failure`, ...).
    pub conclusion: Option<&'a str>,
}

impl<'a> TriggerEvent<'a> {
    /// The trigger view of a normalized event and its payload.
    pub fn of(event: &'a SyncEvent, payload: &'a Value) -> TriggerEvent<'a> {
        let sender = &payload["sender"];
        TriggerEvent {
            event_type: &event.event_type,
            action: event.action.as_deref(),
            repository: payload["repository"]["name"].as_str(),
            actor: sender["login"]
                .as_str()
                .or_else(|| sender["username"].as_str()),
            comment: payload["comment"]["body"].as_str(),
            label: payload["label"]["name"].as_str(),
            conclusion: ["workflow_run", "workflow_job", "check_run", "check_suite"]
                .iter()
                .find_map(|k| payload[k]["conclusion"].as_str()),
        }
    }
}

/// The repository (name) and ref an event's run works on: the branch of
/// a workflow run, a pull request's head, a push's branch, or the
/// repository's default branch.
pub fn target_of(payload: &Value) -> (Option<String>, Option<String>) {
    let repository = payload["repository"]["name"].as_str().map(str::to_string);
    let git_ref = [
        &payload["workflow_run"]["head_branch"],
        &payload["pull_request"]["head"]["ref"],
        &payload["check_run"]["check_suite"]["head_branch"],
    ]
    .into_iter()
    .find_map(|v| v.as_str())
    .or_else(|| {
        payload["ref"]
            .as_str()
            .map(|r| r.strip_prefix("refs/heads/").unwrap_or(r))
    })
    .or_else(|| payload["repository"]["default_branch"].as_str())
    .map(str::to_string);
    (repository, git_ref)
}

/// Where a run's checkout clones from: the `clone_url` of the event's
/// repository, when it is a plain http(s) URL (no credentials in it, no
/// spaces or control characters, at most 2048 bytes); else none, and the
/// run gets no checkout.
pub fn clone_url_of(payload: &Value) -> Option<String> {
    let url = payload["repository"]["clone_url"].as_str()?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let plain = url.len() <= 2048
        && !authority.is_empty()
        && !authority.contains('@')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    plain.then(|| url.to_string())
}

/// Why a run cannot be dispatched with these fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotDispatchable {
    #[error("{field} `{}` is not a name (lowercase letters, digits, `-`; at most 63)", .value.escape_debug())]
    Name { field: &'static str, value: String },
    #[error("repository `{}` is not a repository name", .0.escape_debug())]
    Repository(String),
    #[error("taskKind `{}` is not a word", .0.escape_debug())]
    TaskKind(String),
    #[error("ref `{}` is not a git ref", .0.escape_debug())]
    Ref(String),
}

/// Checks a manual dispatch's fields (`kradle dispatch`, `POST
/// .../agents/dispatch`): names are DNS labels, the task kind a word, the
/// ref a plain git ref.
pub fn check_manual(
    stack: &str,
    task_kind: &str,
    repository: Option<&str>,
    git_ref: Option<&str>,
) -> Result<(), NotDispatchable> {
    let label = |field: &'static str, v: &str| {
        let ok = !v.is_empty()
            && v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !v.starts_with('-')
            && !v.ends_with('-');
        if ok {
            Ok(())
        } else {
            Err(NotDispatchable::Name {
                field,
                value: v.to_string(),
            })
        }
    };
    label("agentStack", stack)?;
    if let Some(r) = repository {
        let ok = !r.is_empty()
            && r.len() <= 100
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return Err(NotDispatchable::Repository(r.to_string()));
        }
    }
    let word = !task_kind.is_empty()
        && task_kind.len() <= 63
        && task_kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if !word {
        return Err(NotDispatchable::TaskKind(task_kind.to_string()));
    }
    if let Some(r) = git_ref {
        if !is_plain_ref(r) {
            return Err(NotDispatchable::Ref(r.to_string()));
        }
    }
    Ok(())
}

/// Whether `r` is a plain git ref a checkout or a push may take: printable
/// ASCII without the characters git refuses in a ref (`~^:?*[\`), no
/// `..`, no leading `-` (an option to git), no `@{`, and no `/`-separated
/// part that is empty, starts with `.` or ends with `.lock`.
pub fn is_plain_ref(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && !r.contains("..")
        && !r.contains("@{")
        && !r.starts_with('-')
        && !r.ends_with('.')
        && r.chars()
            .all(|c| c.is_ascii_graphic() && !"~^:?*[\\".contains(c))
        && r.split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
}

/// Whether `event` is a Gitea label update, which carries the issue's
/// labels after the change and not the label changed.
pub fn is_label_update(source: &str, event: &SyncEvent) -> bool {
    source == "gitea"
        && matches!(
            event.action.as_deref(),
            Some("label_updated" | "label_cleared")
        )
}

/// The labels added (`labeled`) and removed (`unlabeled`), from the
/// labels before and after.
pub fn label_changes(before: &[String], after: &[String]) -> Vec<(String, &'static str)> {
    let added = after
        .iter()
        .filter(|l| !before.contains(l))
        .map(|l| (l.clone(), "labeled"));
    let removed = before
        .iter()
        .filter(|l| !after.contains(l))
        .map(|l| (l.clone(), "unlabeled"));
    added.chain(removed).collect()
}

/// What a match is about, finer than its source event: a second match with
/// the same key is the same happening seen again (a delivery sent twice
/// under two ids), not a new request. The key is the source event
/// (`<event>:<kind>:<native id>`), the action, and the comment, the issue's
/// or pull request's `updated_at`, the label changed, or the CI run
/// attempt.
pub fn match_key(source_event: &str, view: &TriggerEvent<'_>, payload: &Value) -> String {
    let mut key = format!("{source_event}:{}", view.action.unwrap_or("-"));
    if let Some(id) = payload["comment"]["id"].as_i64() {
        key.push_str(&format!(":comment={id}"));
    } else if let Some(at) = ["issue", "pull_request"]
        .iter()
        .find_map(|k| payload[k]["updated_at"].as_str())
    {
        // Two edits of an issue are two events; the same edit sent twice
        // is one.
        key.push_str(&format!(":at={at}"));
    }
    if let Some(label) = view.label {
        key.push_str(&format!(":label={label}"));
    }
    for run in ["workflow_run", "workflow_job", "check_run", "check_suite"] {
        if let Some(attempt) = payload[run]["run_attempt"].as_i64() {
            key.push_str(&format!(":attempt={attempt}"));
        }
    }
    key
}

/// Why a matched event cannot become a run: the repository or ref it
/// names (from a webhook body, hostile as any input) is not one a run can
/// check out.
pub fn unrunnable(repository: Option<&str>, git_ref: Option<&str>) -> Option<NotDispatchable> {
    check_manual("run", "task", repository, git_ref).err()
}

text_enum! {
    /// An AgentTriggerExecution's decision (`kradle_trigger_executions.decision`).
    pub enum ExecutionPhase {
        /// Matched; its run is being created (in the same transaction).
        Dispatching = "Dispatching",
        /// Matched, and its run exists (`status.dispatchRunRef`).
        Dispatched = "Dispatched",
        /// A filter did not pass.
        Skipped = "Skipped",
        /// The same match was dispatched within the rule's `dedupWindow`.
        Deduplicated = "Deduplicated",
        /// A match that cannot become a run (a ref no checkout may take).
        Failed = "Failed",
    }
}

impl ExecutionPhase {
    /// The decisions that count as a dispatch, for `dedupWindow`.
    pub const DISPATCHED: [ExecutionPhase; 2] =
        [ExecutionPhase::Dispatching, ExecutionPhase::Dispatched];
}

/// What evaluating one rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It matched: a run is to be dispatched.
    Dispatching,
    /// Its sources include the event, but a filter did not pass.
    Skipped(String),
}

impl Decision {
    pub fn phase(&self) -> ExecutionPhase {
        match self {
            Decision::Dispatching => ExecutionPhase::Dispatching,
            Decision::Skipped(_) => ExecutionPhase::Skipped,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Decision::Dispatching => None,
            Decision::Skipped(why) => Some(why),
        }
    }
}

/// An enabled AgentTriggerRule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub org: String,
    pub name: String,
    pub agent_stack: String,
    pub task_kind: String,
    sources: Vec<String>,
    repository: Option<String>,
    allowed_actors: Vec<String>,
    webhook: Option<WebhookFilter>,
    comment: Option<(Regex, Vec<String>)>,
    label: Option<(Vec<String>, String)>,
    schedule: Option<cron::Schedule>,
    /// How long a second identical match is Deduplicated (zero: never).
    pub dedup_window: std::time::Duration,
}

/// A rule's `dedupWindow` when it sets none.
pub const DEFAULT_DEDUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

impl Rule {
    /// Its schedule, when it is a `schedule` rule.
    pub fn schedule(&self) -> Option<&cron::Schedule> {
        self.schedule.as_ref()
    }

    /// The repository it is limited to.
    pub fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }
}

#[derive(Debug, Clone)]
struct WebhookFilter {
    events: Vec<String>,
    repository: Option<String>,
    action: Option<String>,
    conclusions: Vec<String>,
}

/// The enabled rules of a compiled config, by org.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    rules: BTreeMap<String, Vec<Rule>>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl Triggers {
    /// The enabled AgentTriggerRules among compiled `objects`, and a
    /// warning for each rule left out (a comment pattern that does not
    /// compile within the size limit).
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
    ) -> (Triggers, Vec<String>) {
        let mut out = Triggers::default();
        let mut warnings = Vec::new();
        for o in objects
            .into_iter()
            .filter(|o| o["kind"] == "AgentTriggerRule")
        {
            let spec = &o["spec"];
            if spec["enabled"] == Value::Bool(false) {
                continue;
            }
            let org = o["metadata"]["labels"]["kradle.a5c.ai/org"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let comment = match spec["commentTrigger"]["pattern"].as_str() {
                None => None,
                Some(pattern) => match RegexBuilder::new(pattern)
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .dfa_size_limit(PATTERN_SIZE_LIMIT)
                    .build()
                {
                    Ok(re) => Some((re, strings(&spec["commentTrigger"]["repos"]))),
                    Err(e) => {
                        warnings.push(format!(
                            "trigger rule `{org}/{name}` is off: its comment pattern does not compile: {e}"
                        ));
                        continue;
                    }
                },
            };
            let webhook = spec["webhookTrigger"].is_object().then(|| WebhookFilter {
                events: strings(&spec["webhookTrigger"]["events"]),
                repository: string(&spec["webhookTrigger"]["repository"]),
                action: string(&spec["webhookTrigger"]["action"]),
                conclusions: strings(&spec["webhookTrigger"]["conclusions"]),
            });
            let label = spec["labelTrigger"].is_object().then(|| {
                (
                    strings(&spec["labelTrigger"]["labels"]),
                    string(&spec["labelTrigger"]["action"]).unwrap_or_else(|| "labeled".into()),
                )
            });
            let sources = strings(&spec["sources"]);
            let schedule = match spec["cronExpression"].as_str() {
                Some(expr) if sources.iter().any(|s| s == "schedule") => {
                    let zone = spec["timeZone"].as_str();
                    match cron::Schedule::parse(expr).and_then(|s| match zone {
                        Some(z) => s.in_zone(z),
                        None => Ok(s),
                    }) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            warnings.push(format!(
                                "trigger rule `{org}/{name}` is off: its schedule `{expr}` does not parse: {e}"
                            ));
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let rule = Rule {
                org: org.clone(),
                name,
                agent_stack: string(&spec["agentStack"]).unwrap_or_default(),
                task_kind: string(&spec["taskKind"]).unwrap_or_default(),
                sources,
                repository: string(&spec["repository"]),
                allowed_actors: strings(&spec["allowedActors"]),
                webhook,
                comment,
                label,
                schedule,
                dedup_window: spec["dedupWindow"]
                    .as_str()
                    .and_then(kradle_compiler::model::duration_seconds)
                    .map_or(DEFAULT_DEDUP_WINDOW, std::time::Duration::from_secs),
            };
            out.rules.entry(org).or_default().push(rule);
        }
        (out, warnings)
    }

    /// How many rules there are.
    /// The rules with a schedule, in org and name order.
    pub fn scheduled(&self) -> impl Iterator<Item = &Rule> {
        self.rules
            .values()
            .flatten()
            .filter(|r| r.schedule.is_some())
    }

    pub fn len(&self) -> usize {
        self.rules.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decision of each of `org`'s rules whose sources include the
    /// event (the others are not about it and are not recorded).
    /// [`Triggers::evaluate`] over several views of one event (a Gitea
    /// label update that added and removed labels), one decision per rule:
    /// the first match, else the first skip, with the index of the view
    /// that decided.
    pub fn evaluate_all<'r>(
        &'r self,
        org: &str,
        events: &[TriggerEvent<'_>],
    ) -> Vec<(&'r Rule, Decision, usize)> {
        let mut out: Vec<(&'r Rule, Decision, usize)> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            for (rule, decision) in self.evaluate(org, event) {
                match out.iter_mut().find(|(r, _, _)| std::ptr::eq(*r, rule)) {
                    None => out.push((rule, decision, i)),
                    Some(seen) => {
                        if seen.1 != Decision::Dispatching && decision == Decision::Dispatching {
                            seen.1 = decision;
                            seen.2 = i;
                        }
                    }
                }
            }
        }
        out
    }

    pub fn evaluate<'r>(
        &'r self,
        org: &str,
        event: &TriggerEvent<'_>,
    ) -> Vec<(&'r Rule, Decision)> {
        self.rules
            .get(org)
            .into_iter()
            .flatten()
            .filter(|r| r.sources.iter().any(|s| s == event.event_type))
            .map(|r| (r, r.decide(event)))
            .collect()
    }
}

impl Rule {
    /// The spec's `evaluateEvent` / `evaluateWebhookEvent` filters, in
    /// order; the first that fails says why.
    fn decide(&self, e: &TriggerEvent<'_>) -> Decision {
        let skip = |why: String| Decision::Skipped(why);
        if let Some(repo) = &self.repository {
            if e.repository != Some(repo.as_str()) {
                return skip(format!("the rule is for repository `{repo}`"));
            }
        }
        if !self.allowed_actors.is_empty()
            && !e
                .actor
                .is_some_and(|a| self.allowed_actors.iter().any(|x| x == a))
        {
            return skip(format!(
                "`{}` is not an allowed actor",
                e.actor.unwrap_or("(nobody)")
            ));
        }
        if let Some(w) = &self.webhook {
            if !w.events.is_empty() && !w.events.iter().any(|x| x == "*" || x == e.event_type) {
                return skip(format!("the webhook trigger is not for `{}`", e.event_type));
            }
            if let Some(repo) = &w.repository {
                if e.repository != Some(repo.as_str()) {
                    return skip(format!("the webhook trigger is for repository `{repo}`"));
                }
            }
            if let Some(action) = &w.action {
                if e.action != Some(action.as_str()) {
                    return skip(format!("the webhook trigger is for action `{action}`"));
                }
            }
            if !w.conclusions.is_empty()
                && !e
                    .conclusion
                    .is_some_and(|c| w.conclusions.iter().any(|x| x == c))
            {
                return skip(format!(
                    "the webhook trigger is for runs that ended {} (this one: {})",
                    w.conclusions.join(" or "),
                    e.conclusion.unwrap_or("no conclusion")
                ));
            }
        }
        if let Some((pattern, repos)) = &self.comment {
            let Some(body) = e.comment else {
                return skip("no comment to match".into());
            };
            if !repos.is_empty() && !e.repository.is_some_and(|r| repos.iter().any(|x| x == r)) {
                return skip("the comment trigger is not for this repository".into());
            }
            let mut end = body.len().min(MAX_COMMENT);
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            if !pattern.is_match(&body[..end]) {
                return skip("the comment does not match the pattern".into());
            }
        }
        if let Some((labels, action)) = &self.label {
            if e.action != Some(action.as_str()) {
                return skip(format!("the label trigger is for `{action}`"));
            }
            if !e.label.is_some_and(|l| labels.iter().any(|x| x == l)) {
                return skip(format!(
                    "label `{}` is not one of the trigger's",
                    e.label.unwrap_or("(none)")
                ));
            }
        }
        Decision::Dispatching
    }
}

#[cfg(test)]
mod tests;
