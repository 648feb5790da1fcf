use super::*;

fn phase_text(status: Option<&str>, conclusion: Option<&str>) -> &'static str {
    phase(status, conclusion).as_str()
}

#[test]
fn outcomes_are_the_texts_the_migration_allows() {
    let migration = include_str!("../../migrations/0004_sync.sql");
    let check = migration
        .split("CHECK (outcome IN (")
        .nth(1)
        .and_then(|rest| rest.split("))").next())
        .expect("the outcome CHECK");
    let allowed: Vec<&str> = check.split(", ").map(|t| t.trim_matches('\'')).collect();
    let ours: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(ours, allowed);
    assert_eq!(Outcome::parse("applied"), Some(Outcome::Applied));
    assert_eq!(Outcome::parse("Applied"), None);
}

#[test]
fn run_phases_follow_the_spec() {
    assert_eq!(phase_text(Some("queued"), None), "Queued");
    assert_eq!(phase_text(Some("in_progress"), None), "Running");
    assert_eq!(phase_text(Some("completed"), Some("success")), "Succeeded");
    assert_eq!(phase_text(Some("completed"), Some("failure")), "Failed");
    assert_eq!(phase_text(Some("completed"), Some("timed_out")), "Failed");
    assert_eq!(
        phase_text(Some("completed"), Some("cancelled")),
        "Cancelled"
    );
    assert_eq!(phase_text(Some("waiting"), None), "Pending");
}

#[test]
fn names_are_kubernetes_names() {
    assert_eq!(dns_name("github-Hello_World-12"), "github-hello-world-12");
    assert_eq!(dns_name("--a..b--"), "a..b");
    assert_eq!(dns_name(&"x".repeat(300)).len(), 253);
    assert_eq!(dns_label(&"x".repeat(100)).len(), 63);
}

#[test]
fn gitea_event_names_map_to_githubs() {
    let review = json!({ "review": { "type": "pull_request_review_approved" } });
    assert_eq!(
        canonical_event("gitea", "issue_label", &json!({})),
        "issues"
    );
    assert_eq!(
        canonical_event("gitea", "pull_request_sync", &json!({})),
        "pull_request"
    );
    assert_eq!(
        canonical_event("gitea", "pull_request_approved", &review),
        "pull_request_review"
    );
    assert_eq!(
        canonical_event("github", "issue_label", &json!({})),
        "issue_label"
    );
}

#[test]
fn a_comment_on_a_pull_request_refreshes_the_pull_request() {
    let payload = json!({
        "action": "created",
        "repository": { "full_name": "acme/widgets", "name": "widgets" },
        "issue": { "number": 3, "title": "t", "state": "open",
                   "pull_request": { "url": "x" },
                   "updated_at": "2024-01-01T00:00:00Z" },
        "comment": { "id": 1 }
    });
    let e = normalize("github", "acme", "issue_comment", &payload).unwrap();
    assert_eq!(e.resource_kind, "PullRequest");
    assert_eq!(e.native_id, "acme/widgets/pulls/3");
    let Some(Change::Upsert(p)) = e.change else {
        panic!("a projection")
    };
    assert_eq!(p.name, "github-widgets-3");
    assert_eq!(p.labels["kradle.a5c.ai/org"], "acme");
}

#[test]
fn a_payload_without_its_object_is_refused() {
    let e = normalize("github", "acme", "issues", &json!({ "action": "opened" }));
    assert_eq!(e.unwrap_err().missing, "issue");
}
