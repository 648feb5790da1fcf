//! The newcomer's path, as docs/README.md walks it: `kradle init`, the
//! guide's edits (a second repository, a user with access to it), validate,
//! build, and a plan of the edits against the scaffold's commit. For GitHub,
//! everything lands on GitHub; nothing asks for a Gitea. And the whole walk
//! on Gitea: the docs' `.pre-commit-config.yaml` committed beside the config,
//! a saved plan reviewed and applied to an empty (fake) Gitea, a second
//! apply with nothing left to do, and a mistyped dispatch refused. (The
//! same `.pre-commit-config.yaml` run through the real pre-commit is
//! tests/precommit.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn kradle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The guide's edits: a second repository, and a developer who writes to it.
fn grow(dir: &Path, org: &str) {
    std::fs::write(
        dir.join(format!("orgs/{org}/web.yaml")),
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Repository\nmetadata:\n  name: web\nspec:\n  visibility: private\n  description: The website\n---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: User\nmetadata:\n  name: grace\nspec:\n  displayName: Grace\n  email: grace@example.com\n---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: RepositoryPermission\nmetadata:\n  name: web-grace\nspec:\n  repository: web\n  subject: grace\n  permission: write\n",
    )
    .unwrap();
}

#[test]
fn a_github_organization_grown_by_the_guide_stays_on_github() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-gh");
    let d = dir.to_str().unwrap();
    ok(&kradle(&["init", d, "--backend", "github"]));
    grow(&dir, "acme-gh");
    ok(&kradle(&["validate", d]));
    let out = dir.join("rendered");
    let built = kradle(&["build", d, "--out", out.to_str().unwrap()]);
    ok(&built);
    // Without a remote there is no Argo CD application, and build says so.
    let said = String::from_utf8_lossy(&built.stderr);
    assert!(
        said.contains("note: no argocd/ folder: no repository URL"),
        "{said}"
    );
    assert!(!out.join("argocd").exists());
    // One plan, for GitHub, holding both repositories.
    let plans: Vec<String> = std::fs::read_dir(out.join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(plans, ["acme-gh.json"], "no Gitea plan");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plans/acme-gh.json")).unwrap())
            .unwrap();
    assert_eq!(plan["backend"], "github");
    let paths: Vec<&str> = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    for expected in [
        "/repos/acme-gh/platform-config",
        "/repos/acme-gh/web",
        "/repos/acme-gh/web/collaborators/grace",
    ] {
        assert!(
            paths.iter().any(|p| p.starts_with(expected)),
            "{expected} in {paths:?}"
        );
    }

    // The plan of the edits, against the scaffold init committed.
    let plan = ok(&kradle(&["plan", d, "--base", "HEAD", "--format", "human"]));
    assert!(plan.contains("acme-gh (github):"), "{plan}");
    assert!(!plan.contains("(gitea)"), "{plan}");
    // GitHub's name for write.
    assert!(plan.contains("grant push on web to grace"), "{plan}");
}

#[test]
fn a_gitea_organization_grown_by_the_guide_plans_for_gitea() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme");
    let d = dir.to_str().unwrap();
    ok(&kradle(&["init", d]));
    grow(&dir, "acme");
    ok(&kradle(&["validate", d]));
    let plan = ok(&kradle(&["plan", d, "--base", "HEAD", "--format", "human"]));
    assert!(plan.contains("acme (gitea):"), "{plan}");
    assert!(!plan.contains("(github)"), "{plan}");
    assert!(plan.contains("grant write on web to grace"), "{plan}");
}

/// What docs/ci.md tells users to commit.
const PRE_COMMIT_CONFIG: &str = "repos:\n  - repo: https://github.com/a5c-ai/kradle\n    rev: v0.1.0\n    hooks:\n      - id: kradle-validate\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_walk_ends_in_a_reviewed_plan_applied_to_an_empty_gitea() {
    use support::fake_gitea::{FakeGitea, TOKEN};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme");
    let d = dir.to_str().unwrap().to_string();
    let said = ok(&kradle(&["init", &d]));
    assert!(said.contains("kradle plan"), "{said}");
    // The docs' pre-commit file, committed: not a kradle document.
    std::fs::write(dir.join(".pre-commit-config.yaml"), PRE_COMMIT_CONFIG).unwrap();
    support::git(&dir, &["add", "."]);
    support::git(&dir, &["commit", "-qm", "pre-commit"]);
    let base = support::git(&dir, &["rev-parse", "HEAD"]);

    // The guide's edits, validated, built, planned and saved for review.
    grow(&dir, "acme");
    ok(&kradle(&["validate", &d]));
    let out = tmp.path().join("rendered");
    ok(&kradle(&["build", &d, "--out", out.to_str().unwrap()]));
    assert!(out.join("plans/acme.json").exists());
    let saved = tmp.path().join("reviewed.json");
    let plan = kradle(&[
        "plan",
        &d,
        "--base",
        base.trim(),
        "--format",
        "human",
        "--out",
        saved.to_str().unwrap(),
    ]);
    let text = ok(&plan);
    assert!(text.contains("grant write on web to grace"), "{text}");

    // Applied to a Gitea that has the people but nothing of acme yet.
    let db = support::TestDb::new().await;
    let fake = FakeGitea::start(support::upstream::Api::gitea()).await;
    fake.with(|w| {
        for u in ["admin", "grace"] {
            w.users.insert(u.into());
        }
    });
    let apply = |target: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle"));
        cmd.arg("apply")
            .arg(target)
            .args(["--gitea-url", &fake.url])
            .env("KRADLE_DATABASE_URL", &db.url)
            .env("KRADLE_GITEA_TOKEN", TOKEN.trim_start_matches("token "))
            .env_remove("KRADLE_GITEA_HTTP_URL");
        support::output(cmd)
    };
    let first = apply(&saved).await;
    let err = support::stderr(&first);
    assert_eq!(first.status.code(), Some(0), "{err}");
    assert!(err.contains("POST /orgs/acme/repos"), "{err}");
    assert!(
        fake.with(|w| w.violations.is_empty()),
        "the fake saw requests the real Gitea refuses"
    );
    // The tree, applied again: nothing left to do.
    let again = apply(&dir).await;
    let err = support::stderr(&again);
    assert_eq!(again.status.code(), Some(0), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .starts_with("0 created, 0 updated, 0 removed"),
        "{err}"
    );

    // A mistyped stack is refused before anything is stored.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kradle"));
    cmd.args(["dispatch", "--config", &d, "--org", "acme"])
        .args([
            "--stack",
            "fixr",
            "--repository",
            "web",
            "--task-kind",
            "fix",
        ])
        .env("KRADLE_DATABASE_URL", &db.url);
    let typo = support::output(cmd).await;
    let err = support::stderr(&typo);
    assert_eq!(typo.status.code(), Some(1), "{err}");
    assert!(err.contains("fixr"), "{err}");
}
