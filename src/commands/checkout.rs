//! `kradle agent checkout`: the run's repository at its ref in the
//! workspace, before the agent starts (docs/dispatch.md, "The pod"), with
//! the real `git` of the agent's image.
//!
//! A workspace is reused by the runs of one repository and branch, and
//! the agent before may have left anything in it: changes, files, and in
//! `.git` hooks or a config that runs commands (`core.fsmonitor`,
//! `core.sshCommand`). So a reused workspace loses its `.git/config` and
//! `.git/hooks` first, git runs with hooks off, and the worktree is reset
//! and cleaned: the checkout is the ref's tree and nothing else.

use std::path::Path;
use std::process::Command;

use super::say;
use crate::Failure;

/// The URL schemes a checkout takes (`ext::` and the like run commands).
const SCHEMES: [&str; 4] = ["https://", "http://", "ssh://", "file://"];

/// Runs `git` in `dir` with hooks off and no prompt; its stdout, or what
/// it said on failure.
fn git(dir: &Path, args: &[&str]) -> Result<String, GitFailed> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "protocol.ext.allow=never",
            "-c",
            "core.fsmonitor=false",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(GitFailed::Run)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(GitFailed::Step {
            step: args.first().copied().unwrap_or_default().to_string(),
            said: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Why a git step of the checkout failed.
#[derive(Debug, thiserror::Error)]
enum GitFailed {
    #[error("cannot run git: {0}")]
    Run(std::io::Error),
    #[error("git {step} failed: {said}")]
    Step { step: String, said: String },
}

/// Checks out `git_ref` of `url` into `workspace`.
pub fn checkout(url: &str, git_ref: &str, workspace: &Path) -> Result<u8, Failure> {
    if !kradle_runtime::dispatch::is_plain_ref(git_ref) {
        say(&format!(
            "kradle agent checkout: error: `{}` is not a branch name",
            git_ref.escape_debug()
        ));
        return Ok(2);
    }
    let scheme_ok = SCHEMES.iter().any(|s| url.starts_with(s));
    if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        say("kradle agent checkout: error: the URL must be an http(s), ssh or file URL");
        return Ok(2);
    }
    std::fs::create_dir_all(workspace)?;
    let dot_git = workspace.join(".git");
    if dot_git.is_dir() {
        // What the agent before may have planted.
        for (path, dir) in [
            (dot_git.join("hooks"), true),
            (dot_git.join("config"), false),
        ] {
            let removed = if dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = removed
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(e.into());
            }
        }
    }
    let remote_ref = format!("refs/remotes/origin/{git_ref}");
    // `+`: a branch force-pushed since the last run is taken as it is.
    let refspec = format!("+refs/heads/{git_ref}:{remote_ref}");
    let steps: [Vec<&str>; 5] = [
        vec!["init", "-q"],
        vec!["remote", "add", "origin", url],
        vec!["fetch", "-q", "--no-tags", "origin", &refspec],
        vec!["checkout", "-q", "--force", "-B", git_ref, &remote_ref],
        // Untracked and ignored files too; a volume's lost+found stays.
        vec!["clean", "-q", "-ffdx", "-e", "lost+found"],
    ];
    for step in &steps {
        if let Err(why) = git(workspace, step) {
            say(&format!("kradle agent checkout: error: {why}"));
            return Ok(1);
        }
    }
    match git(workspace, &["rev-parse", "HEAD"]) {
        Ok(head) => {
            say(&format!(
                "kradle agent checkout: {git_ref} at {head} in {}",
                workspace.display()
            ));
            Ok(0)
        }
        Err(why) => {
            say(&format!("kradle agent checkout: error: {why}"));
            Ok(1)
        }
    }
}
