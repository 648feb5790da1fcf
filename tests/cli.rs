//! The binary as a user runs it: exit codes, stdout, stderr, formats, `--rev`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn kradle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn case(name: &str) -> String {
    root()
        .join("testdata/invalid")
        .join(name)
        .join("input")
        .display()
        .to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn version_and_help() {
    let o = kradle(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        format!("kradle {}\n", env!("CARGO_PKG_VERSION"))
    );
    let o = kradle(&["validate", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    for flag in ["--rev", "--format", "--deny-warnings", "--now", "--color"] {
        assert!(stdout(&o).contains(flag), "{flag} missing from help");
    }
}

#[test]
fn the_example_validates_clean() {
    let example = root().join("examples/acme-platform");
    let o = kradle(&["validate", example.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "ok: 78 resources in 10 files, no problems\n");
    assert_eq!(stderr(&o), "");
    // `lint` is an alias.
    assert_eq!(
        kradle(&["lint", example.to_str().unwrap()]).status.code(),
        Some(0)
    );
}

#[test]
fn errors_exit_1_with_location_code_and_help() {
    let o = kradle(&["validate", &case("unknown-field"), "--color", "never"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("KR207"), "{out}");
    assert!(out.contains("orgs/acme/repos.yaml:6:3"), "{out}");
    assert!(out.contains("did you mean `visibility`?"), "{out}");
    assert!(
        out.ends_with("failed: 4 errors, 0 warnings (2 resources in 2 files)\n"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "no colour when not asked");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let o = kradle(&["validate", &case("unknown-field"), "--color", "always"]);
    assert!(stdout(&o).contains('\u{1b}'));
    // Not a terminal: auto means no colour.
    let o = kradle(&["validate", &case("unknown-field")]);
    assert!(!stdout(&o).contains('\u{1b}'));
}

#[test]
fn kradle_itself_failing_exits_2() {
    let o = kradle(&["validate", "/definitely/not/here"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("kradle: error: cannot read /definitely/not/here"),
        "{}",
        stderr(&o)
    );
    let o = kradle(&["validate", "--format", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    let o = kradle(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = kradle(&["validate", "--now", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn json_format_is_one_object_with_relative_files_and_1_based_positions() {
    let o = kradle(&["validate", &case("unknown-field"), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "KR207");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "orgs/acme/repos.yaml");
    assert_eq!(d["line"], 6);
    assert_eq!(d["column"], 3);
    assert_eq!(d["help"], "did you mean `visibility`?");
    assert!(d["message"].as_str().unwrap().contains("visiblity"));
    assert_eq!(v["summary"]["errors"], 4);
    assert_eq!(v["summary"]["warnings"], 0);
}

#[test]
fn sarif_format_is_sarif_2_1_0() {
    let o = kradle(&[
        "validate",
        &case("unresolved-reference-typo"),
        "--format",
        "sarif",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "kradle");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        // Relative to the repository root, as GitHub code scanning resolves it.
        assert!(
            uri.starts_with("testdata/invalid/unresolved-reference-typo/input/orgs/acme/"),
            "{uri}"
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(loc["region"]["startColumn"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = case("team-maintainer-not-member");
    assert_eq!(kradle(&["validate", &dir]).status.code(), Some(0));
    assert_eq!(
        kradle(&["validate", &dir, "--deny-warnings"]).status.code(),
        Some(1)
    );
}

#[test]
fn now_decides_expiry() {
    let dir = case("expired-invite-and-exception");
    let before = kradle(&[
        "validate",
        &dir,
        "--now",
        "2024-01-01T00:00:00Z",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&before)).unwrap();
    assert_eq!(v["summary"]["warnings"], 0);
    let after = kradle(&[
        "validate",
        &dir,
        "--now",
        "2026-06-01T00:00:00Z",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&after)).unwrap();
    assert_eq!(v["summary"]["warnings"], 2);
}

fn commit(repo: &git2::Repository, time: i64, message: &str) {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::new("t", "t@example.com", &git2::Time::new(time, 0)).unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap();
}

#[test]
fn rev_reads_a_git_revision_without_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(tmp.path()).unwrap();
    let config = tmp.path().join("config");
    std::fs::create_dir_all(config.join("orgs/acme")).unwrap();
    std::fs::write(
        config.join("platform.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n",
    )
    .unwrap();
    // Expires one day after the commit time (2000-01-01).
    std::fs::write(
        config.join("orgs/acme/invite.yaml"),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Invite\nmetadata:\n  name: ann\nspec:\n  email: ann@acme.example\n  role: member\n  expiresAt: \"2000-01-02T00:00:00Z\"\n",
    )
    .unwrap();
    commit(&repo, 946_684_800, "add acme");
    // The working tree now differs from HEAD: a broken file.
    std::fs::write(config.join("orgs/acme/broken.yaml"), "kind: [\n").unwrap();

    let cfg = config.to_str().unwrap();
    let head = kradle(&["validate", cfg, "--rev", "HEAD", "--format", "json"]);
    assert_eq!(head.status.code(), Some(0), "{}", stdout(&head));
    let v: Value = serde_json::from_str(&stdout(&head)).unwrap();
    // "now" defaults to the commit time: not expired yet.
    assert_eq!(v["summary"]["warnings"], 0);
    assert_eq!(v["summary"]["files"], 2);

    let tree = kradle(&["validate", cfg, "--format", "json"]);
    assert_eq!(tree.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&tree)).unwrap();
    assert_eq!(v["summary"]["warnings"], 1, "today the invite has expired");

    // Same content at HEAD and in the tree: byte-identical output.
    std::fs::remove_file(config.join("orgs/acme/broken.yaml")).unwrap();
    let a = kradle(&[
        "validate",
        cfg,
        "--rev",
        "HEAD",
        "--now",
        "2001-01-01T00:00:00Z",
    ]);
    let b = kradle(&["validate", cfg, "--now", "2001-01-01T00:00:00Z"]);
    assert_eq!(stdout(&a), stdout(&b));

    let bad = kradle(&["validate", cfg, "--rev", "no-such-rev"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("kradle: error: revision `no-such-rev` is not in this repository"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn schema_writes_json_schemas_and_crds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("schemas");
    let o = kradle(&["schema", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let crds = std::fs::read_dir(out.join("crds")).unwrap().count();
    let json = std::fs::read_dir(out.join("json")).unwrap().count();
    assert_eq!(crds, 51);
    assert_eq!(
        json,
        82 + 1 + 1,
        "every kind, the KubeVela Application, and kradle.yaml"
    );
    let team = std::fs::read_to_string(out.join("crds/teams.kradle.a5c.ai.yaml")).unwrap();
    assert!(
        team.starts_with("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n")
    );
    // Same bytes as the checked-in copy.
    let checked_in =
        std::fs::read_to_string(root().join("schemas/crds/teams.kradle.a5c.ai.yaml")).unwrap();
    assert_eq!(team, checked_in);
    // Running again replaces the content.
    assert_eq!(
        kradle(&["schema", "--out", out.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn build_writes_the_tree_atomically_and_nothing_on_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rendered");
    let example = root().join("examples/acme-platform");
    let o = kradle(&[
        "build",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--now",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("wrote "), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(out.join("report.json").is_file());
    assert!(out.join("plans/acme.json").is_file());
    assert!(out.join("orgs/acme/kustomization.yaml").is_file());
    // A stale file from an earlier build disappears: the folder is replaced.
    std::fs::write(out.join("stale.yaml"), "x").unwrap();
    let again = kradle(&[
        "build",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--now",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(again.status.code(), Some(0));
    assert!(!out.join("stale.yaml").exists());

    // Broken input: diagnostics on stderr, exit 1, previous output untouched, no temp folder left.
    let before = std::fs::read_to_string(out.join("report.json")).unwrap();
    let o = kradle(&[
        "build",
        &case("unknown-field"),
        "--out",
        out.to_str().unwrap(),
        "--color",
        "never",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("KR207"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        before
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn build_stdout_is_one_yaml_stream() {
    let example = root().join("examples/acme-platform");
    let o = kradle(&[
        "build",
        example.to_str().unwrap(),
        "--stdout",
        "--now",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let (docs, errors) = kradle_compiler::yaml::parse(&text);
    assert!(errors.is_empty());
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("testdata/golden/acme-platform/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        docs.len() as u64,
        report["outputs"]["objects"].as_u64().unwrap()
    );
    assert!(text.starts_with("---\napiVersion: "));
    // Needs --out or --stdout.
    assert_eq!(
        kradle(&["build", example.to_str().unwrap()]).status.code(),
        Some(2)
    );
}

#[test]
fn build_from_a_revision_equals_the_working_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(tmp.path()).unwrap();
    let config = tmp.path().join("config");
    let example = root().join("examples/acme-platform");
    for f in kradle_compiler::Sources::from_dir(&example).unwrap().files {
        let p = config.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f.text.unwrap()).unwrap();
    }
    commit(&repo, 1_780_000_000, "config");
    let cfg = config.to_str().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    assert_eq!(
        kradle(&["build", cfg, "--rev", "HEAD", "--out", a.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        kradle(&[
            "build",
            cfg,
            "--out",
            b.to_str().unwrap(),
            "--now",
            "2026-05-28T20:26:40Z"
        ])
        .status
        .code(),
        Some(0)
    );
    let tree = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        let mut todo = vec![d.to_path_buf()];
        while let Some(x) = todo.pop() {
            for e in std::fs::read_dir(&x).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    files.push((
                        p.strip_prefix(d).unwrap().display().to_string(),
                        std::fs::read(&p).unwrap(),
                    ));
                }
            }
        }
        files.sort();
        files
    };
    assert_eq!(tree(&a), tree(&b));
}

#[test]
fn a_folder_without_yaml_is_an_error_not_an_empty_success() {
    let tmp = tempfile::tempdir().unwrap();
    let o = kradle(&["validate", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no *.yaml or *.yml files under"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn explain_describes_a_field_and_names_the_nearest_for_a_typo() {
    let o = kradle(&["explain", "agentstack.spec.budget.maxRunSeconds"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("FIELD:    maxRunSeconds <integer>"), "{text}");
    assert!(text.contains("Range: 60 to 86400"), "{text}");
    let o = kradle(&["explain", "Organization.spec.agentBuget"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("`spec` has no field `agentBuget`; did you mean `agentBudget`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn completions_and_man_pages_come_from_the_commands() {
    let bash = kradle(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = stdout(&bash);
    assert!(script.contains("complete -F _kradle"), "{script}");
    assert!(
        script.contains("explain") && script.contains("approvals"),
        "every command"
    );
    // The script is valid bash, and registers the completion.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kradle.bash");
    std::fs::write(&file, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p kradle", file.display()))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("_kradle"));
    assert!(stdout(&kradle(&["completions", "zsh"])).starts_with("#compdef kradle"));
    assert!(stdout(&kradle(&["completions", "fish"])).contains("complete -c kradle"));
    assert_eq!(kradle(&["completions", "tcsh"]).status.code(), Some(2));

    let man = dir.path().join("man");
    let o = kradle(&["man", "--out", man.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(man.join("kradle-runs-list.1")).unwrap();
    assert!(page.contains(".TH kradle-runs-list 1"), "{page}");
    assert!(page.contains("\\fBkradle runs list\\fR"), "{page}");
    assert!(page.contains("\\fB\\-\\-org\\fR"), "{page}");
    assert!(man.join("kradle.1").is_file() && man.join("kradle-explain.1").is_file());
}

#[test]
fn the_repository_url_comes_from_the_origin_remote_without_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path();
    std::fs::create_dir_all(config.join("platform")).unwrap();
    std::fs::copy(
        root().join("examples/acme-platform/platform/organizations.yaml"),
        config.join("platform/organizations.yaml"),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(config)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    let path = config.to_str().unwrap();
    // No remote, no kradle.yaml, no flag: no Argo CD layer, and the
    // report says how to get one.
    let o = kradle(&["build", "--stdout", path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains("kind: Application\n"));
    // A local remote is not one Argo CD can reach.
    git(&["remote", "add", "origin", "/srv/git/platform.git"]);
    assert!(!stdout(&kradle(&["build", "--stdout", path])).contains("repoURL"));
    git(&[
        "remote",
        "set-url",
        "origin",
        "https://kradle:s3cret-token@gitea.example/acme/platform.git",
    ]);
    let text = stdout(&kradle(&["build", "--stdout", path]));
    assert!(
        text.contains("repoURL: https://gitea.example/acme/platform.git"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret-token"),
        "the remote's credentials are not copied"
    );
    // The flag wins.
    let text = stdout(&kradle(&[
        "build",
        "--stdout",
        "--repo-url",
        "https://other.example/x.git",
        path,
    ]));
    assert!(
        text.contains("repoURL: https://other.example/x.git"),
        "{text}"
    );
    assert!(!text.contains("gitea.example"), "{text}");
}

#[test]
fn init_writes_a_repository_that_validates_and_builds_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-labs");
    let path = dir.to_str().unwrap();
    let o = kradle(&["init", path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("organization `acme-labs`"), "{text}");
    // The three commands it prints work as printed: init made a git
    // repository and committed the scaffold, so even the plan does.
    assert!(text.contains("a new git repository"), "{text}");
    let next: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "next:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(next.len(), 3, "{text}");
    assert!(next[2].starts_with("kradle plan ") && next[2].ends_with("--base HEAD"));
    for command in &next {
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let o = kradle(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{command}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    assert!(dir.join("rendered/kustomization.yaml").is_file());
    let orgs = std::fs::read_to_string(dir.join("platform/organizations.yaml")).unwrap();
    assert!(
        orgs.contains("namespaceName: kradle-org-acme-labs"),
        "{orgs}"
    );

    // A second init touches nothing.
    let before = std::fs::read_to_string(dir.join("kradle.yaml")).unwrap();
    std::fs::write(dir.join("kradle.yaml"), format!("{before}# mine\n")).unwrap();
    let o = kradle(&["init", path, "--org", "other"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("never overwrites"), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(dir.join("kradle.yaml"))
            .unwrap()
            .ends_with("# mine\n")
    );
    assert!(
        !dir.join("orgs/other").exists(),
        "nothing is written unless all is new"
    );

    // GitHub: the org's repositories are planned for GitHub.
    let gh = tmp.path().join("gh");
    let o = kradle(&[
        "init",
        gh.to_str().unwrap(),
        "--org",
        "globex",
        "--backend",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = kradle(&[
        "build",
        gh.to_str().unwrap(),
        "--out",
        gh.join("rendered").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(
        &std::fs::read_to_string(gh.join("rendered/plans/globex.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(plan["backend"], "github");

    // A slug that is not one is refused before anything is written.
    let bad = tmp.path().join("bad");
    let o = kradle(&["init", bad.to_str().unwrap(), "--org", "Bad Org"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`bad-org`"), "{}", stderr(&o));
    assert!(!bad.exists());
}

/// `validate` says what `build` would: a problem only lowering finds (here,
/// two resources lowering to one object) fails validate too, in one run.
#[test]
fn validate_reports_what_only_lowering_finds() {
    let input = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/invalid/output-collision/input");
    let input = input.to_str().unwrap();
    let validated = kradle(&["validate", input, "--format", "json"]);
    let built = kradle(&["build", input, "--stdout", "--format", "json"]);
    assert_eq!(validated.status.code(), Some(1), "{}", stdout(&validated));
    let codes = |text: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect()
    };
    let found = codes(&stdout(&validated));
    assert!(found.iter().any(|c| c == "KR309"), "{found:?}");
    // With --stdout, build keeps stdout for manifests and reports on stderr.
    assert_eq!(found, codes(&stderr(&built)), "validate and build disagree");
}
