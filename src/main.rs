//! The `kradle` binary: parse arguments, run a command, map the outcome to
//! an exit code (0 ok, 1 the input has errors, 2 kradle itself could not
//! run). Each command lives in `commands/`; the argument groups they share
//! in `args.rs`.

mod args;
mod commands;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kradle_compiler::source::SourceError;
use kradle_compiler::write::WriteError;

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
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a config repository and report every problem with file:line:column.
    #[command(visible_alias = "lint")]
    Validate(commands::validate::Args),
    /// Compile the repository into manifests and forge plans (nothing is written on errors).
    Build(commands::build::Args),
    /// Show what a change does: compile a base revision and the head, and diff the outputs.
    Plan(commands::plan::Args),
    /// Start a new config repository from the scaffold: it validates and builds as written.
    Init(commands::init::Args),
    /// Write the JSON Schema of every kind and the CRD of every config kind.
    Schema(commands::schema::Args),
    /// Describe a kind or one of its fields, like `kubectl explain`: type, required,
    /// description, values, default.
    Explain(commands::explain::Args),
    /// Print the shell completion script for bash, zsh, fish, elvish or PowerShell.
    Completions(commands::completions::CompletionsArgs),
    /// Write the man pages (kradle.1 and one per command).
    Man(commands::completions::ManArgs),
    /// Converge Gitea and GitHub to the compiled plans (of a config folder, or of a plan saved
    /// by `kradle plan --out`), journaling every write in PostgreSQL.
    Apply(commands::apply::Args),
    /// Read a live Gitea or GitHub organization into config YAML (to adopt kradle on an
    /// existing forge).
    Import(commands::import::Args),
    /// Receive forge webhooks into PostgreSQL (verified, deduplicated, queued).
    Serve(Box<commands::serve::Args>),
    /// List the journaled forge writes; approve or reject those waiting for approval.
    Intents(commands::intents::Args),
    /// Change synced issues on their forge (write-back, sent by `kradle serve`).
    Issues(commands::issues::Args),
    /// List and resolve the sync conflicts write-back found.
    Conflicts(commands::issues::ConflictsArgs),
    /// Dispatch an agent stack by hand: a run for `kradle serve` to take through review,
    /// workspace and Job.
    Dispatch(commands::runs::DispatchArgs),
    /// List, inspect and cancel agent runs.
    Runs(commands::runs::RunsArgs),
    /// List, approve and deny the approvals agent runs wait for.
    Approvals(commands::runs::ApprovalsArgs),
    /// Manage the runtime's PostgreSQL database (migrations).
    Db(commands::db::Args),
    /// From an agent's pod: comment, open a pull request, set a status,
    /// report the result, through the run's agent API.
    Agent(commands::agent::Args),
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
    #[error(transparent)]
    Store(#[from] kradle_runtime::store::StoreError),
    #[error(transparent)]
    Apply(#[from] commands::apply::SetupError),
    #[error(transparent)]
    Init(#[from] commands::init::InitError),
}

/// Runs a runtime command on a tokio runtime of its own.
fn block_on<F: std::future::Future<Output = Result<u8, Failure>>>(
    future: F,
) -> Result<u8, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
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
        Command::Validate(args) => commands::validate::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Completions(args) => commands::completions::run_completions(args),
        Command::Man(args) => commands::completions::run_man(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Serve(args) => commands::serve::run(*args),
        Command::Db(args) => commands::db::run(args),
        Command::Intents(args) => commands::intents::run(args),
        Command::Issues(args) => commands::issues::run(args),
        Command::Conflicts(args) => commands::issues::run_conflicts(args),
        Command::Dispatch(args) => commands::runs::run_dispatch(args),
        Command::Runs(args) => commands::runs::run_runs(args),
        Command::Approvals(args) => commands::runs::run_approvals(args),
        Command::Agent(args) => commands::agent::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let _ = writeln!(std::io::stderr(), "kradle: error: {failure}");
            ExitCode::from(2)
        }
    }
}

impl From<kradle_runtime::forge::clients::NoClient> for Failure {
    fn from(e: kradle_runtime::forge::clients::NoClient) -> Failure {
        Failure::Apply(e.into())
    }
}
