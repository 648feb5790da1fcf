//! `kradle plan`: compile a base revision and the head, and diff the outputs.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use kradle_compiler::Sources;
use kradle_compiler::lower::BuildOptions;
use kradle_compiler::source::SourceError;

use super::{load, out, render_diagnostics, report_skipped, use_color};
use crate::Failure;
use crate::args::{Format, Gitops, Input, parse_percent};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    /// Terraform-like text (default on a terminal).
    Human,
    /// A pull-request comment, at most 65,536 characters (default when not on a terminal).
    Markdown,
    /// The documented JSON shape (docs/plan-format.md).
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    gitops: Gitops,
    /// The revision the change is compared with, e.g. origin/main.
    #[arg(long, value_name = "REV")]
    base: String,
    /// The revision with the change (default: the working tree).
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// Output format (default: human on a terminal, markdown otherwise).
    #[arg(long, value_enum)]
    format: Option<PlanFormat>,
    /// Flag an organization losing more than this percentage of its permissions (0-100).
    #[arg(long, value_name = "PERCENT", default_value_t = 25.0, value_parser = parse_percent, allow_negative_numbers = true)]
    max_removal: f64,
    /// Exit 0 without changes, 2 with changes, 1 on errors (as terraform).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Also save what is planned to FILE, for `kradle apply FILE` to apply exactly that
    /// (refused there when stale or changed).
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
    /// Exit 3 (after printing the plan) when an organization loses more than --max-removal
    /// of its permissions: a gate for CI, as the GitHub Action uses it.
    #[arg(long)]
    fail_on_danger: bool,
}

pub fn run(args: Args) -> Result<u8, Failure> {
    let detailed = args.detailed_exitcode;
    match plan_inner(args) {
        // With --detailed-exitcode, 2 means "changes": a failure must not look like one.
        Err(failure) if detailed => {
            let _ = writeln!(std::io::stderr(), "kradle: error: {failure}");
            Ok(1)
        }
        other => other,
    }
}

fn plan_inner(args: Args) -> Result<u8, Failure> {
    let input = &args.input;
    let read = input.read.options(None);
    // A folder that does not exist at a revision (new in this change, or
    // deleted by it) is an empty repository there.
    let at_rev = |rev: &str| match Sources::from_git_with(&input.path, rev, &read) {
        Ok((s, t)) => {
            report_skipped(&s, input.read.verbose);
            Ok((s, DateTime::from_timestamp(t, 0)))
        }
        Err(SourceError::NoSuchPathAtRevision { .. }) => Ok((Sources::default(), None)),
        Err(e) => Err(Failure::from(e)),
    };
    let (head_sources, now) = match &args.head {
        Some(rev) => {
            let (s, t) = at_rev(rev)?;
            (s, input.now.or(t).unwrap_or_else(Utc::now))
        }
        None => load(input, None, None)?,
    };
    let (base_sources, _) = at_rev(&args.base)?;
    let options = BuildOptions {
        now,
        repo_url: args.gitops.repo_url.clone(),
        target_revision: None,
        path: None,
        origin_repo_url: super::origin_url(&args.input.path),
    };
    let head = kradle_compiler::build(head_sources, &options);
    let color = use_color(input.color);
    if head.has_errors() {
        let text = render_diagnostics(
            &head.validation,
            Format::Human,
            color && std::io::stderr().is_terminal(),
            &input.path,
        );
        let _ = std::io::stderr().write_all(text.as_bytes());
        let _ = writeln!(
            std::io::stderr(),
            "kradle plan: the head does not compile; fix the errors above"
        );
        return Ok(1);
    }
    let base = kradle_compiler::build(base_sources, &options);
    let side = |source: String, b: &kradle_compiler::Build| kradle_compiler::plan::Side {
        source,
        compiled: !b.has_errors(),
        errors: b.validation.summary().errors,
    };
    let base_side = side(args.base.clone(), &base);
    let head_side = side(
        args.head.clone().unwrap_or_else(|| "working tree".into()),
        &head,
    );
    let base_output = (!base.has_errors()).then_some(&base.output);
    let diff = kradle_compiler::plan::diff(
        base_output,
        &head.output,
        base_side,
        head_side,
        args.max_removal,
    );
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        PlanFormat::Human
    } else {
        PlanFormat::Markdown
    });
    let text = match format {
        PlanFormat::Human => kradle_compiler::plan::human(&diff, color),
        PlanFormat::Markdown => kradle_compiler::plan::markdown(&diff),
        PlanFormat::Json => serde_json::to_string_pretty(&diff).unwrap_or_default() + "\n",
    };
    out(&text)?;
    if let Some(file) = &args.out {
        let project = &head.validation.model.project;
        let forges = project.forges.as_ref();
        let saved = super::saved::SavedPlan::new(
            &diff.base.source,
            &diff.head.source,
            base_output.map(|o| o.plans.as_slice()),
            &head.output.plans,
            forges.and_then(|f| f.approve_removals).unwrap_or(false),
            forges
                .and_then(|f| f.gitea.as_ref())
                .and_then(|g| g.url.clone()),
        );
        saved.write(file)?;
        let _ = writeln!(
            std::io::stderr(),
            "saved the plan to {}: `kradle apply {}` applies exactly it",
            file.display(),
            file.display()
        );
    }
    Ok(if args.fail_on_danger && diff.summary.dangerous {
        let _ = writeln!(
            std::io::stderr(),
            "kradle: error: the plan removes more than {}% of an organization's permissions (DANGER above); exit 3 under --fail-on-danger",
            args.max_removal
        );
        3
    } else if args.detailed_exitcode && diff.has_changes() {
        2
    } else {
        0
    })
}
