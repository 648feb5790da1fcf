//! `kradle import --backend github` against a GitHub fake seeded by hand:
//! what kradle's model cannot say is imported as close as it can be, with a
//! note saying what the first apply changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use kradle_runtime::import::import_github;
use serde_json::json;
use support::fake_github::{FakeGitHub, Repo, TOKEN, Team};
use support::upstream::Api;

async fn seeded() -> FakeGitHub {
    let fake = FakeGitHub::start(Api::github()).await;
    fake.with(|w| {
        w.org("Initech");
        w.user("peter", Some("Initech"));
        w.user("milton", Some("Initech"));
        let repo = |name: &str, archived: bool| Repo {
            value: json!({ "id": 1, "name": name, "private": true, "visibility": "private",
                "default_branch": "main", "description": "TPS reports", "archived": archived }),
            branches: ["main".to_string()].into(),
            ..Repo::default()
        };
        let mut tps = repo("tps", false);
        tps.collaborators.insert("milton".into(), "triage".into());
        tps.protections.insert(
            "main".into(),
            json!({
                "required_status_checks": { "strict": false, "contexts": ["ci"] },
                "enforce_admins": { "enabled": true },
                "required_pull_request_reviews": { "dismiss_stale_reviews": true,
                    "required_approving_review_count": 2 },
                "restrictions": { "users": [], "teams": [] },
                "required_linear_history": { "enabled": true },
                "allow_force_pushes": { "enabled": false },
                "required_signatures": { "enabled": false },
            }),
        );
        tps.hooks.push(
            json!({ "id": 5, "name": "web", "active": true, "events": ["push"],
            "config": { "url": "https://ci.initech.example/hook", "content_type": "json" } }),
        );
        w.repos.insert(("Initech".into(), "tps".into()), tps);
        w.repos
            .insert(("Initech".into(), "stapler".into()), repo("stapler", true));
        w.repos.insert(
            ("Initech".into(), "Red.Stapler".into()),
            repo("Red.Stapler", false),
        );
        let team = |id: i64, name: &str, privacy: &str, repos: &[(&str, &str)]| Team {
            org: "Initech".into(),
            value: json!({ "id": id, "name": name, "slug": name.to_lowercase().replace(' ', "-"),
                "description": "", "privacy": privacy, "parent": null }),
            members: [("peter".to_string(), "maintainer".to_string())].into(),
            pending: Default::default(),
            repos: repos
                .iter()
                .map(|(r, p)| (r.to_string(), p.to_string()))
                .collect(),
        };
        w.teams
            .insert(20, team(20, "core", "secret", &[("tps", "maintain")]));
        w.teams.insert(21, team(21, "idle", "closed", &[]));
        w.teams
            .insert(22, team(22, "Core Devs", "closed", &[("tps", "push")]));
    });
    fake
}

#[tokio::test]
async fn what_the_model_cannot_say_is_noted() {
    let fake = seeded().await;
    let github = support::github_client(&fake.url, TOKEN);
    let imported = import_github(
        &github,
        "Initech",
        "https://ghe.example/api/v3",
        &kradle_runtime::import::Credential::default(),
    )
    .await
    .unwrap();
    let notes = imported.notes.join("\n");
    for expected in [
        "repository `stapler` is archived",
        "repository `Red.Stapler`: kradle names repositories as on the forge",
        "team `core` on `tps` has the `maintain` role",
        "team `core` is secret",
        "team `idle` holds no imported repository",
        "team `Core Devs`: kradle names GitHub teams after their Team",
        "collaborator `milton` on `tps` has the `triage` role",
        "branches must be up to date before merging; the push restrictions are lifted; linear history is no longer required",
        "user `peter`: the forge did not show an email",
        "`kradle apply` reads the GitHub token from Secret `kradle-org-initech/github-token`, key `token`",
    ] {
        assert!(notes.contains(expected), "{expected}\n---\n{notes}");
    }
    assert!(
        !notes.contains("pull requests become required"),
        "reviews are required already: {notes}"
    );
    assert!(
        !notes.contains("put its secret"),
        "the hook has no secret: {notes}"
    );
    assert_eq!(fake.with(|w| w.violations.clone()), Vec::<String>::new());

    let org = &imported.files["platform/organization-initech.yaml"];
    assert!(org.contains("name: initech\n"), "{org}");
    let backend = &imported.files["orgs/initech/backend.yaml"];
    assert!(backend.contains("organization: Initech"), "{backend}");
    assert!(
        backend.contains("endpoint: https://ghe.example/api/v3"),
        "{backend}"
    );
    assert!(backend.contains("repositories:\n    - tps\n"), "{backend}");
    let teams = &imported.files["orgs/initech/teams.yaml"];
    assert!(
        teams.contains("repository: tps\n    permission: write"),
        "{teams}"
    );
    assert_eq!(teams.matches("kind: Team").count(), 1, "{teams}");
    let protections = &imported.files["orgs/initech/protections.yaml"];
    assert!(protections.contains("requiredReviews: 2"), "{protections}");
    assert!(protections.contains("enforceAdmins: true"), "{protections}");
    assert!(!protections.contains("RefPolicy"), "{protections}");
    let hooks = &imported.files["orgs/initech/webhooks.yaml"];
    assert!(!hooks.contains("secretRef"), "{hooks}");
}
