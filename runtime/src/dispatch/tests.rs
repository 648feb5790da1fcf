use super::*;
use serde_json::json;

fn rules() -> Triggers {
    let objects = [
        json!({ "kind": "AgentTriggerRule",
            "metadata": { "name": "fix-on-comment", "labels": { "kradle.a5c.ai/org": "acme" } },
            "spec": { "sources": ["issue_comment"], "agentStack": "fixer", "taskKind": "fix",
                      "repository": "api", "allowedActors": ["grace"],
                      "commentTrigger": { "pattern": "^/kradle fix\\b", "repos": ["api"] } } }),
        json!({ "kind": "AgentTriggerRule",
            "metadata": { "name": "label-fix", "labels": { "kradle.a5c.ai/org": "acme" } },
            "spec": { "sources": ["issues"], "agentStack": "fixer", "taskKind": "fix",
                      "labelTrigger": { "labels": ["agent-fix"], "action": "labeled" } } }),
        json!({ "kind": "AgentTriggerRule",
            "metadata": { "name": "off", "labels": { "kradle.a5c.ai/org": "acme" } },
            "spec": { "sources": ["issues"], "agentStack": "fixer", "taskKind": "fix",
                      "enabled": false } }),
        json!({ "kind": "AgentTriggerRule",
            "metadata": { "name": "ci-failed", "labels": { "kradle.a5c.ai/org": "acme" } },
            "spec": { "sources": ["workflow_run"], "agentStack": "fixer", "taskKind": "fix",
                      "webhookTrigger": { "url": "https://x", "events": ["*"], "action": "completed",
                                          "conclusions": ["failure", "timed_out"] } } }),
    ];
    let (triggers, warnings) = Triggers::from_objects(objects.iter());
    assert!(warnings.is_empty());
    triggers
}

fn decisions(t: &Triggers, e: &TriggerEvent<'_>) -> Vec<(String, Decision)> {
    t.evaluate("acme", e)
        .into_iter()
        .map(|(r, d)| (r.name.clone(), d))
        .collect()
}

#[test]
fn a_comment_fires_only_from_an_allowed_actor_with_the_pattern() {
    let t = rules();
    assert_eq!(t.len(), 3, "the disabled rule is left out");
    let mut e = TriggerEvent {
        event_type: "issue_comment",
        action: Some("created"),
        repository: Some("api"),
        actor: Some("grace"),
        comment: Some("/kradle fix the flaky test"),
        label: None,
        conclusion: None,
    };
    assert_eq!(
        decisions(&t, &e),
        [("fix-on-comment".into(), Decision::Dispatching)]
    );
    e.comment = Some("please /kradle fix");
    assert_eq!(decisions(&t, &e)[0].1.phase().as_str(), "Skipped");
    e.comment = Some("/kradle fix");
    e.actor = Some("mallory");
    assert_eq!(
        decisions(&t, &e)[0].1,
        Decision::Skipped("`mallory` is not an allowed actor".into())
    );
    e.actor = Some("grace");
    e.repository = Some("web");
    assert_eq!(decisions(&t, &e)[0].1.phase().as_str(), "Skipped");
    assert!(t.evaluate("globex", &e).is_empty(), "rules are per org");
}

#[test]
fn a_label_fires_when_added_not_when_removed() {
    let t = rules();
    let mut e = TriggerEvent {
        event_type: "issues",
        action: Some("labeled"),
        repository: Some("api"),
        label: Some("agent-fix"),
        ..TriggerEvent::default()
    };
    assert_eq!(
        decisions(&t, &e),
        [("label-fix".into(), Decision::Dispatching)]
    );
    e.action = Some("unlabeled");
    assert_eq!(decisions(&t, &e)[0].1.phase().as_str(), "Skipped");
    e.action = Some("labeled");
    e.label = Some("bug");
    assert_eq!(decisions(&t, &e)[0].1.phase().as_str(), "Skipped");
}

#[test]
fn a_webhook_trigger_filters_by_action_and_conclusion_and_a_bad_pattern_turns_its_rule_off() {
    let t = rules();
    let payload = json!({ "workflow_run": { "conclusion": "failure", "head_branch": "main" },
                          "repository": { "name": "api" } });
    let event = SyncEvent {
        event_type: "workflow_run".into(),
        action: Some("completed".into()),
        resource_kind: "Pipeline",
        native_id: "1".into(),
        repository: None,
        updated_at: None,
        change: None,
    };
    let mut e = TriggerEvent::of(&event, &payload);
    assert_eq!(e.conclusion, Some("failure"));
    assert_eq!(
        decisions(&t, &e),
        [("ci-failed".into(), Decision::Dispatching)]
    );
    e.conclusion = Some("timed_out");
    assert_eq!(decisions(&t, &e)[0].1.phase().as_str(), "Dispatching");
    e.conclusion = Some("success");
    let skipped = decisions(&t, &e);
    assert_eq!(skipped[0].1.phase().as_str(), "Skipped");
    e.conclusion = None;
    assert_eq!(decisions(&t, &e)[0].1.phase().as_str(), "Skipped");
    e.conclusion = Some("failure");
    e.action = Some("requested");
    assert_eq!(decisions(&t, &e)[0].1.phase().as_str(), "Skipped");

    let huge = json!({ "kind": "AgentTriggerRule",
        "metadata": { "name": "huge", "labels": { "kradle.a5c.ai/org": "acme" } },
        "spec": { "sources": ["issue_comment"], "agentStack": "s", "taskKind": "k",
                  "commentTrigger": { "pattern": "(a{1000}){1000}" } } });
    let (t, warnings) = Triggers::from_objects([&huge]);
    assert!(t.is_empty());
    assert!(warnings[0].contains("does not compile"), "{warnings:?}");
}

#[test]
fn a_gitea_label_update_is_evaluated_per_label_changed_once_per_rule() {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let changes = label_changes(
        &strings(&["bug", "old"]),
        &strings(&["bug", "agent-fix", "p1"]),
    );
    assert_eq!(
        changes,
        [
            ("agent-fix".to_string(), "labeled"),
            ("p1".to_string(), "labeled"),
            ("old".to_string(), "unlabeled"),
        ]
    );
    let t = rules();
    let views: Vec<TriggerEvent<'_>> = changes
        .iter()
        .map(|(label, action)| TriggerEvent {
            event_type: "issues",
            action: Some(action),
            label: Some(label),
            ..TriggerEvent::default()
        })
        .collect();
    // `p1` and `old` alone would skip; `agent-fix` matches: one
    // decision for the rule, the match.
    let all = t.evaluate_all("acme", &views);
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].0.name.as_str(), &all[0].1),
        ("label-fix", &Decision::Dispatching)
    );
    let all = t.evaluate_all("acme", &views[1..]);
    assert_eq!(
        all[0].1,
        Decision::Skipped("label `p1` is not one of the trigger's".into())
    );
}

#[test]
fn a_happening_seen_twice_has_one_key_and_two_happenings_two() {
    let source = "issues:Issue:acme/api/issues/4";
    let view = TriggerEvent {
        event_type: "issues",
        action: Some("edited"),
        ..TriggerEvent::default()
    };
    let edit = |at: &str| serde_json::json!({ "issue": { "updated_at": at } });
    let first = match_key(source, &view, &edit("2026-01-02T10:00:00Z"));
    assert_eq!(
        first,
        match_key(source, &view, &edit("2026-01-02T10:00:00Z"))
    );
    assert_ne!(
        first,
        match_key(source, &view, &edit("2026-01-02T10:05:00Z"))
    );
    // A comment is its id, whatever the time.
    let comment = |id: i64, at: &str| serde_json::json!({ "comment": { "id": id }, "issue": { "updated_at": at } });
    let created = TriggerEvent {
        action: Some("created"),
        ..view.clone()
    };
    assert_eq!(
        match_key(source, &created, &comment(1, "a")),
        match_key(source, &created, &comment(1, "b"))
    );
    assert_ne!(
        match_key(source, &created, &comment(1, "a")),
        match_key(source, &created, &comment(2, "a"))
    );
    // Each label change is its own.
    let labeled = |label| TriggerEvent {
        action: Some("labeled"),
        label: Some(label),
        ..view.clone()
    };
    let same = edit("t");
    assert_ne!(
        match_key(source, &labeled("bug"), &same),
        match_key(source, &labeled("p1"), &same)
    );
}

#[test]
fn a_ref_a_checkout_may_not_take_is_unrunnable() {
    assert_eq!(unrunnable(Some("api"), Some("main")), None);
    assert!(unrunnable(Some("api"), Some("../../etc")).is_some());
    assert!(unrunnable(Some("a b"), Some("main")).is_some());
    assert!(unrunnable(Some("api"), Some("-x")).is_some());
}

#[test]
fn a_checkout_clones_only_from_a_plain_http_url() {
    let of = |url: &str| clone_url_of(&json!({ "repository": { "clone_url": url } }));
    assert_eq!(
        of("https://gitea.acme.test/acme/api.git").as_deref(),
        Some("https://gitea.acme.test/acme/api.git")
    );
    assert!(of("http://gitea:3000/acme/api.git").is_some());
    for bad in [
        "https://user:token@gitea/acme/api.git",
        "file:///etc/passwd",
        "ssh://git@gitea/acme/api.git",
        "ext::sh -c touch% /tmp/pwned",
        "https://gitea/acme/api.git --upload-pack=x",
        "https:///acme/api.git",
    ] {
        assert_eq!(of(bad), None, "{bad}");
    }
    assert_eq!(clone_url_of(&json!({ "repository": {} })), None);
}

#[test]
fn a_plain_ref_is_what_git_takes_as_a_branch() {
    for ok in ["main", "kradle/fix-4", "release-1.2", "feature/a_b"] {
        assert!(is_plain_ref(ok), "{ok}");
    }
    for bad in [
        "", "-x", "a..b", "a b", "a~1", ".hidden", "x.lock", "a//b", "@{-1}", "a/", "a.", "a\u{7f}",
    ] {
        assert!(!is_plain_ref(bad), "{bad}");
    }
}
