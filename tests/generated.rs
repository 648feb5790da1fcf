//! Generated files are checked in and must not drift from their source:
//! `schemas/` (JSON Schema per kind, CRD per config kind) and
//! `docs/diagnostics.md` (the code registry), `docs/reference/` (the kind
//! reference). `KRADLE_UPDATE=1 cargo test`
//! regenerates them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use kradle_compiler::{diagnostics::render_registry_markdown, reference, schemas::generated_files};

fn update() -> bool {
    std::env::var_os("KRADLE_UPDATE").is_some()
}

/// Checks (or, with KRADLE_UPDATE, writes) `files` under `root`, and that
/// the folders `subs` hold nothing else. Returns what is stale.
fn check_folder(root: &Path, files: &[(String, String)], subs: &[&str]) -> Vec<String> {
    let mut stale = Vec::new();
    for (rel, contents) in files {
        let path = root.join(rel);
        if update() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, contents).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            stale.push(rel.clone());
        }
    }
    // Nothing extra either (a removed kind leaves no orphan schema).
    let expected: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for sub in subs {
        for entry in std::fs::read_dir(root.join(sub)).into_iter().flatten() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            let rel = if *sub == "." {
                name
            } else {
                format!("{sub}/{name}")
            };
            if !expected.contains(rel.as_str()) {
                if update() {
                    std::fs::remove_file(entry.path()).unwrap();
                } else {
                    stale.push(format!("{rel} (not generated any more)"));
                }
            }
        }
    }
    stale
}

/// The kind reference is generated from the same schemas.
#[test]
fn the_kind_reference_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference");
    if update() {
        std::fs::create_dir_all(&root).unwrap();
    }
    let pages = reference::pages();
    let stale = check_folder(&root, &pages, &["."]);
    assert!(
        stale.is_empty(),
        "docs/reference/ is stale; run `KRADLE_UPDATE=1 cargo test --test generated`: {stale:?}"
    );
}

#[test]
fn schemas_folder_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let stale = check_folder(&root, &generated_files(), &["json", "crds"]);
    assert!(
        stale.is_empty(),
        "schemas/ is stale; run `KRADLE_UPDATE=1 cargo test --test generated`: {stale:?}"
    );
}

/// Helm installs `crds/` as they are: they must be `kradle schema`'s CRDs.
#[test]
fn the_charts_crds_are_kradles_crds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/kradle");
    let crds: Vec<(String, String)> = generated_files()
        .into_iter()
        .filter(|(rel, _)| rel.starts_with("crds/"))
        .collect();
    assert_eq!(crds.len(), 51);
    let stale = check_folder(&root, &crds, &["crds"]);
    assert!(
        stale.is_empty(),
        "charts/kradle/crds is stale; run `KRADLE_UPDATE=1 cargo test --test generated`: {stale:?}"
    );
}

#[test]
fn diagnostics_reference_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics.md");
    let rendered = render_registry_markdown();
    if update() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        rendered,
        "docs/diagnostics.md is stale; run `KRADLE_UPDATE=1 cargo test --test generated`"
    );
}
