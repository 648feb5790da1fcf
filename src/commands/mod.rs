//! The commands, one module each, and what they share: reading the input,
//! rendering diagnostics, writing to stdout.

pub mod apply;
pub mod build;
pub mod completions;
pub mod db;
pub mod explain;
pub mod import;
pub mod intents;
pub mod issues;
pub mod plan;
pub mod runs;
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
        let _ = writeln!(err, "kradle: skipped {}/: {}", s.path, s.reason);
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
