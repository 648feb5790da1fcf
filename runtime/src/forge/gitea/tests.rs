use super::*;

#[tokio::test]
async fn a_team_answered_with_units_map_only_matches() {
    // No server: the list is already cached.
    let gitea =
        Gitea::new(Http::new("http://127.0.0.1:1/api/v1", None, Default::default()).unwrap());
    gitea.cache.put(
        "/orgs/acme/teams",
        &[
            json!({ "id": 7, "name": "core", "description": "Core", "permission": "write",
                  "units": null, "units_map": { "repo.code": "write", "repo.pulls": "write" },
                  "includes_all_repositories": false, "can_create_org_repo": false }),
        ],
    );
    let op: Operation = serde_json::from_value(json!({
        "id": "team:core", "target": { "owner": "acme", "team": "core" },
        "action": "createTeam", "method": "POST", "path": "/orgs/acme/teams",
        "body": { "name": "core", "description": "Core", "permission": "write",
                  "units": ["repo.pulls", "repo.code"], "includes_all_repositories": false,
                  "can_create_org_repo": false },
        "idempotencyKey": "k", "dependsOn": []
    }))
    .unwrap();
    let decision = gitea.decide(&op, Some("/orgs/acme/teams")).await.unwrap();
    assert!(matches!(decision, Decision::Matches(_)), "{decision:?}");
}
