//! `kradle explain KIND[.field.path]`: a kind's fields, as `kubectl
//! explain` shows a resource's (the text is `kradle_compiler::reference`'s).

use std::io::Write;

use kradle_compiler::reference::explain;

use crate::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// A kind (`AgentStack`, `agentstack` or `agentstacks`), then a path of fields:
    /// `agentstack.spec.budget`.
    #[arg(value_name = "KIND[.FIELD...]")]
    target: String,
    /// Every field below, nested, instead of one level.
    #[arg(long)]
    recursive: bool,
}

pub fn run(args: Args) -> Result<u8, Failure> {
    match explain(&args.target, args.recursive) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            Ok(0)
        }
        Err(why) => {
            super::say(&format!("kradle: error: {why}"));
            Ok(1)
        }
    }
}
