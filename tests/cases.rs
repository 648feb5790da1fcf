//! Golden cases: every `testdata/invalid/<case>/input` repository is checked
//! and its rendered diagnostics are compared with `expected.txt` (what a user
//! sees, without colour). `KRADLE_UPDATE=1 cargo test` rewrites the files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kradle_compiler::{CODES, Options, Sources, render, validate};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// What `kradle validate` shows, plus what `kradle build` adds when the
/// input validates (problems found only while lowering, such as collisions).
fn render_case(input: &Path) -> (String, bool) {
    let options = kradle_compiler::lower::BuildOptions {
        now: now(),
        repo_url: None,
        target_revision: None,
        path: None,
    };
    let v = kradle_compiler::build(Sources::from_dir(input).unwrap(), &options).validation;
    let mut out = String::new();
    for d in &v.diagnostics {
        out.push_str(&render::human(&v.sources, d, false, 100));
        out.push('\n');
    }
    out.push_str(&render::human_summary(&v.summary()));
    (out, v.has_errors())
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn check_expected(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("KRADLE_UPDATE").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{}: rendered diagnostics differ\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (run with KRADLE_UPDATE=1)",
            path.display()
        )),
    }
}

#[test]
fn invalid_cases_render_their_pinned_diagnostics() {
    let mut failures = Vec::new();
    let all = cases("invalid");
    assert!(all.len() >= 40, "only {} invalid cases", all.len());
    for dir in all {
        let (rendered, has_errors) = render_case(&dir.join("input"));
        check_expected(&dir.join("expected.txt"), &rendered, &mut failures);
        // An "invalid" case must report something a user would act on.
        if !rendered.contains("  × ") && !rendered.contains("  ⚠ ") {
            failures.push(format!("{}: reports nothing", dir.display()));
        }
        let _ = has_errors;
        // Secrets are never printed, whatever the diagnostic.
        for line in rendered.lines() {
            if kradle_compiler::check::looks_like_secret(line).is_some() {
                failures.push(format!("{}: output shows a secret: {line}", dir.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_diagnostic_code_is_exercised_by_a_case() {
    let mut seen = String::new();
    for dir in cases("invalid") {
        seen.push_str(&render_case(&dir.join("input")).0);
    }
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|code| !seen.contains(&format!("{code}\n")))
        .collect();
    assert!(missing.is_empty(), "no invalid case reports {missing:?}");
}

#[test]
fn valid_cases_and_examples_report_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = cases("valid")
        .into_iter()
        .map(|d| d.join("input"))
        .collect::<Vec<_>>();
    dirs.push(root.join("examples/acme-platform"));
    for dir in dirs {
        let (rendered, has_errors) = render_case(&dir);
        assert!(
            !has_errors && rendered.starts_with("ok: "),
            "{}:\n{rendered}",
            dir.display()
        );
        assert!(
            rendered.ends_with("no problems\n"),
            "{}:\n{rendered}",
            dir.display()
        );
    }
}

#[test]
fn generated_benchmark_repository_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let n = xtask::generate(dir.path(), 2).unwrap();
    assert_eq!(n, 2 * (2 + xtask::resources_per_org()));
    let v = validate(
        Sources::from_dir(dir.path()).unwrap(),
        &Options { now: now() },
    );
    let rendered: Vec<String> = v
        .diagnostics
        .iter()
        .map(|d| render::human(&v.sources, d, false, 100))
        .collect();
    assert!(v.diagnostics.is_empty(), "{}", rendered.join("\n"));
    assert_eq!(v.model.resources.len(), n);
}
