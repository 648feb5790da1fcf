//! `kradle schema`: write the JSON Schema of every kind and the CRDs.

use std::io::Write;
use std::path::PathBuf;

use kradle_compiler::schemas;

use crate::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// Folder to write `json/<Kind>.json` and `crds/<plural>.kradle.a5c.ai.yaml` into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<u8, Failure> {
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
