//! The `kradle` binary: parse arguments, run, map the outcome to an exit code
//! (0 ok, 1 the input has errors, 2 kradle itself could not run).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use kradle_compiler::lower::BuildOptions;
use kradle_compiler::source::{ReadLimits, ReadOptions, SourceError};
use kradle_compiler::write::WriteError;
use kradle_compiler::{Options, Sources, Validation, layout, render, schemas};

#[derive(Parser)]
#[command(
    name = "kradle",
    version,
    about = "GitOps-first compiler for a Kubernetes-native developer platform",
    long_about = "kradle checks a config repository of kradle.a5c.ai/v1alpha1 documents \
                  (organizations, users, teams, repositories, policies, agent stacks, ...) \
                  with precise diagnostics, compiles it into Kubernetes manifests and \
                  Gitea/GitHub plans, and shows what a change does.\n\n\
                  Exit codes: 0 ok, 1 the input has errors, 2 kradle could not run.\n\
                  Docs: docs/README.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a config repository and report every problem with file:line:column.
    #[command(visible_alias = "lint")]
    Validate(ValidateArgs),
    /// Compile the repository into manifests and forge plans (nothing is written on errors).
    Build(BuildArgs),
    /// Show what a change does: compile a base revision and the head, and diff the outputs.
    Plan(PlanArgs),
    /// Write the JSON Schema of every kind and the CRD of every config kind.
    Schema(SchemaArgs),
}

/// How the config files are read: limits, and what to say about it.
#[derive(clap::Args, Clone)]
struct ReadArgs {
    /// Largest config file read (e.g. 16MiB, 512KiB, 1000000).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16MiB")]
    max_file_size: u64,
    /// Largest sum of all config files read.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    max_input_size: u64,
    /// Also say which folders were skipped (kradle output, links leaving the folder).
    #[arg(long, short)]
    verbose: bool,
}

impl ReadArgs {
    fn options(&self, output_path: Option<String>) -> ReadOptions {
        ReadOptions {
            limits: ReadLimits {
                max_file_size: self.max_file_size,
                max_input_size: self.max_input_size,
            },
            output_path,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum PlanFormat {
    /// Terraform-like text (default on a terminal).
    Human,
    /// A pull-request comment, at most 65,536 characters (default when not on a terminal).
    Markdown,
    /// The documented JSON shape (docs/plan-format.md).
    Json,
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Folder of the config repository.
    #[arg(default_value = ".")]
    path: PathBuf,
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
    /// "Now" for expiry decisions on both sides (RFC 3339). Default: the commit time of --head, else the current time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
    /// Repository URL Argo CD syncs the output from (overrides kradle.yaml gitops.repoURL).
    #[arg(long, value_name = "URL")]
    repo_url: Option<String>,
    /// When to use colours (NO_COLOR is respected).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Diagnostics for people, with source snippets.
    Human,
    /// One JSON object: {"diagnostics": [...], "summary": {...}}.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// Folder of the config repository.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Read the files from this git revision of the repository holding PATH (no checkout).
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// "Now" for expiry checks (RFC 3339). Default: the commit time of --rev, else the current time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
    /// When to use colours in human output (NO_COLOR is respected).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// Folder of the config repository.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Read the files from this git revision of the repository holding PATH (no checkout).
    #[arg(long, value_name = "REV")]
    rev: Option<String>,
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
    /// "Now" for expiry decisions (RFC 3339). Default: the commit time of --rev, else the current time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
    /// Repository URL Argo CD syncs the output from (overrides kradle.yaml gitops.repoURL).
    #[arg(long, value_name = "URL")]
    repo_url: Option<String>,
    /// Revision Argo CD tracks (overrides gitops.targetRevision; default HEAD).
    #[arg(long, value_name = "REV")]
    target_revision: Option<String>,
    /// Folder of the output inside that repository (overrides gitops.path; default `rendered`).
    #[arg(long = "gitops-path", value_name = "PATH")]
    gitops_path: Option<String>,
    /// Format of diagnostics, printed to stderr when the input has errors.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// When to use colours in diagnostics (NO_COLOR is respected).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(clap::Args)]
struct SchemaArgs {
    /// Folder to write `json/<Kind>.json` and `crds/<plural>.kradle.a5c.ai.yaml` into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: `{s}`; e.g. 16MiB, 512KiB or 1000000"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown unit in `{s}`; use KiB, MiB or GiB")),
    };
    n.checked_mul(factor)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{s}` is not a usable size"))
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number: `{s}`"))?;
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a percentage between 0 and 100"))
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2026-11-27T12:00:00Z"))
}

/// A failure of kradle itself (exit 2), as opposed to problems in the input.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Most likely a wrong path in a CI job: "ok" for nothing would hide it.
    #[error("no *.yaml or *.yml files under {}", .0.display())]
    NoInput(PathBuf),
    #[error("the build produced no Kubernetes object; refusing to print an empty stream")]
    EmptyStream,
    #[error("give --out DIR or --stdout")]
    NoOutput,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Validate(args) => validate(args),
        Command::Build(args) => build(args),
        Command::Plan(args) => plan(args),
        Command::Schema(args) => schema(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let _ = writeln!(std::io::stderr(), "kradle: error: {failure}");
            ExitCode::from(2)
        }
    }
}

/// Writes to stdout; a closed pipe (`kradle validate | head`) is not an error.
fn out(text: &str) -> Result<(), Failure> {
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Failure::from),
    }
}

fn use_color(choice: ColorChoice) -> bool {
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
fn load(
    path: &Path,
    rev: Option<&str>,
    now: Option<DateTime<Utc>>,
    args: &ReadArgs,
    output_path: Option<String>,
) -> Result<(Sources, DateTime<Utc>), Failure> {
    let read = &args.options(output_path);
    let verbose = args.verbose;
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
    Ok((sources, now.or(commit_time).unwrap_or_else(Utc::now)))
}

/// With --verbose, says on stderr which folders were not read and why.
fn report_skipped(sources: &Sources, verbose: bool) {
    if !verbose {
        return;
    }
    let mut err = std::io::stderr();
    for s in &sources.skipped {
        let _ = writeln!(err, "kradle: skipped {}/: {}", s.path, s.reason);
    }
}

/// Diagnostics in the chosen format.
fn render_diagnostics(v: &Validation, format: Format, color: bool, path: &Path) -> String {
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

fn validate(args: ValidateArgs) -> Result<u8, Failure> {
    let (sources, now) = load(&args.path, args.rev.as_deref(), args.now, &args.read, None)?;
    let v = kradle_compiler::validate(sources, &Options { now });
    out(&render_diagnostics(
        &v,
        args.format,
        use_color(args.color),
        &args.path,
    ))?;
    let summary = v.summary();
    let failed = summary.errors > 0 || (args.deny_warnings && summary.warnings > 0);
    Ok(if failed { 1 } else { 0 })
}

fn build(args: BuildArgs) -> Result<u8, Failure> {
    if let Some(dir) = &args.out {
        // Refuse a dangerous --out before spending time on the build.
        kradle_compiler::write::check_target(dir, &args.path, args.force)?;
    }
    let (sources, now) = load(
        &args.path,
        args.rev.as_deref(),
        args.now,
        &args.read,
        args.gitops_path.clone(),
    )?;
    let options = BuildOptions {
        now,
        repo_url: args.repo_url.clone(),
        target_revision: args.target_revision.clone(),
        path: args.gitops_path.clone(),
    };
    let b = kradle_compiler::build(sources, &options);
    let color = use_color(args.color) && std::io::stderr().is_terminal();
    if b.has_errors() {
        let text = render_diagnostics(&b.validation, args.format, color, &args.path);
        let _ = std::io::stderr().write_all(text.as_bytes());
        return Ok(1);
    }
    // Warnings still reach the user, on stderr.
    if !b.validation.diagnostics.is_empty() {
        let text = render_diagnostics(&b.validation, args.format, color, &args.path);
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
    kradle_compiler::write::write_output(dir, &b.files, &args.path, args.force)?;
    let _ = writeln!(
        std::io::stderr(),
        "wrote {} files ({} objects, {} forge plans) to {}",
        b.files.len(),
        b.output.objects.len(),
        b.output.plans.len(),
        dir.display()
    );
    Ok(0)
}

fn plan(args: PlanArgs) -> Result<u8, Failure> {
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

fn plan_inner(args: PlanArgs) -> Result<u8, Failure> {
    let read = args.read.options(None);
    // A folder that does not exist at a revision (new in this change, or
    // deleted by it) is an empty repository there.
    let at_rev = |rev: &str| match Sources::from_git_with(&args.path, rev, &read) {
        Ok((s, t)) => {
            report_skipped(&s, args.read.verbose);
            Ok((s, DateTime::from_timestamp(t, 0)))
        }
        Err(SourceError::NoSuchPathAtRevision { .. }) => Ok((Sources::default(), None)),
        Err(e) => Err(Failure::from(e)),
    };
    let (head_sources, now) = match &args.head {
        Some(rev) => {
            let (s, t) = at_rev(rev)?;
            (s, args.now.or(t).unwrap_or_else(Utc::now))
        }
        None => load(&args.path, None, args.now, &args.read, None)?,
    };
    let (base_sources, _) = at_rev(&args.base)?;
    let options = BuildOptions {
        now,
        repo_url: args.repo_url.clone(),
        target_revision: None,
        path: None,
    };
    let head = kradle_compiler::build(head_sources, &options);
    let color = use_color(args.color);
    if head.has_errors() {
        let text = render_diagnostics(
            &head.validation,
            Format::Human,
            color && std::io::stderr().is_terminal(),
            &args.path,
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
    Ok(if args.detailed_exitcode && diff.has_changes() {
        2
    } else {
        0
    })
}

fn schema(args: SchemaArgs) -> Result<u8, Failure> {
    // `json/` and `crds/` are each replaced atomically; the rest of the
    // folder is left alone.
    let files: std::collections::BTreeMap<String, String> =
        schemas::generated_files().into_iter().collect();
    kradle_compiler::write::replace_subfolders(&args.out, &files)?;
    let _ = writeln!(
        std::io::stderr(),
        "wrote {} files to {}",
        files.len(),
        args.out.display()
    );
    Ok(0)
}
