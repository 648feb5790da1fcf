//! File-system safety on hostile or careless input (docs/security.md): what
//! `build --out` refuses to replace, what the reader refuses to follow or
//! open, and that kradle never reads its own output back as config.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn kradle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

/// A minimal valid config repository at `dir`.
fn config_at(dir: &Path) {
    std::fs::create_dir_all(dir.join("orgs/acme")).unwrap();
    std::fs::write(dir.join("platform.yaml"), ORG).unwrap();
    std::fs::write(
        dir.join("orgs/acme/repos.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: api\nspec:\n  visibility: private\n",
    )
    .unwrap();
}

/// Every path below `dir` (not following links) with its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                todo.push(p.clone());
                out.insert(p, None);
            } else if meta.is_file() {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
            } else {
                out.insert(p, None);
            }
        }
    }
    out
}

fn build_to(config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "build",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--now",
        "2026-06-01T00:00:00Z",
    ];
    args.extend_from_slice(extra);
    kradle(&args)
}

#[test]
fn dangerous_out_targets_are_refused_and_nothing_is_touched() {
    // (what, the --out target relative to the sandbox, what stderr must say)
    // The sandbox is a git work tree `repo/` holding `repo/config/`, plus
    // `other/` (a foreign non-empty folder), `file.txt`, `link` (to `other`)
    // and `clone/` (another work tree).
    let cases: &[(&str, &str, &str)] = &[
        (
            "the config folder itself",
            "repo/config",
            "holds the config folder",
        ),
        (
            "a folder holding the config (the repository root)",
            "repo",
            "holds the config folder",
        ),
        (
            "the sandbox holding everything",
            ".",
            "holds the config folder",
        ),
        (
            "the root of another git work tree",
            "clone",
            "root of a git work tree",
        ),
        ("a regular file", "file.txt", "is not a folder"),
        ("a symbolic link to a folder", "link", "is a symbolic link"),
        ("a foreign non-empty folder", "other", "Pass --force"),
        (
            "a folder of the config",
            "repo/config/orgs",
            "(even with --force)",
        ),
    ];
    for (what, target, message) in cases {
        let sandbox = tempfile::tempdir().unwrap();
        let s = sandbox.path();
        git2::Repository::init(s.join("repo")).unwrap();
        config_at(&s.join("repo/config"));
        git2::Repository::init(s.join("clone")).unwrap();
        std::fs::write(s.join("clone/README"), "mine").unwrap();
        std::fs::create_dir(s.join("other")).unwrap();
        std::fs::write(s.join("other/notes.md"), "precious").unwrap();
        std::fs::write(s.join("file.txt"), "precious").unwrap();
        std::os::unix::fs::symlink(s.join("other"), s.join("link")).unwrap();
        let before = snapshot(s);

        let o = build_to(&s.join("repo/config"), &s.join(target), &[]);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{what}: {}", stderr(&o));
        assert_eq!(snapshot(s), before, "{what}: something was touched");

        // --force overrides only the foreign-folder case.
        let forced = build_to(&s.join("repo/config"), &s.join(target), &["--force"]);
        if *target == "other" {
            assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
            assert!(s.join("other/.kradle-output").is_file());
            assert!(!s.join("other/notes.md").exists());
        } else {
            assert_eq!(forced.status.code(), Some(2), "{what} with --force");
            assert_eq!(
                snapshot(s),
                before,
                "{what} with --force: something was touched"
            );
        }
    }
}

#[test]
fn output_is_marked_rebuilt_in_place_and_leftovers_of_killed_runs_are_removed() {
    let sandbox = tempfile::tempdir().unwrap();
    let s = sandbox.path();
    config_at(&s.join("config"));
    let out = s.join("out");
    assert_eq!(
        build_to(&s.join("config"), &out, &[]).status.code(),
        Some(0)
    );
    assert!(out.join(".kradle-output").is_file());
    // An empty folder is fine too, and a second build replaces the first.
    let empty = s.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        build_to(&s.join("config"), &empty, &[]).status.code(),
        Some(0)
    );
    // A build killed between its renames leaves these behind (pid 0 is never ours).
    for leftover in [".out.kradle-new-0", ".out.kradle-old-0-7"] {
        std::fs::create_dir(s.join(leftover)).unwrap();
        std::fs::write(s.join(leftover).join("x.yaml"), "x").unwrap();
    }
    assert_eq!(
        build_to(&s.join("config"), &out, &[]).status.code(),
        Some(0)
    );
    let names: Vec<String> = std::fs::read_dir(s)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kradle-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn four_schema_writers_at_once_all_succeed() {
    let sandbox = tempfile::tempdir().unwrap();
    let out = sandbox.path().join("schemas");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_kradle"))
                .args(["schema", "--out", out.to_str().unwrap()])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let expected: BTreeMap<String, String> = kradle_compiler::schemas::generated_files()
        .into_iter()
        .collect();
    for (rel, text) in &expected {
        assert_eq!(
            &std::fs::read_to_string(out.join(rel)).unwrap(),
            text,
            "{rel}"
        );
    }
    let names: Vec<String> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .chain(std::fs::read_dir(&out).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kradle-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn output_inside_the_config_folder_is_never_read_back() {
    let sandbox = tempfile::tempdir().unwrap();
    let config = sandbox.path().join("config");
    config_at(&config);
    // The layout kradle.yaml's gitops.path suggests: rendered/ in the config root.
    let o = build_to(&config, &config.join("rendered"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // And a second output somewhere else in the tree, found by its marker.
    let o = build_to(&config, &config.join("orgs/acme/out"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for _ in 0..2 {
        let v = kradle(&["validate", config.to_str().unwrap(), "--verbose"]);
        assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));
        assert_eq!(stdout(&v), "ok: 2 resources in 2 files, no problems\n");
        let err = stderr(&v);
        assert!(
            err.contains("skipped orgs/acme/out/: holds `.kradle-output`"),
            "{err}"
        );
        assert!(
            err.contains("skipped rendered/: the output folder"),
            "{err}"
        );
        let again = build_to(&config, &config.join("rendered"), &[]);
        assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    }
    // A configured gitops.path is skipped even before its first build.
    std::fs::write(
        config.join("kradle.yaml"),
        "gitops:\n  path: ./deploy/out/\n",
    )
    .unwrap();
    std::fs::create_dir_all(config.join("deploy/out")).unwrap();
    std::fs::write(config.join("deploy/out/x.yaml"), "kind: [\n").unwrap();
    let v = kradle(&["validate", config.to_str().unwrap(), "--verbose"]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    assert!(stderr(&v).contains("skipped deploy/out/"), "{}", stderr(&v));
    // Without --verbose nothing is said.
    let quiet = kradle(&["validate", config.to_str().unwrap()]);
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn links_leaving_the_folder_are_never_read() {
    let sandbox = tempfile::tempdir().unwrap();
    let config = sandbox.path().join("config");
    config_at(&config);
    let secret = sandbox.path().join("secret.yaml");
    std::fs::write(&secret, "SECRET_CONTENT_OUTSIDE: do-not-print\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", config.join("passwd.yaml")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", config.join("environ.yaml")).unwrap();
    std::os::unix::fs::symlink(&secret, config.join("orgs/acme/up.yaml")).unwrap();
    std::os::unix::fs::symlink(sandbox.path(), config.join("orgs/outside")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", config.join("dangling.yaml")).unwrap();
    for format in ["human", "json", "sarif"] {
        let o = kradle(&["validate", config.to_str().unwrap(), "--format", format]);
        assert_eq!(o.status.code(), Some(1), "{format}");
        let all = stdout(&o) + &stderr(&o);
        for leak in ["root:", "SECRET_CONTENT_OUTSIDE", "PATH=", "HOME="] {
            assert!(!all.contains(leak), "{format} leaked {leak}:\n{all}");
        }
        assert_eq!(
            all.matches("symbolic link that leaves the config folder")
                .count(),
            4,
            "{all}"
        );
    }
    // Links inside the folder are followed: a file, and a folder.
    std::fs::remove_file(config.join("passwd.yaml")).unwrap();
    std::fs::remove_file(config.join("environ.yaml")).unwrap();
    std::fs::remove_file(config.join("orgs/acme/up.yaml")).unwrap();
    std::fs::remove_file(config.join("dangling.yaml")).unwrap();
    std::fs::create_dir(sandbox.path().join("shared")).unwrap();
    std::fs::rename(
        config.join("orgs/acme/repos.yaml"),
        config.join("repos.yaml.orig"),
    )
    .unwrap();
    std::fs::create_dir(config.join("store")).unwrap();
    std::fs::rename(
        config.join("repos.yaml.orig"),
        config.join("store/repos.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../../store/repos.yaml",
        config.join("orgs/acme/repos.yaml"),
    )
    .unwrap();
    let o = kradle(&["validate", config.to_str().unwrap(), "--verbose"]);
    // store/repos.yaml (no org folder) and the link to it (in orgs/acme) are both read.
    assert!(stdout(&o).contains("in 3 files"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("skipped orgs/outside/"),
        "{}",
        stderr(&o)
    );
}

/// Runs kradle and fails the test if it has not exited by the deadline.
fn run_with_deadline(args: &[&str], deadline: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match exited.recv_timeout(deadline) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid]).status();
            panic!("kradle {args:?} hangs");
        }
    }
}

#[test]
fn special_files_are_reported_never_opened() {
    let sandbox = tempfile::tempdir().unwrap();
    let config = sandbox.path().join("config");
    config_at(&config);
    let fifo = config.join("orgs/acme/pipe.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("/dev/zero", config.join("zero.yaml")).unwrap();
    std::os::unix::fs::symlink(&fifo, config.join("pipe-link.yaml")).unwrap();
    let o = run_with_deadline(
        &["validate", config.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("orgs/acme/pipe.yaml is a FIFO (named pipe), not a regular file"),
        "{out}"
    );
    assert!(out.contains("pipe-link.yaml is a FIFO"), "{out}");
    assert!(
        out.contains("zero.yaml is a symbolic link that leaves the config folder"),
        "{out}"
    );
}

#[test]
fn size_limits_refuse_large_files_and_inputs() {
    let sandbox = tempfile::tempdir().unwrap();
    let config = sandbox.path().join("config");
    config_at(&config);
    let big = format!("# {}\n", "x".repeat(4096));
    std::fs::write(config.join("big.yaml"), big).unwrap();
    let o = kradle(&[
        "validate",
        config.to_str().unwrap(),
        "--max-file-size",
        "4KiB",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("big.yaml is larger than 4 KiB"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("--max-file-size"), "{}", stdout(&o));
    let o = kradle(&[
        "validate",
        config.to_str().unwrap(),
        "--max-input-size",
        "1KiB",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("add up to more than 1 KiB"),
        "{}",
        stdout(&o)
    );
    let o = kradle(&[
        "validate",
        config.to_str().unwrap(),
        "--max-file-size",
        "lots",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // The defaults read it.
    assert_eq!(
        kradle(&["validate", config.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn links_in_a_git_revision_resolve_inside_the_folder_only() {
    let sandbox = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(sandbox.path()).unwrap();
    let config = sandbox.path().join("config");
    config_at(&config);
    std::os::unix::fs::symlink("/etc/passwd", config.join("passwd.yaml")).unwrap();
    std::os::unix::fs::symlink("../../../secret.yaml", config.join("orgs/acme/up.yaml")).unwrap();
    std::fs::write(
        sandbox.path().join("secret.yaml"),
        "SECRET_CONTENT_OUTSIDE: x\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../../platform.yaml", config.join("orgs/acme/org.yaml")).unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "links", &tree, &[])
        .unwrap();

    let o = kradle(&["validate", config.to_str().unwrap(), "--rev", "HEAD"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        !out.contains("root:") && !out.contains("SECRET_CONTENT"),
        "{out}"
    );
    assert!(
        out.contains("passwd.yaml is a symbolic link that leaves the config folder"),
        "{out}"
    );
    assert!(
        out.contains("orgs/acme/up.yaml is a symbolic link that leaves"),
        "{out}"
    );
    // The link inside the folder was followed: the Organization is read twice.
    assert!(out.contains("KR301"), "{out}");
    // The working tree says the same.
    let tree_out = stdout(&kradle(&["validate", config.to_str().unwrap()]));
    assert_eq!(tree_out, out);
}
