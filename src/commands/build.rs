//! `kradle build`: compile the repository into manifests and forge plans.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use kradle_compiler::layout;
use kradle_compiler::lower::BuildOptions;

use super::{load, out, render_diagnostics, use_color};
use crate::Failure;
use crate::args::{Format, Gitops, Input, Revision};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    revision: Revision,
    #[command(flatten)]
    gitops: Gitops,
    /// Write the output tree here, replacing its previous content atomically.
    /// Refused when DIR holds the config, is a git work tree's root, or is a
    /// non-empty folder kradle did not write.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "stdout",
        conflicts_with = "stdout"
    )]
    out: Option<PathBuf>,
    /// Print one YAML stream of every Kubernetes object (for an Argo CD config management plugin).
    #[arg(long)]
    stdout: bool,
    /// Replace --out DIR even when it is not empty and was not written by kradle.
    #[arg(long, requires = "out")]
    force: bool,
    /// Revision Argo CD tracks (overrides gitops.targetRevision; default HEAD).
    #[arg(long, value_name = "REV")]
    target_revision: Option<String>,
    /// Folder of the output inside that repository (overrides gitops.path; default `rendered`).
    #[arg(long = "gitops-path", value_name = "PATH")]
    gitops_path: Option<String>,
    /// Format of diagnostics, printed to stderr when the input has errors.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: Args) -> Result<u8, Failure> {
    if let Some(dir) = &args.out {
        // Refuse a dangerous --out before spending time on the build.
        kradle_compiler::write::check_target(dir, &args.input.path, args.force)?;
    }
    let (sources, now) = load(
        &args.input,
        args.revision.rev.as_deref(),
        args.gitops_path.clone(),
    )?;
    let options = BuildOptions {
        now,
        repo_url: args.gitops.repo_url.clone(),
        target_revision: args.target_revision.clone(),
        path: args.gitops_path.clone(),
        origin_repo_url: super::origin_url(&args.input.path),
    };
    let b = kradle_compiler::build(sources, &options);
    let color = use_color(args.input.color) && std::io::stderr().is_terminal();
    if b.has_errors() {
        let text = render_diagnostics(&b.validation, args.format, color, &args.input.path);
        let _ = std::io::stderr().write_all(text.as_bytes());
        return Ok(1);
    }
    // Warnings still reach the user, on stderr.
    if !b.validation.diagnostics.is_empty() {
        let text = render_diagnostics(&b.validation, args.format, color, &args.input.path);
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
    if args.stdout {
        let stream = layout::stream(&b.output);
        if stream.is_empty() {
            return Err(Failure::EmptyStream);
        }
        out(&stream)?;
        return Ok(0);
    }
    let Some(dir) = &args.out else {
        return Err(Failure::NoOutput);
    };
    let stats = kradle_compiler::write::write_output(dir, &b.files, &args.input.path, args.force)?;
    report_notes(&b.output.notes);
    let what = format!(
        "{} objects, {} forge plans",
        b.output.objects.len(),
        b.output.plans.len()
    );
    let _ = if stats.replaced {
        writeln!(
            std::io::stderr(),
            "wrote {} files ({what}) to {}",
            b.files.len(),
            dir.display()
        )
    } else {
        writeln!(
            std::io::stderr(),
            "wrote {} files, removed {}, {} unchanged ({what}) in {}",
            stats.written,
            stats.removed,
            stats.unchanged,
            dir.display()
        )
    };
    Ok(0)
}

/// What `report.json` notes that a user would otherwise not see: what was
/// declared and not planned, and what was left out of the output, on stderr.
fn report_notes(notes: &kradle_compiler::lower::report::Notes) {
    let mut err = std::io::stderr().lock();
    if let Some(why) = &notes.gitops_skipped {
        let _ = writeln!(err, "note: no argocd/ folder: {why}");
    }
    for s in &notes.skipped_operations {
        let _ = writeln!(
            err,
            "warning: not planned: {} {}: {}",
            s.organization, s.id, s.reason
        );
    }
    for s in &notes.skipped_exceptions {
        let _ = writeln!(
            err,
            "note: policy exception {}/{} (binding {}) not applied: {}",
            s.organization, s.name, s.binding, s.reason
        );
    }
}
