//! `kradle plan` against real git histories built with git2: several commits
//! that add, remove, change, rename and move, compared revision to revision.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

fn doc(kind: &str, name: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn people() -> String {
    ["grace", "alan", "ada", "linus"]
        .iter()
        .map(|u| {
            doc(
                "User",
                u,
                &format!("displayName: {u}\nemail: {u}@acme.example"),
            )
        })
        .collect()
}

fn permission(repo: &str, user: &str, level: &str) -> String {
    doc(
        "RepositoryPermission",
        &format!("{repo}-{user}"),
        &format!("repository: {repo}\nsubject: {user}\npermission: {level}"),
    )
}

/// A repository under test: a git repo whose `config/` folder is the config.
struct History {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    repo: git2::Repository,
    time: i64,
}

impl History {
    fn new() -> History {
        let tmp = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(tmp.path()).unwrap();
        let dir = tmp.path().to_path_buf();
        History {
            _tmp: tmp,
            dir,
            repo,
            time: 1_780_000_000,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("config")
    }

    fn write(&self, path: &str, text: &str) {
        let p = self.config().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn remove(&self, path: &str) {
        std::fs::remove_file(self.config().join(path)).unwrap();
    }

    /// Commits the working tree; returns the commit id.
    fn commit(&mut self, message: &str) -> String {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        self.time += 60;
        let sig =
            git2::Signature::new("t", "t@example.com", &git2::Time::new(self.time, 0)).unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
            .to_string()
    }

    fn plan(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kradle"))
            .arg("plan")
            .arg(self.config())
            .args(args)
            .args(["--now", "2026-06-01T00:00:00Z"])
            .env_remove("NO_COLOR")
            .output()
            .unwrap()
    }

    fn json(&self, base: &str, head: &str) -> Value {
        let o = self.plan(&["--base", base, "--head", head, "--format", "json"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A history: base → add a repository → change a permission → remove
/// permissions → rename the repository → move a file.
fn history() -> (History, Vec<String>) {
    let mut h = History::new();
    let mut commits = Vec::new();
    h.write("platform/org.yaml", ORG);
    h.write("orgs/acme/people.yaml", &people());
    h.write(
        "orgs/acme/repos.yaml",
        &doc("Repository", "api", "visibility: private"),
    );
    let perms: String = ["grace", "alan", "ada", "linus"]
        .iter()
        .map(|u| permission("api", u, "read"))
        .collect();
    h.write("orgs/acme/perms.yaml", &perms);
    commits.push(h.commit("base")); // 0

    h.write(
        "orgs/acme/repos.yaml",
        &[
            doc("Repository", "api", "visibility: private"),
            doc("Repository", "web", "visibility: public"),
        ]
        .concat(),
    );
    commits.push(h.commit("add web")); // 1

    let perms: String = [
        permission("api", "grace", "write"),
        permission("api", "alan", "read"),
        permission("api", "ada", "read"),
        permission("api", "linus", "read"),
    ]
    .concat();
    h.write("orgs/acme/perms.yaml", &perms);
    commits.push(h.commit("grace writes")); // 2

    h.write("orgs/acme/perms.yaml", &permission("api", "grace", "write"));
    commits.push(h.commit("remove three permissions")); // 3

    h.write(
        "orgs/acme/repos.yaml",
        &[
            doc("Repository", "api", "visibility: private"),
            doc("Repository", "website", "visibility: public"),
        ]
        .concat(),
    );
    commits.push(h.commit("rename web to website")); // 4

    let text = std::fs::read_to_string(h.config().join("orgs/acme/people.yaml")).unwrap();
    h.remove("orgs/acme/people.yaml");
    h.write("orgs/acme/team/people.yaml", &text);
    commits.push(h.commit("move a file")); // 5
    (h, commits)
}

fn actions(v: &Value, list: &str) -> Vec<(String, String)> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c.get("description")
                    .or(c.get("name"))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn plans_follow_a_history() {
    let (h, c) = history();

    // Add a repository: a new object and a new forge operation; nothing destructive.
    let v = h.json(&c[0], &c[1]);
    assert_eq!(v["summary"]["objects"]["add"], 1);
    assert_eq!(v["summary"]["destructive"], 0);
    assert!(
        actions(&v, "operations").contains(&("add".into(), "create public repository web".into()))
    );

    // Change a permission: one changed object, one changed operation with what it was.
    let v = h.json(&c[1], &c[2]);
    assert_eq!(
        v["summary"]["objects"],
        serde_json::json!({ "add": 0, "change": 1, "remove": 0 })
    );
    let ops = actions(&v, "operations");
    assert_eq!(
        ops,
        [(
            "change".to_string(),
            "grant write on api to grace (was: grant read on api to grace)".to_string()
        )]
    );
    let field = &v["objects"][0]["fields"][0];
    assert_eq!(field["path"], "spec.permission");
    assert_eq!(field["before"], "read");
    assert_eq!(field["after"], "write");
    // The changed request says what of it changes, as the object does.
    assert_eq!(
        v["operations"][0]["fields"],
        serde_json::json!([{ "path": "permission", "before": "read", "after": "write" }])
    );

    // Remove three of four permissions: destructive, and over the 25% guard.
    let v = h.json(&c[2], &c[3]);
    assert_eq!(v["summary"]["objects"]["remove"], 3);
    assert_eq!(
        v["summary"]["destructive"], 6,
        "3 objects and 3 collaborator grants"
    );
    assert_eq!(v["summary"]["dangerous"], true);
    let guard = &v["removalGuards"][0];
    assert_eq!(guard["organization"], "acme");
    assert_eq!(guard["permissionsBefore"], 4);
    assert_eq!(guard["permissionsRemoved"], 3);
    assert!(
        actions(&v, "operations")
            .contains(&("remove".into(), "revoke read on api from alan".into()))
    );

    // Rename a repository: a removal (destructive) and an addition.
    let v = h.json(&c[3], &c[4]);
    let objs = actions(&v, "objects");
    assert!(objs.contains(&("remove".into(), "web".into())));
    assert!(objs.contains(&("add".into(), "website".into())));
    assert!(actions(&v, "operations").contains(&("remove".into(), "delete repository web".into())));
    assert!(v["summary"]["destructive"].as_u64().unwrap() >= 2);

    // Move a file without changing its content: no change at all.
    let v = h.json(&c[4], &c[5]);
    assert_eq!(v["objects"], serde_json::json!([]));
    assert_eq!(v["operations"], serde_json::json!([]));
}

#[test]
fn detailed_exit_codes_and_formats() {
    let (h, c) = history();
    let none = h.plan(&[
        "--base",
        &c[4],
        "--head",
        &c[5],
        "--detailed-exitcode",
        "--format",
        "human",
    ]);
    assert_eq!(none.status.code(), Some(0));
    assert!(stdout(&none).contains("No changes."));
    let some = h.plan(&[
        "--base",
        &c[2],
        "--head",
        &c[3],
        "--detailed-exitcode",
        "--format",
        "human",
        "--color",
        "never",
    ]);
    assert_eq!(some.status.code(), Some(2));
    let text = stdout(&some);
    // Destructive changes come first.
    let destructive = text.find("Destructive changes:").unwrap();
    assert!(destructive < text.find("Kubernetes objects:").unwrap());
    assert!(
        text.contains("DANGER acme: removes 3 of 4 permissions (75%, more than the 25% allowed)"),
        "{text}"
    );
    assert!(text.ends_with("Plan: 0 to add, 0 to change, 3 to destroy; forge: 0 to add, 0 to change, 3 to remove.\n"), "{text}");
    // Without --detailed-exitcode changes still exit 0.
    assert_eq!(
        h.plan(&["--base", &c[2], "--head", &c[3]]).status.code(),
        Some(0)
    );
    // A higher threshold is not dangerous.
    let v: Value = serde_json::from_slice(
        &h.plan(&[
            "--base",
            &c[2],
            "--head",
            &c[3],
            "--format",
            "json",
            "--max-removal",
            "80",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(v["summary"]["dangerous"], false);
    // --fail-on-danger: the plan is printed, then exit 3; not when under the guard.
    let gated = h.plan(&[
        "--base",
        &c[2],
        "--head",
        &c[3],
        "--format",
        "human",
        "--fail-on-danger",
    ]);
    assert_eq!(gated.status.code(), Some(3));
    assert!(stdout(&gated).contains("DANGER acme"), "{}", stdout(&gated));
    assert!(
        String::from_utf8_lossy(&gated.stderr).contains("--fail-on-danger"),
        "{}",
        String::from_utf8_lossy(&gated.stderr)
    );
    let under = h.plan(&[
        "--base",
        &c[2],
        "--head",
        &c[3],
        "--fail-on-danger",
        "--max-removal",
        "80",
    ]);
    assert_eq!(under.status.code(), Some(0));
    // Markdown: a summary table, caution first, details per organization.
    let md = stdout(&h.plan(&["--base", &c[2], "--head", &c[3], "--format", "markdown"]));
    assert!(
        md.starts_with("<!-- kradle-plan -->\n### kradle plan"),
        "{md}"
    );
    assert!(md.find("[!CAUTION]").unwrap() < md.find("<details>").unwrap());
    assert!(md.contains("| Forge operations | 0 | 0 | 3 |"));
}

#[test]
fn head_that_does_not_compile_fails_and_base_that_does_not_is_all_added() {
    let mut h = History::new();
    h.write("platform/org.yaml", ORG);
    h.write("orgs/acme/repos.yaml", "kind: [\n");
    let broken = h.commit("broken");
    h.write(
        "orgs/acme/repos.yaml",
        &doc("Repository", "api", "visibility: private"),
    );
    let fixed = h.commit("fixed");

    let v = h.json(&broken, &fixed);
    assert_eq!(v["base"]["compiled"], false);
    assert_eq!(v["summary"]["objects"]["remove"], 0);
    assert!(
        v["summary"]["objects"]["add"].as_u64().unwrap() > 50,
        "everything in head is added"
    );

    let o = h.plan(&["--base", &fixed, "--head", &broken, "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("KR101"), "{err}");
    assert!(err.contains("the head does not compile"));
}

#[test]
fn working_tree_is_the_default_head() {
    let (h, c) = history();
    // The working tree equals the last commit.
    let o = h.plan(&["--base", &c[5], "--detailed-exitcode", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["head"]["source"], "working tree");
    h.write(
        "orgs/acme/more.yaml",
        &doc("Repository", "docs", "visibility: internal"),
    );
    assert_eq!(
        h.plan(&["--base", &c[5], "--detailed-exitcode"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn markdown_stays_within_githubs_limit_with_complete_counts() {
    let mut h = History::new();
    h.write("README.yaml", "# empty base\n");
    let empty = h.commit("empty");
    xtask::generate(&h.config(), 12).unwrap();
    let o = h.plan(&["--base", &empty, "--format", "markdown"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let md = stdout(&o);
    assert!(md.len() <= 65_536, "{} characters", md.len());
    assert!(md.contains("are cut to stay within GitHub's comment limit"));
    let v: Value =
        serde_json::from_slice(&h.plan(&["--base", &empty, "--format", "json"]).stdout).unwrap();
    let adds = v["summary"]["objects"]["add"].as_u64().unwrap();
    assert!(
        md.contains(&format!("| Kubernetes objects | {adds} | 0 | 0 |")),
        "counts stay complete"
    );
}

#[test]
fn a_config_folder_that_is_new_in_head_plans_everything_as_added() {
    let mut h = History::new();
    std::fs::write(h.dir.join("README.md"), "no config yet\n").unwrap();
    let base = h.commit("readme only");
    h.write("platform/org.yaml", ORG);
    let v = h.json(&base, "HEAD");
    // HEAD has no config folder either: both sides are empty and nothing changes.
    assert_eq!(v["objects"], serde_json::json!([]));
    let o = h.plan(&["--base", &base, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["base"]["compiled"], true);
    let added: Vec<&str> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(
        added.contains(&"Namespace") && added.contains(&"Organization"),
        "{added:?}"
    );
}

#[test]
fn a_failure_is_never_mistaken_for_changes() {
    let (h, c) = history();
    // --detailed-exitcode: 2 means "changes", so a bad --base is 1.
    let bad = h.plan(&["--base", "no-such-branch", "--detailed-exitcode"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr).into_owned();
    assert!(
        err.contains(
            "revision `no-such-branch` is not in this repository; check the name, or fetch it first"
        ),
        "{err}"
    );
    assert!(!err.contains("class="), "libgit2 internals leak: {err}");
    // Without it, kradle failing is 2, as for every command.
    assert_eq!(h.plan(&["--base", "no-such-branch"]).status.code(), Some(2));
    // A guard that cannot be switched off by accident.
    for bad in ["NaN", "inf", "-1", "101", "lots"] {
        let o = h.plan(&["--base", &c[2], "--max-removal", bad]);
        assert_eq!(o.status.code(), Some(2), "--max-removal {bad}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--max-removal"),
            "{bad}"
        );
    }
}

#[test]
fn a_shallow_clone_says_to_fetch_more_history() {
    let (h, _) = history();
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", h.dir.display());
    let status = Command::new("git")
        .args(["clone", "--quiet", "--depth", "1", &url])
        .arg(clone.path().join("c"))
        .status()
        .unwrap();
    assert!(status.success());
    let o = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .arg("plan")
        .arg(clone.path().join("c/config"))
        .args(["--base", "HEAD~1", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("the clone is shallow"), "{err}");
    assert!(err.contains("git fetch --unshallow"), "{err}");
}

#[test]
fn disabling_a_user_shows_its_grants_removed() {
    let mut h = History::new();
    h.write("platform/org.yaml", ORG);
    h.write("orgs/acme/people.yaml", &people());
    h.write(
        "orgs/acme/repos.yaml",
        &[
            doc("Repository", "api", "visibility: private"),
            permission("api", "linus", "write"),
        ]
        .concat(),
    );
    let base = h.commit("linus writes");
    h.write(
        "orgs/acme/people.yaml",
        &people().replace(
            "email: linus@acme.example",
            "email: linus@acme.example\n  disabled: true",
        ),
    );
    let head = h.commit("suspend linus");
    let v = h.json(&base, &head);
    let text = v.to_string();
    assert!(text.contains("revoke write on api from linus"), "{text}");
    assert!(
        text.contains("no longer require forge user linus"),
        "{text}"
    );
}

/// A declared object no forge plan carries out is never dropped silently:
/// an organization webhook of an organization whose repositories all live
/// on GitHub is listed with the reason, in `report.json` and by `kradle plan`.
#[test]
fn a_declared_object_the_plan_cannot_carry_out_is_listed_with_the_reason() {
    let mut h = History::new();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme-platform");
    support::copy_dir(&example, &h.config());
    let base = h.commit("the example");
    h.write(
        "orgs/globex/org-hook.yaml",
        &doc(
            "WebhookSubscription",
            "org-events",
            "url: https://hooks.globex.example/org\nevents: [repository]\ncontentType: json",
        ),
    );
    h.commit("an organization hook on globex");
    let v = h.json(&base, "HEAD");
    let skipped = v["skippedOperations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["organization"], "globex");
    assert_eq!(skipped[0]["id"], "webhook:org-events");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("spec.repository"),
        "{skipped:?}"
    );
    let human = h.plan(&["--base", &base, "--head", "HEAD", "--format", "human"]);
    let text = stdout(&human);
    assert!(text.contains("Not planned"), "{text}");
    assert!(text.contains("globex webhook:org-events"), "{text}");
    let markdown = h.plan(&["--base", &base, "--head", "HEAD", "--format", "markdown"]);
    assert!(
        stdout(&markdown).contains("**Not planned:**"),
        "{}",
        stdout(&markdown)
    );
    // `kradle build` says it too, not only report.json.
    let out = tempfile::tempdir().unwrap();
    let built = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .arg("build")
        .arg(h.config())
        .arg("--out")
        .arg(out.path().join("rendered"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&built.stderr);
    assert_eq!(built.status.code(), Some(0), "{said}");
    assert!(
        said.contains("warning: not planned: globex webhook:org-events: "),
        "{said}"
    );
}

#[test]
fn a_change_of_where_credentials_go_is_called_out_as_security_relevant() {
    let mut h = History::new();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/acme-platform");
    support::copy_dir(&example, &h.config());
    let base = h.commit("the example");
    // A permission change alone moves nothing security-relevant.
    h.write("orgs/acme/late.yaml", &permission("api", "ada", "read"));
    let quiet = h.commit("a read grant");
    let v = h.json(&base, &quiet);
    assert_eq!(v["summary"]["securityRelevant"], 0, "{v:#}");
    assert!(v.get("securityChanges").is_none(), "{v:#}");

    // The GitHub provider pointed at another host: its token would go there.
    let globex = h.config().join("orgs/globex/globex.yaml");
    let text = std::fs::read_to_string(&globex).unwrap();
    std::fs::write(
        &globex,
        text.replace(
            "endpoint: https://api.github.com",
            "endpoint: https://ghe.evil.example/api/v3",
        ),
    )
    .unwrap();
    let moved = h.commit("globex on another GitHub");
    let v = h.json(&quiet, &moved);
    assert_eq!(v["summary"]["securityRelevant"], 1, "{v:#}");
    let change = &v["securityChanges"][0];
    assert_eq!(change["kind"], "ExternalBackendProvider");
    assert_eq!(change["organization"], "globex");
    assert_eq!(change["path"], "spec.endpoint");
    assert_eq!(change["before"], "https://api.github.com");
    assert_eq!(change["after"], "https://ghe.evil.example/api/v3");
    assert_eq!(
        change["reason"],
        "the destination moves from https://api.github.com to https://ghe.evil.example"
    );

    let human = stdout(&h.plan(&["--base", &quiet, "--head", &moved, "--format", "human"]));
    assert!(
        human.contains("Security-relevant changes (where credentials, events or data go):"),
        "{human}"
    );
    assert!(
        human.contains("globex: ExternalBackendProvider github: spec.endpoint"),
        "{human}"
    );
    assert!(human.contains("; 1 security-relevant."), "{human}");
    let markdown = stdout(&h.plan(&["--base", &quiet, "--head", &moved, "--format", "markdown"]));
    assert!(
        markdown.contains("> **1 security-relevant change**"),
        "{markdown}"
    );
    assert!(
        markdown.contains("> - `globex: ExternalBackendProvider github: spec.endpoint"),
        "{markdown}"
    );

    // A new webhook sends events and its secret to its URL.
    h.write(
        "orgs/globex/hook.yaml",
        &doc(
            "WebhookSubscription",
            "ci-events",
            "repository: doomsday\nurl: https://collector.example/hook\nevents: [push]\ncontentType: json",
        ),
    );
    let hooked = h.commit("a webhook to a collector");
    let v = h.json(&moved, &hooked);
    let reasons: Vec<&str> = v["securityChanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(
            &"the forge sends events and the webhook secret to https://collector.example"
        ),
        "{reasons:?}"
    );
}

#[test]
fn a_revision_is_read_with_its_own_kradleignore() {
    let mut h = History::new();
    h.write("platform/org.yaml", ORG);
    h.write("orgs/acme/people.yaml", &people());
    let base = h.commit("base");
    // Not config: a draft in progress, and a tool's file with no apiVersion.
    h.write("drafts/next.yaml", "kind: Repository\nspec: [unfinished\n");
    h.write(".kradleignore", "# work in progress\ndrafts/\n");
    h.write(".pre-commit-config.yaml", "repos: []\n");
    h.write("orgs/acme/late.yaml", &permission("api", "ada", "read"));
    h.write(
        "orgs/acme/api.yaml",
        &doc("Repository", "api", "visibility: private"),
    );
    let head = h.commit("a repository, a draft, the hooks");
    let v = h.json(&base, &head);
    assert_eq!(v["head"]["errors"], 0, "{v:#}");
    assert!(
        v["summary"]["objects"]["add"].as_u64().unwrap() > 0,
        "{v:#}"
    );
    // Without the ignore file the draft is read, and head does not compile.
    h.remove(".kradleignore");
    let broken = h.commit("the ignore file dropped");
    let o = h.plan(&["--base", &base, "--head", &broken, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("drafts/next.yaml"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
