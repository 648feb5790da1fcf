//! `kradle agent`: what an agent's pod runs to deliver its work back
//! through the agent API of `kradle serve` (docs/dispatch.md, "The agent's
//! side"), with the run's `KRADLE_CALLBACK_URL` and `KRADLE_CALLBACK_TOKEN`.
//!
//! Exit codes: 0 sent (or recorded, with `--no-wait`), 1 the write failed
//! or kradle refused it, 2 kradle agent could not run (no token, no
//! server), 3 rejected (by the stack's tool profile or by a person), 4
//! waiting for a person's approval: kradle sends it once approved.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::say;
use crate::Failure;

#[derive(ClapArgs)]
pub struct Args {
    /// The run's callback URL (`…/agents/runs/<run>/callback`), which the
    /// agent API sits beside.
    #[arg(long, env = "KRADLE_CALLBACK_URL", value_name = "URL", global = true)]
    callback_url: Option<String>,
    /// How long to wait for a write to be sent.
    #[arg(long, default_value = "120", value_name = "SECONDS", global = true)]
    timeout: u64,
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Comment on the issue or pull request the run came from.
    Comment {
        /// The comment (Markdown); `-` reads stdin.
        #[arg(long, value_name = "FILE")]
        body_file: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Open a pull request from a branch the agent pushed.
    PullRequest {
        #[arg(long, value_name = "BRANCH")]
        branch: String,
        #[arg(long)]
        title: String,
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// The branch to merge into (default: the run's ref).
        #[arg(long, value_name = "BRANCH")]
        base: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Set a commit status on the run's head commit.
    Status {
        #[arg(long, value_enum)]
        state: StatusState,
        #[arg(long)]
        description: Option<String>,
        /// The status's name on the forge (default: `kradle`).
        #[arg(long)]
        context: Option<String>,
        #[arg(long, value_name = "URL")]
        target_url: Option<String>,
        /// The commit (default: `HEAD` of the workspace's checkout).
        #[arg(long)]
        sha: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Add labels to, or remove them from, the issue or pull request the
    /// run came from.
    Labels {
        /// A label to add (repeatable).
        #[arg(long = "add", value_name = "LABEL", required_unless_present = "remove")]
        add: Vec<String>,
        /// A label to remove (repeatable).
        #[arg(long = "remove", value_name = "LABEL")]
        remove: Vec<String>,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Copy this kradle binary into DIR (the pod's init container does,
    /// so any agent image can run `kradle agent`).
    Install {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Check out the run's repository at its ref into the workspace: a
    /// clone, or in a reused workspace a fetch, a hard reset and a clean
    /// (the pod's checkout init container runs it, in the agent's image).
    Checkout {
        #[arg(long, env = "KRADLE_CHECKOUT_URL", value_name = "URL")]
        url: String,
        #[arg(long = "ref", env = "KRADLE_REF", value_name = "BRANCH")]
        git_ref: String,
        #[arg(long, env = "KRADLE_WORKSPACE_PATH", value_name = "DIR")]
        workspace: PathBuf,
    },
    /// Report the run's result: the callback.
    Done {
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        succeeded: bool,
        #[arg(long)]
        failed: bool,
        /// A summary for people (shown with the run).
        #[arg(long, value_name = "FILE")]
        summary_file: Option<PathBuf>,
    },
}

#[derive(ClapArgs)]
struct WriteArgs {
    /// The write's key: a call retried with the same key is the same write
    /// (default: a digest of the write, so the same call twice is one).
    #[arg(long)]
    key: Option<String>,
    /// Return once the write is recorded, without waiting for it.
    #[arg(long)]
    no_wait: bool,
    /// Wait for a person's approval too (up to --timeout).
    #[arg(long)]
    wait_approval: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// Exit codes beyond 0, 1 and 2.
const REJECTED: u8 = 3;
const AWAITING_APPROVAL: u8 = 4;

/// A file's text, `-` for stdin.
fn read_text(path: &PathBuf) -> std::io::Result<String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
}

/// The head commit of the workspace's checkout, by git itself.
fn head_commit() -> Result<String, NoHead> {
    let dir = std::env::var("KRADLE_WORKSPACE_PATH").unwrap_or_else(|_| ".".into());
    let out = std::process::Command::new("git")
        .args(["-C", &dir, "rev-parse", "HEAD"])
        .output()
        .map_err(NoHead::Git)?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NoHead::NoCommit { dir, said });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Why the workspace has no head commit to set a status on.
#[derive(Debug, thiserror::Error)]
enum NoHead {
    #[error("cannot run git: {0}")]
    Git(std::io::Error),
    #[error("no commit checked out in {dir}: give --sha ({said})")]
    NoCommit { dir: String, said: String },
}

/// kradle did not answer: why, with every cause (refused, TLS, a name, a
/// timeout).
#[derive(Debug, thiserror::Error)]
#[error("cannot reach kradle: {0}")]
struct Unreachable(String);

impl From<reqwest::Error> for Unreachable {
    fn from(e: reqwest::Error) -> Unreachable {
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why = format!("{why}: {s}");
            source = s.source();
        }
        Unreachable(why)
    }
}

/// The key of a write the agent did not key: its digest.
fn default_key(write: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_vec(write).unwrap_or_default());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("auto-{hex}")
}

pub fn run(args: Args) -> Result<u8, Failure> {
    match &args.command {
        AgentCommand::Install { dir } => return install(dir),
        AgentCommand::Checkout {
            url,
            git_ref,
            workspace,
        } => return super::checkout::checkout(url, git_ref, workspace),
        _ => {}
    }
    let Some(callback) = args.callback_url.clone() else {
        say(
            "kradle agent: error: KRADLE_CALLBACK_URL is not set: kradle agent runs in an agent's pod",
        );
        return Ok(2);
    };
    let Some(token) = std::env::var("KRADLE_CALLBACK_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    else {
        say("kradle agent: error: KRADLE_CALLBACK_TOKEN is not set");
        return Ok(2);
    };
    let Some(base) = callback.strip_suffix("/callback").map(str::to_string) else {
        say("kradle agent: error: KRADLE_CALLBACK_URL does not end in /callback");
        return Ok(2);
    };
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?,
        base,
        callback,
        token,
        timeout: Duration::from_secs(args.timeout),
    };
    let (write, flags) = match args.command {
        AgentCommand::Done {
            succeeded,
            summary_file,
            ..
        } => {
            let message = match summary_file.as_ref().map(read_text).transpose() {
                Ok(m) => m,
                Err(e) => {
                    say(&format!(
                        "kradle agent: error: cannot read the summary: {e}"
                    ));
                    return Ok(2);
                }
            };
            let phase = if succeeded { "Succeeded" } else { "Failed" };
            return crate::block_on(api.done(phase, message));
        }
        AgentCommand::Install { .. } | AgentCommand::Checkout { .. } => return Ok(0),
        AgentCommand::Labels { add, remove, write } => (
            json!({ "op": "labels", "add": add, "remove": remove }),
            write,
        ),
        AgentCommand::Comment { body_file, write } => match read_text(&body_file) {
            Ok(body) => (json!({ "op": "comment", "body": body }), write),
            Err(e) => {
                say(&format!(
                    "kradle agent: error: cannot read {}: {e}",
                    body_file.display()
                ));
                return Ok(2);
            }
        },
        AgentCommand::PullRequest {
            branch,
            title,
            body_file,
            base,
            write,
        } => {
            let body = match body_file.as_ref().map(read_text).transpose() {
                Ok(b) => b,
                Err(e) => {
                    say(&format!("kradle agent: error: cannot read the body: {e}"));
                    return Ok(2);
                }
            };
            let mut w = json!({ "op": "pull-request", "branch": branch, "title": title });
            if let Some(body) = body {
                w["body"] = json!(body);
            }
            if let Some(base) = base {
                w["base"] = json!(base);
            }
            (w, write)
        }
        AgentCommand::Status {
            state,
            description,
            context,
            target_url,
            sha,
            write,
        } => {
            let sha = match sha.map_or_else(head_commit, Ok) {
                Ok(s) => s,
                Err(why) => {
                    say(&format!("kradle agent: error: {why}"));
                    return Ok(2);
                }
            };
            let mut w = json!({ "op": "status", "sha": sha, "state": state.as_str() });
            for (k, v) in [
                ("description", description),
                ("context", context),
                ("targetUrl", target_url),
            ] {
                if let Some(v) = v {
                    w[k] = json!(v);
                }
            }
            (w, write)
        }
    };
    crate::block_on(api.write(write, flags))
}

/// Copies the running binary to `dir/kradle`, executable.
fn install(dir: &std::path::Path) -> Result<u8, Failure> {
    let me = std::env::current_exe()?;
    std::fs::create_dir_all(dir)?;
    let to = dir.join("kradle");
    // Written aside, then renamed: a half-copied binary is never run.
    let part = dir.join(".kradle.part");
    std::fs::copy(&me, &part)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&part, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&part, &to)?;
    say(&format!("kradle agent: installed {}", to.display()));
    Ok(0)
}

struct Api {
    client: reqwest::Client,
    /// `…/agents/runs/<run>`.
    base: String,
    callback: String,
    token: String,
    timeout: Duration,
}

/// What the API answered: its status and JSON body.
type Answer = (u16, Value);

impl Api {
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Answer, Unreachable> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn done(&self, phase: &str, message: Option<String>) -> Result<u8, Failure> {
        let mut body = json!({ "phase": phase });
        if let Some(m) = message {
            body["message"] = json!(m);
        }
        match self
            .call(self.client.post(&self.callback).json(&body))
            .await
        {
            Ok((200, v)) => {
                say(&format!(
                    "kradle agent: the run is {}",
                    v["phase"].as_str().unwrap_or(phase)
                ));
                Ok(0)
            }
            Ok((status, v)) => {
                say(&format!(
                    "kradle agent: error: kradle refused the result (HTTP {status}): {}",
                    v["message"].as_str().unwrap_or_default()
                ));
                Ok(1)
            }
            Err(why) => {
                say(&format!("kradle agent: error: {why}"));
                Ok(2)
            }
        }
    }

    async fn write(&self, mut write: Value, flags: WriteArgs) -> Result<u8, Failure> {
        let key = flags.key.clone().unwrap_or_else(|| default_key(&write));
        write["key"] = json!(key);
        let url = format!("{}/writes", self.base);
        let started = Instant::now();
        // Retried while kradle is away (a restart): the key makes a
        // retried call the same write.
        let mut answer = loop {
            match self.call(self.client.post(&url).json(&write)).await {
                Ok((502..=504, _)) | Err(_) if started.elapsed() < self.timeout => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Ok(a) => break a,
                Err(why) => {
                    say(&format!("kradle agent: error: {why}"));
                    return Ok(2);
                }
            }
        };
        let status_url = format!("{url}/{key}");
        loop {
            let (status, v) = &answer;
            if !matches!(status, 200 | 202) {
                say(&format!(
                    "kradle agent: error: kradle refused the write (HTTP {status}): {}",
                    v["message"].as_str().unwrap_or_default()
                ));
                return Ok(if *status == 401 { 2 } else { 1 });
            }
            let phase = v["phase"].as_str().unwrap_or_default();
            match phase {
                "Succeeded" => {
                    let url = v["result"]["url"].as_str().unwrap_or_default();
                    say(&format!(
                        "kradle agent: {} sent {url}",
                        v["op"].as_str().unwrap_or("write")
                    ));
                    if !url.is_empty() {
                        println!("{url}");
                    }
                    return Ok(0);
                }
                "Rejected" => {
                    say(&format!(
                        "kradle agent: rejected: {}",
                        v["message"].as_str().unwrap_or("a person denied it")
                    ));
                    return Ok(REJECTED);
                }
                "Failed" => {
                    say(&format!(
                        "kradle agent: the write failed: {}",
                        v["message"].as_str().unwrap_or_default()
                    ));
                    return Ok(1);
                }
                "PendingApproval" if !flags.wait_approval => {
                    say(&format!(
                        "kradle agent: waiting for approval {}: it is sent once a person approves it (kradle approvals approve {})",
                        v["approval"].as_str().unwrap_or_default(),
                        v["approval"].as_str().unwrap_or_default()
                    ));
                    return Ok(AWAITING_APPROVAL);
                }
                _ if flags.no_wait => {
                    say(&format!("kradle agent: recorded ({phase})"));
                    return Ok(0);
                }
                _ => {}
            }
            if started.elapsed() >= self.timeout {
                say(&format!(
                    "kradle agent: still {phase} after {} s: kradle sends it on its own",
                    self.timeout.as_secs()
                ));
                return Ok(if phase == "PendingApproval" {
                    AWAITING_APPROVAL
                } else {
                    1
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            answer = match self.call(self.client.get(&status_url)).await {
                Ok(a) => a,
                Err(why) => {
                    say(&format!("kradle agent: error: {why}"));
                    return Ok(2);
                }
            };
        }
    }
}
