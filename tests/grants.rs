//! Never grant more than declared: what the forge plans and RBAC give each
//! user and team, checked on small configs (issue 11, items 7-12).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use kradle_compiler::lower::BuildOptions;
use kradle_compiler::{Build, Sources, build};
use serde_json::Value;

fn org(extra: &str) -> String {
    format!(
        "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n{extra}"
    )
}

fn doc(kind: &str, name: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn user(name: &str, disabled: bool) -> String {
    doc(
        "User",
        name,
        &format!("displayName: {name}\nemail: {name}@acme.example\ndisabled: {disabled}"),
    )
}

fn compile_with(platform: &str, docs: &str) -> Build {
    let b = build(
        Sources::from_memory([
            ("platform.yaml", platform.to_string()),
            ("orgs/acme/all.yaml", docs.to_string()),
        ]),
        &BuildOptions {
            now: DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            repo_url: None,
            target_revision: None,
            path: None,
            origin_repo_url: None,
        },
    );
    assert!(!b.has_errors(), "{:#?}", b.validation.diagnostics);
    b
}

fn compile(docs: &str) -> Build {
    compile_with(&org(""), docs)
}

fn ops(b: &Build) -> Vec<Value> {
    b.output
        .plans
        .iter()
        .flat_map(|p| {
            serde_json::to_value(&p.operations)
                .unwrap()
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

fn op<'a>(ops: &'a [Value], id: &str) -> Option<&'a Value> {
    ops.iter().find(|o| o["id"] == id)
}

fn report(b: &Build) -> Value {
    serde_json::from_str(&b.files["report.json"]).unwrap()
}

#[test]
fn a_disabled_user_keeps_no_grant_and_the_report_says_why() {
    let docs = [
        user("grace", false),
        user("mallory", true),
        doc("Repository", "api", "visibility: private"),
        doc("Team", "core", "displayName: Core\nmembers: [grace, mallory]\nrepositoryGrants: [{ repository: api, permission: write }]"),
        doc("RepositoryPermission", "api-mallory", "repository: api\nsubject: mallory\npermission: admin"),
        doc("SSHKey", "mallory-laptop", "scope: user\nuser: mallory\nkey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl m@laptop"),
        doc("AgentRoleBinding", "mallory-view", "subject: { kind: User, name: mallory }\nroleRef: { kind: ClusterRole, name: view }\nscope: namespace"),
    ]
    .concat();
    let b = compile(&docs);
    let ops = ops(&b);
    assert!(op(&ops, "team-member:core:grace").is_some());
    for id in [
        "user:mallory",
        "team-member:core:mallory",
        "collaborator:api-mallory",
        "user-key:mallory-laptop",
    ] {
        assert!(
            op(&ops, id).is_none(),
            "{id} is planned for a disabled user"
        );
    }
    // No operation depends on something that is not planned.
    let ids: Vec<&str> = ops.iter().map(|o| o["id"].as_str().unwrap()).collect();
    for o in &ops {
        for d in o["dependsOn"].as_array().unwrap() {
            assert!(
                ids.contains(&d.as_str().unwrap()),
                "{} depends on missing {d}",
                o["id"]
            );
        }
    }
    assert!(
        b.output
            .objects
            .iter()
            .all(|o| o.name() != "mallory-view" || o.kind() != "RoleBinding")
    );
    let skipped = report(&b)["forge"]["skippedOperations"].to_string();
    for id in [
        "team-member:core:mallory",
        "collaborator:api-mallory",
        "user-key:mallory-laptop",
    ] {
        assert!(skipped.contains(id), "{id} missing from {skipped}");
    }
    assert!(skipped.contains("user `mallory` is disabled"));
    // And warnings point at each grant.
    let warnings = b
        .validation
        .diagnostics
        .iter()
        .filter(|d| d.code.info().code == "KR519")
        .count();
    assert_eq!(warnings, 4);
}

#[test]
fn a_gitea_team_gets_one_gitea_team_per_permission_level() {
    let docs = [
        user("grace", false),
        doc("Repository", "api", "visibility: private"),
        doc("Repository", "web", "visibility: private"),
        doc("Repository", "ops", "visibility: private"),
        doc("Team", "core", "displayName: Core\nmembers: [grace]\nrepositoryGrants:\n  - { repository: api, permission: write }\n  - { repository: web, permission: read }"),
        // A team subject is honoured with its own permission.
        doc("RepositoryPermission", "ops-core", "repository: ops\nsubject: core\nsubjectKind: team\npermission: read"),
    ]
    .concat();
    let ops = ops(&compile(&docs));
    assert_eq!(
        op(&ops, "team:core").unwrap()["body"]["permission"],
        "write"
    );
    assert_eq!(
        op(&ops, "team:core-read").unwrap()["body"]["permission"],
        "read"
    );
    assert!(op(&ops, "team-member:core-read:grace").is_some());
    let team_of = |repo: &str| {
        op(&ops, &format!("team-repo:core:{repo}")).unwrap()["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(team_of("api").starts_with("/teams/${op:team:core.id}/"));
    assert!(team_of("web").starts_with("/teams/${op:team:core-read.id}/"));
    assert!(team_of("ops").starts_with("/teams/${op:team:core-read.id}/"));
    // One level: one team, as before.
    let single = ops_of(
        &[
            doc("Repository", "api", "visibility: private"),
            doc(
                "Team",
                "solo",
                "displayName: S\nrepositoryGrants: [{ repository: api, permission: admin }]",
            ),
        ]
        .concat(),
    );
    assert_eq!(
        op(&single, "team:solo").unwrap()["body"]["permission"],
        "admin"
    );
    assert!(
        single
            .iter()
            .all(|o| !o["id"].as_str().unwrap().starts_with("team:solo-"))
    );
}

fn ops_of(docs: &str) -> Vec<Value> {
    ops(&compile(docs))
}

#[test]
fn organization_visibility_follows_the_config() {
    let create = |platform: &str, docs: &str| {
        op(&ops(&compile_with(platform, docs)), "org").unwrap()["body"]["visibility"].clone()
    };
    let private = doc("Repository", "api", "visibility: private");
    let public = doc("Repository", "docs", "visibility: public");
    assert_eq!(create(&org(""), &private), "private");
    assert_eq!(create(&org(""), &format!("{private}{public}")), "public");
    assert_eq!(create(&org("  visibility: limited\n"), &private), "limited");
    let b = compile_with(&org("  visibility: private\n"), &public);
    assert_eq!(
        op(&ops(&b), "org").unwrap()["body"]["visibility"],
        "private"
    );
    assert!(
        b.validation
            .diagnostics
            .iter()
            .any(|d| d.code.info().code == "KR520")
    );
}

#[test]
fn nothing_disappears_silently() {
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b";
    let docs = [
        doc("Repository", "api", "visibility: private"),
        doc("Repository", "web", "visibility: private"),
        doc("SSHKey", "bot", &format!("scope: automation\nkey: {key}")),
        doc(
            "BranchProtection",
            "api-main",
            "repository: api\nrefs: main",
        ),
        doc("RefPolicy", "signed", "signingPolicy: required"),
    ]
    .concat();
    let b = compile(&docs);
    let ops = ops(&b);
    assert_eq!(
        op(&ops, "protect:api-main:api:main").unwrap()["body"]["require_signed_commits"],
        true
    );
    let skipped = report(&b)["forge"]["skippedOperations"].to_string();
    assert!(
        skipped.contains("key:bot") && skipped.contains("automation key without a repository"),
        "{skipped}"
    );
    assert!(
        skipped.contains("signing:web"),
        "web has no branch protection: {skipped}"
    );
    // A deploy key is read-only unless it says otherwise, on every backend.
    let deploy = ops_of(&format!(
        "{}{}",
        doc("Repository", "api", "visibility: private"),
        doc(
            "SSHKey",
            "ci",
            &format!("scope: deploy\nrepository: api\nkey: {key}")
        )
    ));
    assert_eq!(
        op(&deploy, "deploy-key:ci").unwrap()["body"]["read_only"],
        true
    );
    let automation = ops_of(&format!(
        "{}{}",
        doc("Repository", "api", "visibility: private"),
        doc(
            "SSHKey",
            "bot",
            &format!("scope: automation\nrepository: api\nkey: {key}")
        )
    ));
    assert_eq!(
        op(&automation, "deploy-key:bot").unwrap()["body"]["read_only"],
        true
    );
}

#[test]
fn a_declared_namespace_binding_is_labelled_like_a_generated_one() {
    let generated = compile("");
    let binding = "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: OrgNamespaceBinding\nmetadata:\n  name: acme\nspec:\n  organizationRef: acme\n  namespace: kradle-org-acme\n";
    let declared = compile_with(&format!("{}{binding}", org("")), "");
    let labels = |b: &Build| {
        b.output
            .objects
            .iter()
            .find(|o| o.kind() == "OrgNamespaceBinding")
            .unwrap()
            .value["metadata"]["labels"]
            .clone()
    };
    assert_eq!(labels(&declared), labels(&generated));
    assert_eq!(labels(&declared)["kradle.a5c.ai/org"], "acme");
}
