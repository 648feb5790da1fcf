use serde_json::json;

use super::*;

fn origin(backend: &str) -> Origin {
    Origin {
        backend: backend.into(),
        repository: "acme/api".into(),
        number: Some(4),
        base: Some("main".into()),
    }
}

#[test]
fn a_comment_is_parsed_checked_and_marked() {
    let asked = parse(&json!({ "key": "c-1", "op": "comment", "body": "Fixed in #5." })).unwrap();
    assert_eq!(asked.key, "c-1");
    assert_eq!(asked.write.op(), "comment");
    let key = idempotency_key("acme", "fixer-1", "comment", "c-1");
    let call = asked.write.call(&origin("gitea"), &key).unwrap();
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, "/repos/acme/api/issues/4/comments");
    let body = call.body["body"].as_str().unwrap();
    assert!(body.starts_with("Fixed in #5."), "{body}");
    assert!(body.ends_with(&marker(&key)), "{body}");
}

#[test]
fn the_same_key_of_the_same_run_is_the_same_write_and_no_other() {
    let a = idempotency_key("acme", "fixer-1", "comment", "c-1");
    assert_eq!(a, idempotency_key("acme", "fixer-1", "comment", "c-1"));
    assert_ne!(a, idempotency_key("acme", "fixer-2", "comment", "c-1"));
    assert_ne!(a, idempotency_key("globex", "fixer-1", "comment", "c-1"));
    assert_ne!(a, idempotency_key("acme", "fixer-1", "comment", "c-2"));
    assert!(a.starts_with("idem-agent-comment-"), "{a}");
}

#[test]
fn hostile_writes_are_refused_with_the_reason() {
    let refused = |v: serde_json::Value| parse(&v).unwrap_err();
    assert_eq!(refused(json!([1])), BadWrite::NotAnObject);
    assert_eq!(
        refused(json!({ "op": "comment", "body": "x" })),
        BadWrite::Key
    );
    assert_eq!(
        refused(json!({ "key": "../../etc", "op": "comment", "body": "x" })),
        BadWrite::Key
    );
    assert!(matches!(
        refused(json!({ "key": "k", "op": "merge", "branch": "x" })),
        BadWrite::Shape(_)
    ));
    // An unknown field is not ignored.
    assert!(matches!(
        refused(json!({ "key": "k", "op": "comment", "body": "x", "path": "/etc/passwd" })),
        BadWrite::Shape(_)
    ));
    assert_eq!(
        refused(json!({ "key": "k", "op": "comment", "body": "  " })),
        BadWrite::Empty { field: "body" }
    );
    assert_eq!(
        refused(json!({ "key": "k", "op": "comment", "body": "x".repeat(MAX_BODY + 1) })),
        BadWrite::TooLong {
            field: "body",
            max: MAX_BODY
        }
    );
    for branch in [
        "-x", "a..b", "a b", "a~1", ".hidden", "x.lock", "a//b", "@{-1}", "",
    ] {
        let e =
            refused(json!({ "key": "k", "op": "pull-request", "branch": branch, "title": "t" }));
        assert!(
            matches!(e, BadWrite::Ref { .. } | BadWrite::Empty { .. }),
            "{branch}: {e}"
        );
    }
    assert_eq!(
        refused(
            json!({ "key": "k", "op": "pull-request", "branch": "main", "base": "main", "title": "t" })
        ),
        BadWrite::SameBranch
    );
    assert_eq!(
        refused(
            json!({ "key": "k", "op": "pull-request", "branch": "fix", "title": "a\u{1b}[2Jb" })
        ),
        BadWrite::Control { field: "title" }
    );
    assert_eq!(
        refused(json!({ "key": "k", "op": "status", "sha": "abc", "state": "success" })),
        BadWrite::Sha
    );
    assert!(matches!(
        refused(json!({ "key": "k", "op": "status", "sha": "a".repeat(40), "state": "done" })),
        BadWrite::Shape(_)
    ));
    assert_eq!(
        refused(
            json!({ "key": "k", "op": "status", "sha": "a".repeat(40), "state": "success",
                        "targetUrl": "javascript:alert(1)" })
        ),
        BadWrite::Url
    );
}

#[test]
fn a_secret_looking_value_is_refused_and_never_repeated() {
    let token = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    let e =
        parse(&json!({ "key": "k", "op": "comment", "body": format!("use {token}") })).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, BadWrite::Secret { field: "body", .. }),
        "{text}"
    );
    assert!(!text.contains(token), "{text}");
    let e = parse(&json!({ "key": "k", "op": "pull-request", "branch": "fix",
                           "title": "t", "body": "AWS_SECRET_ACCESS_KEY=abcdefghijklmnop1234" }))
    .unwrap_err();
    assert!(matches!(e, BadWrite::Secret { field: "body", .. }), "{e}");
}

#[test]
fn a_pull_request_goes_to_the_runs_ref_unless_it_names_a_base() {
    let w = parse(
        &json!({ "key": "p", "op": "pull-request", "branch": "refs/heads/kradle/fix-4",
                           "title": "Fix the flaky test" }),
    )
    .unwrap()
    .write;
    let call = w.call(&origin("github"), "idem").unwrap();
    assert_eq!(call.path, "/repos/acme/api/pulls");
    assert_eq!(call.body["head"], "kradle/fix-4");
    assert_eq!(call.body["base"], "main");
    assert_eq!(
        w.lookup(&origin("github"), &call),
        "/repos/acme/api/pulls?state=all&head=acme:kradle/fix-4"
    );
    assert_eq!(
        w.lookup(&origin("gitea"), &call),
        "/repos/acme/api/pulls?state=all&sort=recentupdate"
    );
    let mut no_base = origin("gitea");
    no_base.base = None;
    assert_eq!(w.call(&no_base, "idem").unwrap_err(), NoTarget::NoBase);
    // An open pull request of the same head and base is the write.
    let listed = json!([{ "number": 9, "state": "open", "head": { "ref": "kradle/fix-4" },
                          "base": { "ref": "main" }, "html_url": "http://f/acme/api/pulls/9" }]);
    let found = w.found(&call, &listed, "idem").unwrap();
    assert_eq!(summary(&found)["number"], 9);
    let other = json!([{ "number": 9, "state": "open", "head": { "ref": "other" },
                         "base": { "ref": "main" } }]);
    assert_eq!(w.found(&call, &other, "idem"), None);
}

#[test]
fn a_comment_needs_an_issue_and_is_found_by_its_marker() {
    let w = Write::Comment {
        body: "done".into(),
    };
    let mut none = origin("github");
    none.number = None;
    assert_eq!(w.call(&none, "k1").unwrap_err(), NoTarget::NoIssue);
    let call = w.call(&origin("github"), "k1").unwrap();
    let listing = json!([{ "id": 1, "body": "done" },
                         { "id": 2, "body": format!("done\n\n{}", marker("k1")) }]);
    assert_eq!(w.found(&call, &listing, "k1").unwrap()["id"], 2);
    assert_eq!(w.found(&call, &listing, "k2"), None);
}

#[test]
fn a_status_differs_by_forge_only_where_it_is_read() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let w = parse(
        &json!({ "key": "s", "op": "status", "sha": sha, "state": "success",
                           "description": "tests pass" }),
    )
    .unwrap()
    .write;
    let call = w.call(&origin("gitea"), "k").unwrap();
    assert_eq!(call.path, format!("/repos/acme/api/statuses/{sha}"));
    assert_eq!(
        call.body,
        json!({ "state": "success", "context": "kradle", "description": "tests pass" })
    );
    assert_eq!(
        w.lookup(&origin("github"), &call),
        format!("/repos/acme/api/commits/{sha}/statuses")
    );
    let listing = json!([{ "state": "pending", "context": "kradle", "description": "tests pass" },
                         { "state": "success", "context": "kradle", "description": "tests pass" }]);
    assert!(w.found(&call, &listing, "k").is_some());
    // Anything but a list holds nothing.
    assert!(w.found(&call, &listing[1], "k").is_none());
    assert!(w.found(&call, &json!([listing[0]]), "k").is_none());
}

#[test]
fn the_stack_gates_each_write() {
    let none = json!({});
    assert_eq!(gate("comment", None, &none), Gate::Send);
    assert_eq!(gate("comment", Some("secret-access"), &none), Gate::Send);
    assert!(matches!(
        gate("comment", Some("write-back"), &none),
        Gate::Approval(_)
    ));
    let tools = json!({ "approvalPolicyByTool": { "pull-request": "required", "comment": "never" },
                        "denyList": ["status"] });
    assert!(
        matches!(gate("pull-request", None, &tools), Gate::Approval(why) if why.contains("pull-request: required"))
    );
    assert_eq!(gate("comment", None, &tools), Gate::Send);
    assert!(matches!(
        gate("status", Some("write-back"), &tools),
        Gate::Denied(_)
    ));
}

#[test]
fn the_origin_comes_from_the_event_and_refuses_odd_names() {
    let payload = json!({ "repository": { "full_name": "acme/api", "default_branch": "main" },
                          "issue": { "number": 4 } });
    assert_eq!(Origin::of("gitea", &payload, None), Some(origin("gitea")));
    let pr = json!({ "repository": { "full_name": "acme/api" }, "pull_request": { "number": 7 } });
    let o = Origin::of("github", &pr, Some("feature")).unwrap();
    assert_eq!((o.number, o.base.as_deref()), (Some(7), Some("feature")));
    for bad in ["acme/../x", "acme", "ac me/api", "acme/api/x"] {
        let p = json!({ "repository": { "full_name": bad } });
        assert_eq!(Origin::of("github", &p, None), None, "{bad}");
    }
}

#[test]
fn a_duplicate_pull_request_is_told_apart_from_a_refusal() {
    assert!(already_exists(
        409,
        "pull request already exists for these targets [id: 1, issue_id: 2]"
    ));
    assert!(already_exists(
        422,
        "Validation Failed: A pull request already exists for acme:fix."
    ));
    assert!(!already_exists(422, "Validation Failed: head invalid"));
    assert!(!already_exists(404, "already exists"));
}

#[test]
fn labels_are_checked_and_added_in_one_call() {
    let w = parse(&json!({ "key": "l", "op": "labels", "add": ["triage"], "remove": ["bug"] }))
        .unwrap()
        .write;
    assert_eq!(w.op(), "labels");
    let call = w.call(&origin("gitea"), "k").unwrap();
    assert_eq!(call.path, "/repos/acme/api/issues/4/labels");
    assert_eq!(call.body, json!({ "labels": ["triage"] }));
    let refused = |v: serde_json::Value| parse(&v).unwrap_err();
    assert_eq!(
        refused(json!({ "key": "l", "op": "labels" })),
        BadWrite::Labels
    );
    assert_eq!(
        refused(json!({ "key": "l", "op": "labels", "add": ["a"], "remove": ["a"] })),
        BadWrite::Labels
    );
    assert_eq!(
        refused(json!({ "key": "l", "op": "labels", "add": ["x".repeat(MAX_LABEL + 1)] })),
        BadWrite::TooLong {
            field: "labels",
            max: MAX_LABEL
        }
    );
    let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i}")).collect();
    assert_eq!(
        refused(json!({ "key": "l", "op": "labels", "add": many })),
        BadWrite::Labels
    );
}
