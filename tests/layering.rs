//! The compiler's layering, enforced: no async, database or network crate in
//! the compiler, and no module importing a layer above its own
//! (base ← model ← check ← lower ← output; docs/architecture.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// The crates `kradle-compiler` depends on at run time, one per line.
fn compiler_tree(extra: &[&str]) -> String {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "kradle-compiler",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--locked",
            "--offline",
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(tree.contains("kradle-compiler"), "{tree}");
    tree
}

#[test]
fn without_the_terminal_renderer_the_compiler_has_no_miette() {
    let tree = compiler_tree(&["--no-default-features"]);
    assert!(
        !tree.lines().any(|l| l.starts_with("miette ")),
        "kradle-compiler --no-default-features still depends on miette:\n{tree}"
    );
    // The default build renders for terminals.
    assert!(compiler_tree(&[]).lines().any(|l| l.starts_with("miette ")));
}

#[test]
fn the_compiler_has_no_async_database_or_network_dependency() {
    let tree = compiler_tree(&[]);
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        for banned in [
            "tokio",
            "sqlx",
            "reqwest",
            "hyper",
            "axum",
            "kube-client",
            "tower",
        ] {
            assert!(
                name != banned && !name.starts_with(&format!("{banned}-")),
                "kradle-compiler depends on {name}: the compiler stays pure (no async, database or network)"
            );
        }
    }
}

/// The layer of a top-level module of the compiler crate.
fn layer(module: &str) -> Option<(u8, &'static str)> {
    Some(match module {
        "yaml" | "source" | "diagnostics" | "text" | "sshkey" | "template" | "emit" | "ignore" => {
            (0, "base")
        }
        "model" | "schemas" | "project" | "forge_plan" | "builtin" => (1, "model"),
        "check" => (2, "check"),
        "lower" => (3, "lower"),
        "layout" | "diff" | "plan" | "render" | "write" | "reference" => (4, "output"),
        _ => return None,
    })
}

/// Every module `lib.rs` declares has a layer: a new one cannot slip past
/// the rule by being unlisted.
#[test]
fn every_module_of_the_compiler_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("compiler/src/lib.rs"))
            .unwrap();
    let unlisted: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or(l.trim().strip_prefix("mod "))
        })
        .map(|m| m.trim_end_matches(';'))
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(unlisted.is_empty(), "modules with no layer: {unlisted:?}");
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("compiler/src");
    let mut violations = Vec::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
            let Some((own, own_name)) = layer(top) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may reach up (they build models through `validate`).
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (i, line) in code.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for part in line.split("crate::").skip(1) {
                    let module: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if let Some((other, other_name)) = layer(&module) {
                        if other > own {
                            violations.push(format!(
                                "{rel}:{}: {own_name} imports {other_name} (crate::{module})",
                                i + 1
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );
}
