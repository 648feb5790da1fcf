//! `kradle import` against a Gitea fake seeded by hand: what kradle's model
//! cannot say is left out with a note, and teams per level fold into one
//! Team whatever order Gitea lists them in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use kradle_runtime::import::import_gitea;
use serde_json::json;
use support::fake_gitea::{FakeGitea, Team};
use support::upstream::Api;

fn team(
    org: &str,
    id: i64,
    name: &str,
    permission: &str,
    members: &[&str],
    repos: &[&str],
) -> Team {
    Team {
        org: org.into(),
        value: json!({ "id": id, "name": name, "description": name, "permission": permission,
            "units": ["repo.code"], "includes_all_repositories": false, "can_create_org_repo": false }),
        members: members.iter().map(|m| m.to_string()).collect(),
        repos: repos.iter().map(|r| r.to_string()).collect(),
    }
}

async fn seeded(lower_first: bool) -> FakeGitea {
    let fake = FakeGitea::start(Api::gitea()).await;
    fake.with(|w| {
        w.orgs.insert(
            "initech".into(),
            json!({ "id": 1, "username": "initech", "full_name": "Initech", "visibility": "limited" }),
        );
        for u in ["peter", "milton"] {
            w.users.insert(u.into());
        }
        for (id, name, archived) in [(10, "tps", false), (11, "stapler", true), (12, "docs", false)] {
            w.repos.insert(
                ("initech".into(), name.into()),
                json!({ "id": id, "name": name, "private": true, "default_branch": "main",
                        "description": "", "archived": archived }),
            );
        }
        let (a, b) = if lower_first { (20, 21) } else { (21, 20) };
        w.teams.insert(a, team("initech", a, "core-read", "read", &["peter"], &["docs"]));
        w.teams.insert(b, team("initech", b, "core", "write", &["peter"], &["tps"]));
        w.teams.insert(30, team("initech", 30, "Owners", "owner", &["milton"], &[]));
    });
    fake
}

#[tokio::test]
async fn teams_per_level_fold_into_one_team_in_any_order() {
    for lower_first in [true, false] {
        let fake = seeded(lower_first).await;
        let imported = import_gitea(&fake.client(), "initech", "test")
            .await
            .unwrap();
        let teams = &imported.files["orgs/initech/teams.yaml"];
        assert_eq!(teams.matches("kind: Team").count(), 1, "{teams}");
        assert!(teams.contains("name: core\n"), "{teams}");
        assert!(
            teams.contains("repository: docs\n    permission: read"),
            "{teams}"
        );
        assert!(
            teams.contains("repository: tps\n    permission: write"),
            "{teams}"
        );
        let org = &imported.files["platform/organization-initech.yaml"];
        assert!(org.contains("visibility: limited"), "{org}");
    }
}

#[tokio::test]
async fn what_the_model_cannot_say_is_left_out_with_a_note() {
    let fake = seeded(true).await;
    let imported = import_gitea(&fake.client(), "initech", "test")
        .await
        .unwrap();
    let notes = imported.notes.join("\n");
    assert!(
        notes.contains("team `Owners` has permission `owner`"),
        "{notes}"
    );
    assert!(
        notes.contains("repository `stapler` is archived"),
        "{notes}"
    );
    let repos = &imported.files["orgs/initech/repositories.yaml"];
    assert!(!repos.contains("stapler"), "{repos}");
    assert!(
        !imported.files.values().any(|f| f.contains("milton")),
        "only users named by what was imported"
    );
}
