//! What an agent may ask kradle to deliver to its forge (docs/dispatch.md,
//! "The agent's side"): a comment on the issue or pull request its run
//! came from, a pull request from a branch it pushed, a commit status.
//!
//! The agent is untrusted code, so a write is hostile input: it is parsed
//! strictly, bounded, and secret-scanned here, before anything is
//! recorded. A checked write is gated by the stack's approvals, and turned
//! into the forge's request: the same for GitHub and Gitea where their APIs
//! agree, apart where they do not.
//!
//! Pure: the store records writes, the `agent` loop sends them.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dispatch::is_plain_ref;

/// The longest idempotency key an agent may give.
pub const MAX_KEY: usize = 128;
/// The longest comment or pull-request body (GitHub's limit, 65536
/// characters; bytes here, which is stricter).
pub const MAX_BODY: usize = 65_536;
/// The longest pull-request title.
pub const MAX_TITLE: usize = 256;
/// The longest status description (GitHub truncates at 140).
pub const MAX_DESCRIPTION: usize = 140;
/// The longest status context, and target URL.
pub const MAX_CONTEXT: usize = 100;
pub const MAX_URL: usize = 2048;
/// The most labels one write adds, or removes; and the longest label
/// (GitHub's limit).
pub const MAX_LABELS: usize = 20;
pub const MAX_LABEL: usize = 50;
/// The status context when the agent names none.
pub const DEFAULT_CONTEXT: &str = "kradle";

/// The state of a commit status, as both forges name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

/// One write an agent asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Write {
    /// A comment on the issue or pull request the run came from.
    Comment { body: String },
    /// A pull request from `branch` (pushed by the agent) into `base`, the
    /// run's ref when not given.
    #[serde(rename_all = "camelCase")]
    PullRequest {
        branch: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<String>,
    },
    /// A commit status on `sha`.
    #[serde(rename_all = "camelCase")]
    Status {
        sha: String,
        state: StatusState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_url: Option<String>,
    },
    /// Labels added to, and removed from, the issue or pull request the
    /// run came from. Labels a repository does not define are GitHub's to
    /// create and Gitea's to ignore, as each does.
    Labels {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        add: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<String>,
    },
}

/// A write as the agent API receives it: the agent's own key for it (a
/// retried call with the same key is the same write), and the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub key: String,
    pub write: Write,
}

/// Why a write is refused before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadWrite {
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("`key` must be 1 to {MAX_KEY} letters, digits, `.`, `_`, `-` or `:`")]
    Key,
    #[error("{0}")]
    Shape(String),
    #[error("`{field}` must not be empty")]
    Empty { field: &'static str },
    #[error("`{field}` is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("`{field}` holds a control character")]
    Control { field: &'static str },
    #[error("`{field}` is not a git branch name: `{}`", .value.escape_debug())]
    Ref { field: &'static str, value: String },
    #[error("`branch` and `base` are the same branch")]
    SameBranch,
    #[error("`sha` must be a full commit id (40 or 64 hexadecimal digits)")]
    Sha,
    #[error("`targetUrl` must be an http or https URL")]
    Url,
    #[error(
        "give labels to `add` or `remove` (at most {MAX_LABELS} each), not the same one to both"
    )]
    Labels,
    /// A secret-looking value is never sent: the reason says what it
    /// looked like, never the value.
    #[error("`{field}` looks like it holds {what}: kradle does not send secrets to a forge")]
    Secret {
        field: &'static str,
        what: &'static str,
    },
}

impl Write {
    /// The operation's name: what `approvalPolicyByTool` and `denyList`
    /// call it.
    pub fn op(&self) -> &'static str {
        match self {
            Write::Comment { .. } => "comment",
            Write::PullRequest { .. } => "pull-request",
            Write::Status { .. } => "status",
            Write::Labels { .. } => "labels",
        }
    }

    /// Checks every field: bounds, shapes, and no secret in any text a
    /// forge would show.
    pub fn check(&self) -> Result<(), BadWrite> {
        match self {
            Write::Comment { body } => text("body", body, MAX_BODY, true),
            Write::PullRequest {
                branch,
                title,
                body,
                base,
            } => {
                branch_name("branch", branch)?;
                if let Some(base) = base {
                    branch_name("base", base)?;
                    if base == branch {
                        return Err(BadWrite::SameBranch);
                    }
                }
                text("title", title, MAX_TITLE, false)?;
                match body {
                    Some(body) if !body.is_empty() => text("body", body, MAX_BODY, true),
                    _ => Ok(()),
                }
            }
            Write::Status {
                sha,
                description,
                context,
                target_url,
                ..
            } => {
                let hex = sha.chars().all(|c| c.is_ascii_hexdigit());
                if !hex || !(sha.len() == 40 || sha.len() == 64) {
                    return Err(BadWrite::Sha);
                }
                if let Some(d) = description {
                    text("description", d, MAX_DESCRIPTION, false)?;
                }
                if let Some(c) = context {
                    text("context", c, MAX_CONTEXT, false)?;
                }
                if let Some(url) = target_url {
                    text("targetUrl", url, MAX_URL, false)?;
                    let scheme = url.starts_with("https://") || url.starts_with("http://");
                    if !scheme || url.chars().any(char::is_whitespace) {
                        return Err(BadWrite::Url);
                    }
                }
                Ok(())
            }
            Write::Labels { add, remove } => {
                let both = add.iter().any(|a| remove.contains(a));
                if (add.is_empty() && remove.is_empty())
                    || add.len() > MAX_LABELS
                    || remove.len() > MAX_LABELS
                    || both
                {
                    return Err(BadWrite::Labels);
                }
                for label in add.iter().chain(remove) {
                    text("labels", label, MAX_LABEL, false)?;
                }
                Ok(())
            }
        }
    }
}

fn text(field: &'static str, value: &str, max: usize, multiline: bool) -> Result<(), BadWrite> {
    if value.trim().is_empty() {
        return Err(BadWrite::Empty { field });
    }
    if value.len() > max {
        return Err(BadWrite::TooLong { field, max });
    }
    let control = value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if control {
        return Err(BadWrite::Control { field });
    }
    match kradle_compiler::check::looks_like_secret(value) {
        Some(what) => Err(BadWrite::Secret { field, what }),
        None => Ok(()),
    }
}

fn branch_name(field: &'static str, value: &str) -> Result<(), BadWrite> {
    let value = value.strip_prefix("refs/heads/").unwrap_or(value);
    if is_plain_ref(value) {
        Ok(())
    } else {
        Err(BadWrite::Ref {
            field,
            value: value.chars().take(100).collect(),
        })
    }
}

/// Parses and checks a write from the agent API's body:
/// `{"key": "...", "op": "comment", "body": "..."}`.
pub fn parse(body: &Value) -> Result<Asked, BadWrite> {
    let mut fields = body.as_object().cloned().ok_or(BadWrite::NotAnObject)?;
    let key = match fields.remove("key") {
        Some(Value::String(k))
            if !k.is_empty()
                && k.len() <= MAX_KEY
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c)) =>
        {
            k
        }
        _ => return Err(BadWrite::Key),
    };
    let write: Write = serde_json::from_value(Value::Object(fields))
        .map_err(|e| BadWrite::Shape(e.to_string()))?;
    write.check()?;
    Ok(Asked { key, write })
}

/// The idempotency key of a run's write in the forge journal: the org, the
/// run and the agent's key, so a retried call (or a retried attempt of the
/// run) finds the write it recorded before.
pub fn idempotency_key(org: &str, run: &str, op: &str, key: &str) -> String {
    let digest = Sha256::digest(serde_json::to_vec(&json!([org, run, key])).unwrap_or_default());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("idem-agent-{op}-{hex}")
}

/// What the stack says of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Send,
    /// A person decides first (the run's `write-back` approval); why.
    Approval(String),
    /// Never sent; why.
    Denied(String),
}

/// Values of `approvalPolicyByTool` that ask for no approval.
const NO_APPROVAL: [&str; 6] = ["never", "none", "auto", "allow", "allowed", "no"];

/// The gate of `op` for a run of a stack with `approval_mode` and the
/// tool profile `tools` (as the run's context bundle froze them): the
/// profile's `denyList` refuses it, `approvalMode: write-back` or the
/// profile's `approvalPolicyByTool` entry for it (other than `never`)
/// holds it for a person.
pub fn gate(op: &str, approval_mode: Option<&str>, tools: &Value) -> Gate {
    let denied = tools["denyList"]
        .as_array()
        .is_some_and(|l| l.iter().any(|d| d.as_str() == Some(op)));
    if denied {
        return Gate::Denied(format!("the stack's tool profile denies `{op}` (denyList)"));
    }
    if approval_mode == Some("write-back") {
        return Gate::Approval(format!(
            "the stack's approvalMode is `write-back`: a person approves each run's `{op}` and every write back"
        ));
    }
    match tools["approvalPolicyByTool"][op].as_str() {
        Some(policy) if !NO_APPROVAL.contains(&policy.to_ascii_lowercase().as_str()) => {
            Gate::Approval(format!(
                "the stack's tool profile says `{op}: {policy}` (approvalPolicyByTool)"
            ))
        }
        _ => Gate::Send,
    }
}

/// Where a run's writes go: the forge, repository and issue or pull
/// request of the event that made the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// `github` or `gitea`.
    pub backend: String,
    /// `owner/name`.
    pub repository: String,
    /// The issue or pull request, when the event had one.
    pub number: Option<u64>,
    /// The base of a pull request when the agent names none: the run's ref,
    /// else the repository's default branch.
    pub base: Option<String>,
}

impl Origin {
    /// The origin of a run made by a delivery of `source` with `payload`,
    /// whose ref is `git_ref`.
    pub fn of(source: &str, payload: &Value, git_ref: Option<&str>) -> Option<Origin> {
        let repository = payload["repository"]["full_name"].as_str()?;
        let (owner, name) = repository.split_once('/')?;
        let part = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && s != "."
                && s != ".."
        };
        if !part(owner) || !part(name) {
            return None;
        }
        let number = [
            &payload["issue"]["number"],
            &payload["pull_request"]["number"],
            &payload["number"],
        ]
        .into_iter()
        .find_map(Value::as_u64);
        let base = git_ref
            .or_else(|| payload["repository"]["default_branch"].as_str())
            .filter(|r| is_plain_ref(r))
            .map(str::to_string);
        Some(Origin {
            backend: source.to_string(),
            repository: repository.to_string(),
            number,
            base,
        })
    }
}

/// A checked write, ready to record: where it goes, its key in the forge
/// journal, its request, what the stack says of it, and what the journal
/// keeps of it (the agent's key, the write, the origin: what the worker
/// sends it from).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub op: &'static str,
    pub origin: Origin,
    pub key: String,
    pub call: Call,
    pub gate: Gate,
    pub payload: Value,
}

impl Asked {
    /// The write run `run` of `org` asked for, going to `origin`, gated by
    /// the run's frozen `approval_mode` and tool profile `tools`.
    pub fn plan(
        &self,
        org: &str,
        run: &str,
        origin: Origin,
        approval_mode: Option<&str>,
        tools: &Value,
    ) -> Result<Planned, NoTarget> {
        let op = self.write.op();
        let key = idempotency_key(org, run, op, &self.key);
        let call = self.write.call(&origin, &key)?;
        let payload = json!({ "key": self.key, "write": self.write, "origin": origin });
        Ok(Planned {
            op,
            gate: gate(op, approval_mode, tools),
            origin,
            key,
            call,
            payload,
        })
    }
}

/// Why a write has nowhere to go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoTarget {
    #[error("the run did not come from an issue or a pull request: there is nothing to comment on")]
    NoIssue,
    #[error("the run has no base branch for a pull request: give `base`")]
    NoBase,
}

/// One forge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Value,
}

/// The line kradle appends to what it writes on the agent's behalf: it
/// names the write, so a rerun finds what an attempt killed mid-request
/// may have sent (a hidden HTML comment on both forges).
pub fn marker(idempotency_key: &str) -> String {
    format!("<!-- kradle-write: {idempotency_key} -->")
}

fn marked(body: &str, key: &str) -> String {
    format!("{}\n\n{}", body.trim_end(), marker(key))
}

impl Write {
    /// The request that makes the write on the forge of `origin`, marked
    /// with `key` (the write's idempotency key).
    pub fn call(&self, origin: &Origin, key: &str) -> Result<Call, NoTarget> {
        let repo = &origin.repository;
        Ok(match self {
            Write::Comment { body } => Call {
                method: "POST",
                path: format!(
                    "/repos/{repo}/issues/{}/comments",
                    origin.number.ok_or(NoTarget::NoIssue)?
                ),
                body: json!({ "body": marked(body, key) }),
            },
            Write::PullRequest {
                branch,
                title,
                body,
                base,
            } => {
                let base = base
                    .clone()
                    .or_else(|| origin.base.clone())
                    .ok_or(NoTarget::NoBase)?;
                Call {
                    method: "POST",
                    path: format!("/repos/{repo}/pulls"),
                    body: json!({
                        "title": title,
                        "head": branch.strip_prefix("refs/heads/").unwrap_or(branch),
                        "base": base.strip_prefix("refs/heads/").unwrap_or(&base),
                        "body": marked(body.as_deref().unwrap_or_default(), key),
                    }),
                }
            }
            Write::Status {
                sha,
                state,
                description,
                context,
                target_url,
            } => {
                let mut body = json!({
                    "state": state,
                    "context": context.as_deref().unwrap_or(DEFAULT_CONTEXT),
                });
                if let Some(d) = description {
                    body["description"] = json!(d);
                }
                if let Some(u) = target_url {
                    body["target_url"] = json!(u);
                }
                Call {
                    method: "POST",
                    path: format!("/repos/{repo}/statuses/{sha}"),
                    body,
                }
            }
            // The labels added; the removals are one DELETE each
            // ([`Write::removals`]).
            Write::Labels { add, .. } => Call {
                method: "POST",
                path: format!(
                    "/repos/{repo}/issues/{}/labels",
                    origin.number.ok_or(NoTarget::NoIssue)?
                ),
                body: json!({ "labels": add }),
            },
        })
    }

    /// The list to look for the write in before sending it again.
    pub fn lookup(&self, origin: &Origin, call: &Call) -> String {
        let repo = &origin.repository;
        match (self, origin.backend.as_str()) {
            (Write::Comment { .. }, _) => call.path.clone(),
            // Gitea's `pulls/{base}/{head}` takes no `/` in a head; the
            // list, newest first, does.
            (Write::PullRequest { .. }, "gitea") => {
                format!("/repos/{repo}/pulls?state=all&sort=recentupdate")
            }
            (Write::PullRequest { .. }, _) => {
                let owner = repo.split('/').next().unwrap_or_default();
                format!(
                    "/repos/{repo}/pulls?state=all&head={owner}:{}",
                    call.body["head"].as_str().unwrap_or_default()
                )
            }
            (Write::Status { sha, .. }, "gitea") => format!("/repos/{repo}/statuses/{sha}"),
            (Write::Status { sha, .. }, _) => format!("/repos/{repo}/commits/{sha}/statuses"),
            (Write::Labels { .. }, _) => call.path.clone(),
        }
    }

    /// The write among what [`Write::lookup`] found, if it is there.
    pub fn found(&self, call: &Call, listing: &Value, key: &str) -> Option<Value> {
        let marker = marker(key);
        listing
            .as_array()?
            .iter()
            .find(|item| match self {
                Write::Comment { .. } => item["body"].as_str().is_some_and(|b| b.contains(&marker)),
                // One pull request per head and base: an open one from the
                // branch is the write, whoever's it is.
                Write::PullRequest { .. } => {
                    item["head"]["ref"] == call.body["head"]
                        && item["base"]["ref"] == call.body["base"]
                        && (item["state"] == "open"
                            || item["body"].as_str().is_some_and(|b| b.contains(&marker)))
                }
                Write::Labels { .. } => false,
                Write::Status { .. } => {
                    item["context"] == call.body["context"]
                        && item["state"] == call.body["state"]
                        && item["description"].as_str().unwrap_or_default()
                            == call.body["description"].as_str().unwrap_or_default()
                }
            })
            .cloned()
    }
}

/// Whether a refusal of a pull request means it exists already: GitHub
/// answers 422 "A pull request already exists for …", Gitea 409 "pull
/// request already exists for these targets".
pub fn already_exists(status: u16, message: &str) -> bool {
    matches!(status, 409 | 422) && message.to_ascii_lowercase().contains("already exists")
}

/// What the journal keeps of the forge's answer: where to see the write.
pub fn summary(created: &Value) -> Value {
    let mut s = serde_json::Map::new();
    for (to, from) in [
        ("url", "html_url"),
        ("number", "number"),
        ("id", "id"),
        ("state", "state"),
    ] {
        if !created[from].is_null() {
            s.insert(to.into(), created[from].clone());
        }
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests;
