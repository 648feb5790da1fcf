//! The newcomer's path, as docs/README.md walks it: `kradle init`, the
//! guide's edits (a second repository, a user with access to it), validate,
//! build, and a plan of the edits against the scaffold's commit. For GitHub,
//! everything lands on GitHub; nothing asks for a Gitea.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
