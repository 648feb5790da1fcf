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

use kradle_test_support as support;

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

/// `pre-commit ARGS` in the git repository `config`, with the kradle under
/// test first on the PATH and pre-commit's cache under `tmp`.
fn pre_commit_in(
    pre_commit: &std::path::Path,
    config: &std::path::Path,
    tmp: &std::path::Path,
    args: &[&str],
) -> Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kradle"));
    Command::new(pre_commit)
        .args(args)
        .args(["--color", "never"])
        .current_dir(config)
        .env("PATH", support::path_with(bin.parent().unwrap()))
        .env("PRE_COMMIT_HOME", tmp.join("pre-commit-home"))
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

/// Adds a misspelled field to the config and stages it.
fn break_config(config: &std::path::Path) {
    std::fs::write(
        config.join("orgs/acme/broken.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: web\nspec:\n  visiblity: private\n",
    )
    .unwrap();
    support::git(config, &["add", "."]);
}

/// pre-commit ran the hook, and it passed.
fn passed(o: &Output) {
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
    let root = root();
    let try_repo = || {
        pre_commit_in(
            &pre_commit,
            &config,
            tmp.path(),
            &[
                "try-repo",
                root.to_str().unwrap(),
                "kradle-validate-system",
                "--all-files",
            ],
        )
    };
    passed(&try_repo());

    break_config(&config);
    let o = try_repo();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("Failed"), "{out}");
    assert!(out.contains("orgs/acme/broken.yaml:6:3"), "{out}");
    assert!(out.contains("did you mean `visibility`?"), "{out}");
}

/// The newcomer's path of docs/ci.md: the hook declared in the config
/// repository's own `.pre-commit-config.yaml`, committed there beside a
/// GitLab CI file and a compose file, and run by `pre-commit run`. None of
/// them is config, so the commit passes; a broken config file still fails.
#[test]
fn a_committed_pre_commit_config_is_not_read_as_config() {
    let Some(pre_commit) = pre_commit() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    support::copy_dir(&root().join("examples/acme-platform"), &config);
    // The hooks of this checkout, at its commit, as `repo:` and `rev:`.
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(head.status.success(), "the kradle checkout is a git clone");
    let rev = String::from_utf8(head.stdout).unwrap().trim().to_string();
    std::fs::write(
        config.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: kradle-validate-system\n",
            root().display()
        ),
    )
    .unwrap();
    std::fs::write(
        config.join(".gitlab-ci.yml"),
        "kradle:\n  image: rust:1\n  script:\n    - kradle validate . --format sarif > kradle.sarif\n",
    )
    .unwrap();
    std::fs::write(
        config.join("docker-compose.yml"),
        "services:\n  db:\n    image: postgres:15\n",
    )
    .unwrap();
    let git = |args: &[&str]| support::git(&config, args);
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "config, with its pre-commit and CI files"]);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kradle"));
    let run = || pre_commit_in(&pre_commit, &config, tmp.path(), &["run", "--all-files"]);
    passed(&run());

    // --verbose says what was not read, and why.
    let verbose = Command::new(&bin)
        .args(["validate", "--verbose"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&verbose.stderr);
    assert_eq!(verbose.status.code(), Some(0), "{err}");
    for line in [
        "skipped .pre-commit-config.yaml: a hidden file (not kradle's)",
        "skipped .gitlab-ci.yml: a hidden file (not kradle's)",
        "skipped docker-compose.yml: another tool's file (not kradle's)",
    ] {
        assert!(err.contains(line), "{line}\n{err}");
    }

    break_config(&config);
    let o = run();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("orgs/acme/broken.yaml:6:3"), "{out}");
}
