//! Trigger rules evaluated against comments, once per delivery.

use super::*;

// ---------------------------------------------------------------------------
// Triggers: each sync event evaluated against the org's AgentTriggerRules.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_evaluated_against_the_trigger_rules_once_per_delivery() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(&example(), &["--api-token-file", token_file]).await;
    // acme's `fix-on-comment`: issue comments on `api` by grace or alan
    // that start with `/kradle fix`.
    let comment = |id: u64, who: &str, body: &str| {
        serde_json::json!({
            "action": "created",
            "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
            "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                       "user": { "login": "alice" }, "labels": [], "assignees": null,
                       "pull_request": null, "updated_at": "2026-01-02T10:00:00Z" },
            "comment": { "id": id, "body": body, "user": { "login": who },
                         "updated_at": "2026-01-02T10:00:00Z" },
            "sender": { "login": who, "username": who },
            "is_pull": false,
        })
    };
    let send = |delivery: &'static str, body: serde_json::Value| {
        let server = &server;
        async move {
            let body = serde_json::to_vec(&body).unwrap();
            let status = gitea_event(
                server,
                "api-events",
                "issue_comment",
                delivery,
                &body,
                GITEA_SECRET,
            )
            .await;
            status.as_u16()
        }
    };
    for (delivery, body) in [
        ("t1", comment(1, "grace", "/kradle fix the flaky test")),
        ("t2", comment(2, "mallory", "/kradle fix it for me")),
        ("t3", comment(3, "alan", "thanks, looks good")),
    ] {
        // The second time is a redelivery, a duplicate: not evaluated again.
        assert_eq!(send(delivery, body.clone()).await, 202, "{delivery}");
        assert_eq!(send(delivery, body).await, 200, "{delivery}");
    }
    // The same comment again under another delivery id (a forge that sends
    // it twice): the same match within the rule's dedupWindow, recorded as
    // Deduplicated, no second run. A new comment asking again is a new
    // request.
    for (delivery, body) in [
        ("t4", comment(1, "grace", "/kradle fix the flaky test")),
        ("t5", comment(5, "grace", "/kradle fix it, please, again")),
    ] {
        assert_eq!(send(delivery, body).await, 202, "{delivery}");
        drained(&server.db).await;
    }
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, list) = api_get(
        &server,
        &format!("{ns}/agenttriggerexecutions"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let rows: Vec<(String, String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let reason = x["status"]["reason"].as_str().unwrap_or_default();
            // A deduplication says how long ago (it varies): its start.
            let reason = match reason.find(" dispatched ") {
                Some(at) if reason.starts_with("the same match") => &reason[..at + 11],
                _ => reason,
            };
            (
                x["spec"]["deliveryId"].as_str().unwrap().to_string(),
                x["status"]["phase"].as_str().unwrap().to_string(),
                reason.to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("t1".into(), "Dispatched".into(), String::new()),
            (
                "t2".into(),
                "Skipped".into(),
                "`mallory` is not an allowed actor".into()
            ),
            (
                "t3".into(),
                "Skipped".into(),
                "the comment does not match the pattern".into()
            ),
            (
                "t4".into(),
                "Deduplicated".into(),
                "the same match was dispatched".into()
            ),
            ("t5".into(), "Dispatched".into(), String::new()),
        ]
    );
    let first = &list["items"][0]["spec"];
    assert_eq!(first["triggerRule"], "fix-on-comment");
    assert_eq!(first["agentStack"], "fixer");
    assert_eq!(first["taskKind"], "fix");
    assert_eq!(
        first["sourceEvent"],
        "issue_comment:Issue:acme/api/issues/4"
    );
}
