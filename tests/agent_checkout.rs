//! `kradle agent install` and `kradle agent checkout`, as an agent pod's
//! init containers run them, against a real git repository: a fresh
//! workspace is cloned; a reused one, dirtied by the agent before (changes,
//! files, a hook, a config that runs a command), is brought back to the
//! branch's new head and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::path::Path;
use std::process::Command;

use support::git;

/// A bare repository with `main` and `kradle/fix-4`, and a clone to push
/// from; the head of the branch.
fn origin() -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().unwrap();
    let bare = root.path().join("origin.git");
    let work = root.path().join("dev");
    std::fs::create_dir_all(&work).unwrap();
    git(root.path(), &["init", "-q", "--bare", "origin.git"]);
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README.md"), "api\n").unwrap();
    std::fs::write(work.join(".gitignore"), "target/\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "first"]);
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    git(&work, &["push", "-q", "origin", "main"]);
    git(&work, &["checkout", "-q", "-b", "kradle/fix-4"]);
    std::fs::write(work.join("fix.txt"), "one\n").unwrap();
    git(&work, &["add", "fix.txt"]);
    git(&work, &["commit", "-q", "-m", "fix"]);
    git(&work, &["push", "-q", "origin", "kradle/fix-4"]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    (root, head)
}

fn checkout(url: &str, git_ref: &str, workspace: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["agent", "checkout"])
        .env("KRADLE_CHECKOUT_URL", url)
        .env("KRADLE_REF", git_ref)
        .env("KRADLE_WORKSPACE_PATH", workspace)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_workspace_is_checked_out_fresh_then_brought_back_from_whatever_the_agent_left() {
    let (root, head) = origin();
    let url = format!("file://{}", root.path().join("origin.git").display());
    let ws = root.path().join("workspace");
    // A fresh volume has lost+found; it stays.
    std::fs::create_dir_all(ws.join("lost+found")).unwrap();
    let (code, err) = checkout(&url, "kradle/fix-4", &ws);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&head), "{err}");
    assert_eq!(git(&ws, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&ws, &["branch", "--show-current"]), "kradle/fix-4");
    assert_eq!(
        std::fs::read_to_string(ws.join("fix.txt")).unwrap(),
        "one\n"
    );

    // The agent of that run leaves a mess, and traps for the next.
    std::fs::write(ws.join("fix.txt"), "half done\n").unwrap();
    std::fs::write(ws.join("notes.txt"), "scratch\n").unwrap();
    std::fs::create_dir_all(ws.join("target")).unwrap();
    std::fs::write(ws.join("target/out.bin"), "built\n").unwrap();
    let pwned = root.path().join("pwned");
    let trap = format!("#!/bin/sh\ntouch {}\n", pwned.display());
    for hook in ["post-checkout", "reference-transaction", "pre-auto-gc"] {
        let path = ws.join(".git/hooks").join(hook);
        std::fs::write(&path, &trap).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    git(
        &ws,
        &[
            "config",
            "core.fsmonitor",
            &format!("touch {}", pwned.display()),
        ],
    );
    // Meanwhile the branch moves on.
    let dev = root.path().join("dev");
    std::fs::write(dev.join("fix.txt"), "two\n").unwrap();
    git(&dev, &["commit", "-q", "-am", "fix, again"]);
    git(&dev, &["push", "-q", "origin", "kradle/fix-4"]);
    let new_head = git(&dev, &["rev-parse", "HEAD"]);

    let (code, err) = checkout(&url, "kradle/fix-4", &ws);
    assert_eq!(code, 0, "{err}");
    assert_eq!(git(&ws, &["rev-parse", "HEAD"]), new_head);
    assert_eq!(
        std::fs::read_to_string(ws.join("fix.txt")).unwrap(),
        "two\n"
    );
    assert!(!ws.join("notes.txt").exists());
    assert!(!ws.join("target").exists());
    assert!(ws.join("lost+found").is_dir());
    assert_eq!(git(&ws, &["status", "--porcelain"]), "");
    assert!(!pwned.exists(), "a trap the agent before left was run");
    assert!(!ws.join(".git/hooks/post-checkout").exists());
}

#[test]
fn a_checkout_refuses_what_git_would_take_as_an_option_or_a_command() {
    let ws = tempfile::tempdir().unwrap();
    for (url, git_ref) in [
        ("ext::sh -c touch% /tmp/x", "main"),
        ("--upload-pack=touch /tmp/x", "main"),
        ("https://gitea/acme/api.git", "--upload-pack=x"),
        ("https://gitea/acme/api.git", "a..b"),
    ] {
        let (code, err) = checkout(url, git_ref, ws.path());
        assert_eq!(code, 2, "{url} {git_ref}: {err}");
    }
    // A branch the repository does not have: said, exit 1.
    let (root, _) = origin();
    let url = format!("file://{}", root.path().join("origin.git").display());
    let (code, err) = checkout(&url, "nope", ws.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fetch"), "{err}");
}

#[test]
fn install_copies_an_executable_kradle() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("bin");
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["agent", "install"])
        .arg(&to)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let copied = Command::new(to.join("kradle"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(copied.status.success());
    assert!(String::from_utf8_lossy(&copied.stdout).starts_with("kradle "));
}
