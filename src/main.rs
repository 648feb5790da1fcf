//! The `kradle` binary: parse arguments, run, map the outcome to an exit code
//! (0 ok, 1 the input has errors, 2 kradle itself could not run).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use kradle_compiler::lower::BuildOptions;
use kradle_compiler::{Options, Sources, Validation, layout, render, schemas, source::SourceError};

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
    /// Flag an organization losing more than this percentage of its permissions.
    #[arg(long, value_name = "PERCENT", default_value_t = 25.0)]
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
}

#[derive(clap::Args)]
struct SchemaArgs {
    /// Folder to write `json/<Kind>.json` and `crds/<plural>.kradle.a5c.ai.yaml` into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2026-11-27T12:00:00Z"))
}

/// A failure of kradle itself (exit 2), as opposed to problems in the input.
#[derive(Debug)]
struct Failure(String);

impl From<SourceError> for Failure {
    fn from(e: SourceError) -> Self {
        Failure(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(e.to_string())
    }
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
        Err(Failure(msg)) => {
            let _ = writeln!(std::io::stderr(), "kradle: error: {msg}");
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
) -> Result<(Sources, DateTime<Utc>), Failure> {
    let (sources, commit_time) = match rev {
        Some(rev) => {
            let (s, t) = Sources::from_git(path, rev)?;
            (s, DateTime::from_timestamp(t, 0))
        }
        None => (Sources::from_dir(path)?, None),
    };
    if sources.files.is_empty() {
        // Most likely a wrong path in a CI job: do not report "ok" for nothing.
        return Err(Failure(format!(
            "no *.yaml or *.yml files under {}",
            path.display()
        )));
    }
    Ok((sources, now.or(commit_time).unwrap_or_else(Utc::now)))
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
    let (sources, now) = load(&args.path, args.rev.as_deref(), args.now)?;
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
    let (sources, now) = load(&args.path, args.rev.as_deref(), args.now)?;
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
            return Err(Failure(
                "the build produced no Kubernetes object; refusing to print an empty stream".into(),
            ));
        }
        out(&stream)?;
        return Ok(0);
    }
    let Some(dir) = &args.out else {
        return Err(Failure("give --out DIR or --stdout".into()));
    };
    write_tree(dir, &b.files)?;
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
    // A folder that does not exist at a revision (new in this change, or
    // deleted by it) is an empty repository there.
    let at_rev = |rev: &str| match Sources::from_git(&args.path, rev) {
        Ok((s, t)) => Ok((s, DateTime::from_timestamp(t, 0))),
        Err(SourceError::NoSuchPathAtRevision { .. }) => Ok((Sources::default(), None)),
        Err(e) => Err(Failure::from(e)),
    };
    let (head_sources, now) = match &args.head {
        Some(rev) => {
            let (s, t) = at_rev(rev)?;
            (s, args.now.or(t).unwrap_or_else(Utc::now))
        }
        None => load(&args.path, None, args.now)?,
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

/// Writes `files` under `dir`, replacing its content atomically: the tree is
/// written into a temporary sibling folder, then renamed into place.
fn write_tree(
    dir: &Path,
    files: &std::collections::BTreeMap<String, String>,
) -> Result<(), Failure> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = parent.join(format!(".{name}.kradle-new-{}", std::process::id()));
    let old = parent.join(format!(".{name}.kradle-old-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        for (rel, contents) in files {
            let path = tmp.join(rel);
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(&path, contents)?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old)?;
        }
        std::fs::rename(&tmp, dir)?;
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        if old.exists() && !dir.exists() {
            let _ = std::fs::rename(&old, dir);
        }
        return Err(Failure(format!("cannot write {}: {e}", dir.display())));
    }
    Ok(())
}

fn schema(args: SchemaArgs) -> Result<u8, Failure> {
    // Write into a temporary sibling folder, then swap, so a failure never
    // leaves a half-written schema folder.
    let files = schemas::generated_files();
    let parent = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".{}.kradle-tmp",
        args.out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "schemas".into())
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    for (rel, contents) in &files {
        let path = tmp.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, contents)?;
    }
    if args.out.exists() {
        for sub in ["json", "crds"] {
            let old = args.out.join(sub);
            if old.exists() {
                std::fs::remove_dir_all(&old)?;
            }
        }
    } else {
        std::fs::create_dir_all(&args.out)?;
    }
    for sub in ["json", "crds"] {
        std::fs::rename(tmp.join(sub), args.out.join(sub))?;
    }
    std::fs::remove_dir_all(&tmp)?;
    let _ = writeln!(
        std::io::stderr(),
        "wrote {} files to {}",
        files.len(),
        args.out.display()
    );
    Ok(0)
}
