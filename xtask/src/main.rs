//! `cargo run -p xtask -- gen-bench DIR [ORGS]`: write the benchmark repository.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir, rest @ ..] if cmd == "gen-bench" => {
            let orgs = rest.first().and_then(|n| n.parse().ok()).unwrap_or(50);
            let dir = PathBuf::from(dir);
            if dir.exists() {
                eprintln!("xtask: {} exists; give a new folder", dir.display());
                return ExitCode::from(2);
            }
            match xtask::generate(&dir, orgs) {
                Ok(n) => {
                    eprintln!(
                        "wrote {n} resources in {orgs} organizations to {}",
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xtask: {e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- gen-bench DIR [ORGS]");
            ExitCode::from(2)
        }
    }
}
