//! `kradle validate`: check a config repository and report every problem.

use kradle_compiler::Options;

use super::{load, out, render_diagnostics, use_color};
use crate::Failure;
use crate::args::{Format, Input, Revision};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    revision: Revision,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

pub fn run(args: Args) -> Result<u8, Failure> {
    let (sources, now) = load(&args.input, args.revision.rev.as_deref(), None)?;
    let v = kradle_compiler::validate(sources, &Options { now });
    out(&render_diagnostics(
        &v,
        args.format,
        use_color(args.input.color),
        &args.input.path,
    ))?;
    let summary = v.summary();
    let failed = summary.errors > 0 || (args.deny_warnings && summary.warnings > 0);
    Ok(if failed { 1 } else { 0 })
}
