//! Memory snapshots (spec AgentMemoryRepository, AgentMemorySnapshot,
//! §3.1 phase 1 step 3; docs/dispatch.md, "Memory snapshots"): when an
//! org has a memory repository, each run is pinned to the commit its
//! branch points at when the run is admitted (time-travel mode
//! `current`), so the run can be replayed against the same memory.
//!
//! The commit is read with libgit2 (git2), as `git ls-remote` would: one
//! connection, the advertised refs, nothing cloned. libgit2 is built
//! without a TLS library (the binary carries none but rustls): memory is
//! read over `http://` — the forge's in-cluster Service — or `file://`.

use std::time::Duration;

use serde_json::Value;

/// An org's memory repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    pub org: String,
    /// The AgentMemoryRepository's name.
    pub name: String,
    /// The Repository that holds it (`repositoryRef`).
    pub repository: String,
    /// The branch read (`defaultBranch`).
    pub branch: String,
}

impl Memory {
    /// The memory repository of an AgentMemoryRepository object.
    pub fn from_object(o: &Value) -> Option<Memory> {
        let spec = &o["spec"];
        Some(Memory {
            org: o["metadata"]["labels"]["kradle.a5c.ai/org"]
                .as_str()?
                .to_string(),
            name: o["metadata"]["name"].as_str()?.to_string(),
            repository: spec["repositoryRef"].as_str()?.to_string(),
            branch: spec["defaultBranch"].as_str().unwrap_or("main").to_string(),
        })
    }
}

/// How `kradle serve` reaches memory repositories: a URL template
/// (`{org}`, `{repo}`) and the token sent as the HTTP password.
#[derive(Clone, Default)]
pub struct MemoryGit {
    pub url_template: String,
    pub token: Option<crate::secrets::SecretValue>,
}

impl std::fmt::Debug for MemoryGit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryGit")
            .field("url_template", &self.url_template)
            .finish_non_exhaustive()
    }
}

/// The longest a commit lookup may take.
const LOOKUP_DEADLINE: Duration = Duration::from_secs(30);

/// Why the memory commit could not be read. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    #[error("no memory repository to read")]
    NoRepository,
    #[error("cannot read {url}: {reason}")]
    Read { url: String, reason: String },
    #[error(
        "cannot read {0}: this kradle reads memory repositories over http:// (the forge's in-cluster address) or file://, not https://"
    )]
    Https(String),
    #[error("{url} has no branch `{branch}`")]
    NoBranch { url: String, branch: String },
    #[error("the commit lookup failed: {0}")]
    Lookup(String),
    #[error("the memory repository did not answer within {0} s")]
    Timeout(u64),
}

impl MemoryGit {
    /// The git URL of `memory`.
    pub fn url(&self, memory: &Memory) -> String {
        self.url_template
            .replace("{org}", &memory.org)
            .replace("{repo}", &memory.repository)
    }

    /// The commit `memory`'s branch points at now (hex). Errors name the
    /// URL and branch, never the token.
    pub async fn resolve(&self, memory: &Memory) -> Result<String, MemoryError> {
        let url = self.url(memory);
        let branch = memory.branch.clone();
        let token = self.token.clone();
        let lookup = tokio::task::spawn_blocking(move || {
            ls_remote(&url, &branch, token.as_ref().map(|t| t.expose()))
        });
        match tokio::time::timeout(LOOKUP_DEADLINE, lookup).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(MemoryError::Lookup(e.to_string())),
            Err(_) => Err(MemoryError::Timeout(LOOKUP_DEADLINE.as_secs())),
        }
    }
}

/// `git ls-remote <url> refs/heads/<branch>`.
fn ls_remote(url: &str, branch: &str, token: Option<&str>) -> Result<String, MemoryError> {
    let fail = |e: git2::Error| MemoryError::Read {
        url: url.to_string(),
        reason: e.message().to_string(),
    };
    if url.starts_with("https://") && !git2::Version::get().https() {
        return Err(MemoryError::Https(url.to_string()));
    }
    let mut remote = git2::Remote::create_detached(url).map_err(fail)?;
    let mut callbacks = git2::RemoteCallbacks::new();
    let mut asked = false;
    callbacks.credentials(move |_url, _user, allowed| {
        // libgit2 asks again after a refusal: once is enough.
        match token {
            Some(token)
                if !asked && allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) =>
            {
                asked = true;
                git2::Cred::userpass_plaintext("kradle", token)
            }
            _ => Err(git2::Error::from_str(
                "the memory repository wants credentials kradle does not have (--memory-git-token-env)",
            )),
        }
    });
    let connection = remote
        .connect_auth(git2::Direction::Fetch, Some(callbacks), None)
        .map_err(fail)?;
    let wanted = format!("refs/heads/{branch}");
    let heads = connection.list().map_err(fail)?;
    heads
        .iter()
        .find(|h| h.name() == wanted)
        .map(|h| h.oid().to_string())
        .ok_or_else(|| MemoryError::NoBranch {
            url: url.to_string(),
            branch: branch.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_comes_from_the_template() {
        let m = Memory {
            org: "acme".into(),
            name: "brain".into(),
            repository: "agent-memory".into(),
            branch: "main".into(),
        };
        let git = MemoryGit {
            url_template: "https://gitea.example/{org}/{repo}.git".into(),
            token: Some(crate::secrets::SecretValue::new("hunter2-token")),
        };
        assert_eq!(git.url(&m), "https://gitea.example/acme/agent-memory.git");
        assert!(!format!("{git:?}").contains("hunter2"));
    }
}
