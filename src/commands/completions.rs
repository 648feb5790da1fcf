//! `kradle completions SHELL` and `kradle man --out DIR`: shell completion
//! scripts (clap_complete) and man pages (clap_mangen), both made from the
//! same command definitions as `--help`.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;

use crate::Failure;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell: `kradle completions bash > /etc/bash_completion.d/kradle`, `kradle
    /// completions zsh > "${fpath[1]}/_kradle"`, `kradle completions fish >
    /// ~/.config/fish/completions/kradle.fish`.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// The folder to write `kradle.1` and `kradle-<command>.1` into (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run_completions(args: CompletionsArgs) -> Result<u8, Failure> {
    let mut command = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "kradle", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(0)
}

/// Every page: `kradle.1`, then one per command (`kradle-runs.1`) and
/// sub-command (`kradle-runs-list.1`), as `git` names its pages.
fn pages(
    command: &clap::Command,
    prefix: &str,
    out: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    let name = if prefix.is_empty() {
        command.get_name().to_string()
    } else {
        format!("{prefix}-{}", command.get_name())
    };
    let page = command.clone().name(name.clone());
    let mut text = Vec::new();
    clap_mangen::Man::new(page).render(&mut text)?;
    out.push((format!("{name}.1"), text));
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(sub, &name, out)?;
    }
    Ok(())
}

pub fn run_man(args: ManArgs) -> Result<u8, Failure> {
    let mut command = crate::Cli::command();
    command.build();
    let mut out = Vec::new();
    pages(&command, "", &mut out)?;
    std::fs::create_dir_all(&args.out)?;
    for (file, text) in &out {
        std::fs::write(args.out.join(file), text)?;
    }
    super::say(&format!(
        "wrote {} man pages to {}",
        out.len(),
        args.out.display()
    ));
    Ok(0)
}
