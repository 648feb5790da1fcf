//! The commands, one module each, and what they share: reading the input,
//! rendering diagnostics, writing to stdout.

pub mod agent;
pub mod apply;
pub mod build;
pub mod checkout;
pub mod completions;
pub mod db;
pub mod explain;
pub mod hosts;
pub mod import;
pub mod init;
pub mod intents;
pub mod issues;
pub mod plan;
pub mod runs;
pub mod saved;
pub mod schema;
pub mod serve;
pub mod validate;

use std::io::{IsTerminal, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use kradle_compiler::{Sources, Validation, render};

use crate::Failure;
use crate::args::{ColorChoice, Format, Input};

/// Says a line to the user, on stderr (what went right or wrong, not output).
pub fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Writes to stdout; a closed pipe (`kradle validate | head`) is not an error.
pub fn out(text: &str) -> Result<(), Failure> {
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Failure::from),
    }
}

pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// The folder's path inside its git repository, for SARIF URIs.
fn repo_prefix(path: &Path) -> String {
    let Ok(abs) = path.canonicalize() else {
        return String::new();
    };
    let mut dir: Option<&Path> = Some(&abs);
    while let Some(d) = dir {
        if d.join(".git").exists() {
            return abs
                .strip_prefix(d)
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
        }
        dir = d.parent();
    }
    String::new()
}

/// The URL of the `origin` remote of the git repository holding `path`,
/// without credentials (`https://user:token@host/x` gives
/// `https://host/x`): where Argo CD syncs from when nothing says.
pub fn origin_url(path: &Path) -> Option<String> {
    let repo = git2::Repository::discover(path).ok()?;
    let remote = repo.find_remote("origin").ok()?;
    let url = remote.url()?.trim();
    // A path or `file://` is this machine's, not a place Argo CD can reach.
    let reachable = url.contains("://") && !url.starts_with("file://")
        || url
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@'));
    reachable.then(|| without_credentials(url))
}

/// `http(s)://user:pass@host/...` without `user:pass@` (an SSH user is
/// not a credential, and stays).
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    if !matches!(scheme, "http" | "https") {
        return url.to_string();
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if path.is_empty() && !rest.contains('/') {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    }
}

/// Reads PATH or a revision of it; "now" defaults to the commit time of the revision.
pub fn load(
    input: &Input,
    rev: Option<&str>,
    output_path: Option<String>,
) -> Result<(Sources, DateTime<Utc>), Failure> {
    let path = input.path.as_path();
    let read = &input.read.options(output_path);
    let verbose = input.read.verbose;
    let (sources, commit_time) = match rev {
        Some(rev) => {
            let (s, t) = Sources::from_git_with(path, rev, read)?;
            (s, DateTime::from_timestamp(t, 0))
        }
        None => (Sources::from_dir_with(path, read)?, None),
    };
    report_skipped(&sources, verbose);
    if sources.files.is_empty() {
        // Most likely a wrong path in a CI job: do not report "ok" for nothing.
        return Err(Failure::NoInput(path.to_path_buf()));
    }
    Ok((sources, input.now.or(commit_time).unwrap_or_else(Utc::now)))
}

/// With --verbose, says on stderr which folders were not read and why.
pub fn report_skipped(sources: &Sources, verbose: bool) {
    if !verbose {
        return;
    }
    let mut err = std::io::stderr();
    for s in &sources.skipped {
        let slash = if s.folder { "/" } else { "" };
        let _ = writeln!(err, "kradle: skipped {}{slash}: {}", s.path, s.reason);
    }
}

/// Diagnostics in the chosen format.
pub fn render_diagnostics(v: &Validation, format: Format, color: bool, path: &Path) -> String {
    let summary = v.summary();
    match format {
        Format::Human => {
            let renderer = render::HumanRenderer::new(&v.sources, color, 100);
            let mut text = String::new();
            for d in &v.diagnostics {
                text.push_str(&renderer.render(d));
                text.push('\n');
            }
            text.push_str(&render::human_summary(&summary));
            text
        }
        Format::Json => {
            let json = render::json(&v.sources, &v.diagnostics, &summary);
            serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
        }
        Format::Sarif => {
            let sarif = render::sarif(
                &v.sources,
                &v.diagnostics,
                &repo_prefix(path),
                env!("CARGO_PKG_VERSION"),
            );
            serde_json::to_string_pretty(&sarif).unwrap_or_default() + "\n"
        }
    }
}

#[cfg(test)]
mod origin_tests {
    use super::without_credentials;

    #[test]
    fn a_remote_url_loses_its_credentials() {
        for (given, kept) in [
            (
                "https://kradle:ghp_secret@github.com/acme/platform.git",
                "https://github.com/acme/platform.git",
            ),
            (
                "https://token@gitea.example/acme/config",
                "https://gitea.example/acme/config",
            ),
            (
                "https://gitea.example/acme/config.git",
                "https://gitea.example/acme/config.git",
            ),
            (
                "ssh://git@github.com/acme/platform.git",
                "ssh://git@github.com/acme/platform.git",
            ),
            (
                "git@github.com:acme/platform.git",
                "git@github.com:acme/platform.git",
            ),
        ] {
            assert_eq!(without_credentials(given), kept);
        }
    }
}
