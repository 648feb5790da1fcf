//! Hostile pull requests must not take CI (or the Argo CD repo-server) down:
//! every input here ends with a diagnostic (exit 1), within 5 s of CPU and
//! 300 MB of address space, enforced by the kernel (`ulimit -t 5 -v 300000`),
//! so a regression is a killed process, not a slow test. The CPU bound
//! catches runaway work, not speed (docs/benchmarks.md has the times): the
//! largest input takes 1.3 s of CPU alone, and up to 1.9 s in the dev build
//! on a loaded two-core CI machine, where 2 s failed once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

/// Runs kradle under the CPU and memory limits.
fn limited(args: &[&str]) -> Output {
    let mut script = String::from("ulimit -t 5 && ulimit -v 300000 || exit 99; exec \"$0\"");
    for i in 1..=args.len() {
        script.push_str(&format!(" \"${i}\""));
    }
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn write(dir: &Path, files: &[(&str, String)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// A document of 9^5 = 59,049 values through nested aliases: just under the
/// per-document limit, so only the per-file and per-run limits stop it.
fn laughs() -> String {
    let mut doc = String::from("---\na: &a [x,x,x,x,x,x,x,x,x]\n");
    for (name, prev) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d")] {
        let items = vec![format!("*{prev}"); 9].join(",");
        doc.push_str(&format!("{name}: &{name} [{items}]\n"));
    }
    doc
}

/// Files of a case: path, content.
type Files = Vec<(String, String)>;

/// Asserts kradle ended by itself with a diagnostic carrying `code`, within
/// the limits, and printed a bounded amount.
fn assert_refused(what: &str, o: &Output, code: &str) {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.code().is_some(),
        "{what}: killed by a limit ({:?}); stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{what}: {out}");
    assert!(out.contains(code), "{what}: no {code} in\n{out}");
    assert!(out.len() < 200_000, "{what}: {} bytes of output", out.len());
}

#[test]
fn yaml_bombs_end_fast_in_bounded_memory() {
    // (what, files, expected code)
    let laughs = laughs();
    let cases: Vec<(&str, Files, &str)> = vec![
        (
            "a 382 KB file of alias documents",
            vec![("a.yaml".into(), laughs.repeat(1500))],
            "KR103",
        ),
        (
            "300 files of alias documents",
            (0..300)
                .map(|i| (format!("f{i}.yaml"), laughs.repeat(3)))
                .collect(),
            "KR103",
        ),
        (
            "a 1 MB string copied 1,000 times",
            vec![(
                "a.yaml".into(),
                format!(
                    "s: &s {}\nl: [{}]\n",
                    "x".repeat(1_000_000),
                    vec!["*s"; 1000].join(",")
                ),
            )],
            "KR103",
        ),
        (
            "a 16 MB file of 4 million values",
            vec![(
                "a.yaml".into(),
                format!("---\n{}", "- a\n".repeat(150_000)).repeat(27),
            )],
            "KR103",
        ),
        (
            "100,000 open brackets",
            vec![("a.yaml".into(), "[".repeat(100_000))],
            "KR101",
        ),
        (
            "a 17 MiB file",
            vec![("a.yaml".into(), format!("# {}\n", "x".repeat(17 << 20)))],
            "KR104",
        ),
    ];
    for (what, files, code) in cases {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(&str, String)> =
            files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        write(dir.path(), &files);
        let o = limited(&["validate", dir.path().to_str().unwrap()]);
        assert_refused(what, &o, code);
    }
}

fn policy(kyverno_message: &str) -> String {
    format!(
        "{ORG}---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: PolicyTemplate\nmetadata:\n  name: t\nspec:\n  displayName: T\n  targetKinds: [Pod]\n  kyverno:\n    rules:\n      - name: r\n        match: {{ any: [{{ resources: {{ kinds: [Pod] }} }}] }}\n        validate: {{ message: \"{kyverno_message}\", deny: {{}} }}\n---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: PolicyBinding\nmetadata:\n  name: b\nspec:\n  organizationRef: acme\n  templateRef: t\n  mode: audit\n"
    )
}

#[test]
fn template_bombs_end_fast_in_bounded_memory() {
    let cases = [
        (
            "a loop of 10^10 iterations",
            "[% for a in range(100000) %][% for b in range(100000) %]x[% endfor %][% endfor %]",
        ),
        ("a 100 MB string", "[[ 'x' * 100000000 ]]"),
        (
            "a string of many large pieces",
            "[% for a in range(50) %][[ 'x' * 1000000 ]][% endfor %]",
        ),
    ];
    for (what, body) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("platform.yaml", policy(body))]);
        let path = dir.path().to_str().unwrap();
        // validate only compiles templates; build, plan and the Argo CD plugin render them.
        let o = limited(&["build", path, "--stdout", "--now", "2026-06-01T00:00:00Z"]);
        let o = Output {
            stdout: o.stderr.clone(),
            ..o
        };
        assert_refused(what, &o, "KR517");
    }
}

#[test]
fn terminal_controls_and_long_lines_are_never_printed_raw() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}";
    let wide = "A".repeat(50_000);
    write(
        dir.path(),
        &[
            ("platform.yaml", format!("{ORG}  {evil}: 1\n")),
            (
                "orgs/acme/repos.yaml",
                format!(
                    "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: api\nspec:\n  description: \"{wide}\"\n  visibility: {evil}x\n"
                ),
            ),
            (
                "orgs/acme/flow.yaml",
                format!(
                    "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: web\nspec: {{ description: \"{wide}\", visibility: private, bogus: 1 }}\n"
                ),
            ),
            (
                "orgs/acme/kind.yaml",
                format!(
                    "apiVersion: kradle.a5c.ai/v1alpha1\nkind: \"Repo{evil}\"\nmetadata:\n  name: x\n"
                ),
            ),
        ],
    );
    let o = limited(&["validate", dir.path().to_str().unwrap(), "--color", "never"]);
    assert_refused("control characters", &o, "KR207");
    let out = String::from_utf8_lossy(&o.stdout);
    for c in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!out.contains(c), "raw {c:?} in\n{out}");
    }
    assert!(
        out.contains("\\u{1b}]0;pwned"),
        "escaped in messages:\n{out}"
    );
    // The 50 KB line is shown as a window around the problem.
    assert!(out.len() < 8_000, "{} bytes:\n{out}", out.len());
    assert!(out.contains("repos.yaml:7:15"), "{out}");
    // An error far into a long line: the window is around it, the column is the file's.
    assert!(out.contains("flow.yaml:5:50047"), "{out}");
    assert!(out.contains("private, bogus: 1 }"), "{out}");
}
