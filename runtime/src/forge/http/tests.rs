use super::paging::{next_link, same_origin};
use super::*;

#[test]
fn next_links_are_found() {
    let link = r#"<https://api.github.com/orgs/x/repos?page=2&per_page=100>; rel="next", <https://api.github.com/orgs/x/repos?page=5>; rel="last""#;
    assert_eq!(
        next_link(link).as_deref(),
        Some("https://api.github.com/orgs/x/repos?page=2&per_page=100")
    );
    assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
}

#[test]
fn next_pages_stay_on_the_api_origin() {
    let base = "https://api.github.com";
    assert!(same_origin(
        base,
        "https://api.github.com/orgs/x/repos?page=2"
    ));
    assert!(same_origin(base, "https://API.github.com/x"));
    assert!(!same_origin(
        base,
        "https://evil.example/orgs/x/repos?page=2"
    ));
    assert!(!same_origin(base, "http://api.github.com/x"));
    assert!(!same_origin(base, "https://api.github.com.evil.example/x"));
    assert!(!same_origin(base, "https://api.github.com@evil.example/x"));
    assert!(same_origin(base, "/orgs/x/repos?page=2"));
    assert!(!same_origin(base, "//evil.example/x"));
}

#[test]
fn jitter_stays_in_range() {
    for _ in 0..1000 {
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }
}

#[test]
fn forge_messages_are_cut_and_made_safe() {
    let body = serde_json::json!({ "message": format!("bad\u{1b}[2J{}", "x".repeat(500)) });
    let m = forge_message(&body);
    assert!(!m.contains('\u{1b}'));
    assert!(m.chars().count() <= 220);
}

#[test]
fn github_s_validation_errors_say_what_failed() {
    // POST /repos/{owner}/{repo}/pulls for a head that has one already.
    let body = serde_json::json!({
        "message": "Validation Failed",
        "errors": [{ "resource": "PullRequest", "code": "custom",
                     "message": "A pull request already exists for acme:kradle/fix-4." }],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
    });
    assert_eq!(
        forge_message(&body),
        "Validation Failed: A pull request already exists for acme:kradle/fix-4."
    );
    let body = serde_json::json!({ "message": "Validation Failed",
        "errors": [{ "resource": "PullRequest", "field": "head", "code": "invalid" }] });
    assert_eq!(forge_message(&body), "Validation Failed: head invalid");
    assert_eq!(
        forge_message(&serde_json::json!({ "message": "Not Found" })),
        "Not Found"
    );
}
