//! The pre-commit hooks (`.pre-commit-hooks.yaml`), run for real with
//! `pre-commit try-repo` on a temporary git repository holding the example
//! and then a broken file.
//!
//! pre-commit comes from PyPI; `.ci/run` installs it and sets
//! `KRADLE_REQUIRE_PRE_COMMIT=1`, so CI always runs this. Elsewhere, without
//! `pre-commit` on the PATH, the test says so and passes.
//!
//! `try-repo` runs `kradle-validate-system` (the kradle on the PATH: the one
//! just built). `kradle-validate` differs only in `language: rust`, whose
//! install step (`cargo install --path .`, a release build of several minutes)
//! this test does not repeat; it checks the two hooks are otherwise the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../runtime/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hooks() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let (docs, errors) = kradle_compiler::yaml::parse(&text);
    assert!(errors.is_empty(), "{errors:?}");
    docs[0].root.to_json().as_array().unwrap().clone()
}

#[test]
fn the_two_hooks_run_the_same_command() {
    let hooks = hooks();
    let ids: Vec<&str> = hooks.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["kradle-validate", "kradle-validate-system"]);
    assert_eq!(hooks[0]["language"], "rust");
    assert_eq!(hooks[1]["language"], "system");
    for field in ["entry", "files", "pass_filenames", "require_serial"] {
        assert_eq!(hooks[0][field], hooks[1][field], "{field}");
    }
    // The whole repository is one compilation unit: never a subset of files.
    assert_eq!(hooks[0]["pass_filenames"], false);
}

fn pre_commit() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("pre-commit"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("KRADLE_REQUIRE_PRE_COMMIT").is_none(),
            "pre-commit is required here: pip install pre-commit"
        );
        eprintln!(
            "pre-commit is not installed: the try-repo test did not run (pip install pre-commit)"
        );
    }
    found
}

#[test]
fn try_repo_passes_the_example_and_fails_a_broken_file_with_its_location() {
    let Some(pre_commit) = pre_commit() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    support::copy_dir(&root().join("examples/acme-platform"), &config);
    let git = |args: &[&str]| support::git(&config, args);
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "config"]);
    // kradle on the PATH is the binary under test.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kradle"));
    let path = support::path_with(bin.parent().unwrap());
    let try_repo = || -> Output {
        Command::new(&pre_commit)
            .args([
                "try-repo",
                root().to_str().unwrap(),
                "kradle-validate-system",
                "--all-files",
                "--color",
                "never",
            ])
            .current_dir(&config)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", tmp.path().join("pre-commit-home"))
            .env_remove("NO_COLOR")
            .output()
            .unwrap()
    };
    let o = try_repo();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("kradle validate") && out.contains("Passed"),
        "{out}"
    );

    std::fs::write(
        config.join("orgs/acme/broken.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: web\nspec:\n  visiblity: private\n",
    )
    .unwrap();
    git(&["add", "."]);
    let o = try_repo();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("Failed"), "{out}");
    assert!(out.contains("orgs/acme/broken.yaml:6:3"), "{out}");
    assert!(out.contains("did you mean `visibility`?"), "{out}");
}
