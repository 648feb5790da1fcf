//! Write-back: issue changes sent to GitHub and Gitea once, merged with what the
//! forge gained, conflicts held for a person.

use super::*;

// ---------------------------------------------------------------------------
// Write-back: `kradle issues set`, sent by the serve workers.

/// The example with its GitHub provider at `fake`, a token for the
/// binding, and the sync policy's `conflictResolution` set to `resolution`.
pub(crate) fn writeback_config(
    fake: &support::fake_github::FakeGitHub,
    resolution: &str,
) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let globex = config.path().join("orgs/globex/globex.yaml");
    let text = std::fs::read_to_string(&globex)
        .unwrap()
        .replace("https://api.github.com", &fake.url)
        .replace(
            "credentialRef: { name: github-app }",
            "credentialRef: { name: github-token, key: token }",
        )
        .replace(
            "conflictResolution: prefer-external",
            &format!("conflictResolution: {resolution}"),
        );
    assert!(text.contains(&format!("conflictResolution: {resolution}")));
    std::fs::write(&globex, text).unwrap();
    config
}

/// A fake GitHub whose globex/doomsday has issue 7, labelled `bug`, and
/// knows the users alice and bob.
pub(crate) async fn fake_with_issue_7() -> support::fake_github::FakeGitHub {
    use support::fake_github::{FakeGitHub, Repo};
    let fake = FakeGitHub::start(support::upstream::Api::github()).await;
    fake.with(|w| {
        w.org("globex");
        w.user("alice", Some("globex"));
        w.user("bob", Some("globex"));
        let mut issue = fake_issue(7, "Doomsday clock", "2026-01-02T10:00:00Z", false);
        issue["labels"] = serde_json::json!([{ "name": "bug" }]);
        let repo = Repo {
            value: serde_json::json!({ "name": "doomsday", "full_name": "globex/doomsday" }),
            issues: vec![issue],
            ..Repo::default()
        };
        w.repos.insert(("globex".into(), "doomsday".into()), repo);
    });
    fake
}

/// Delivers issue 7 as the fake has it (its `issues.edited` webhook), and
/// waits for its projection.
pub(crate) async fn deliver_issue_7(
    server: &Server,
    fake: &support::fake_github::FakeGitHub,
    id: &str,
) {
    let issue = fake.with(|w| w.repos[&("globex".into(), "doomsday".into())].issues[0].clone());
    let mut body: serde_json::Value =
        serde_json::from_slice(&issue_event("edited", "x", "2026-01-01T00:00:00Z")).unwrap();
    body["issue"] = issue.clone();
    let body = serde_json::to_vec(&body).unwrap();
    assert_eq!(
        github(
            server,
            "github-doomsday",
            "issues",
            id,
            &body,
            GITHUB_SECRET
        )
        .await
        .as_u16(),
        202
    );
    until_title(&server.db, "Issue", 7, issue["title"].as_str().unwrap()).await;
}

/// Runs the kradle CLI on the server's database: (exit code, stdout, stderr).
pub(crate) fn kradle(server: &Server, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(args)
        .env("KRADLE_DATABASE_URL", &server.db.url)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads with `read` until `done` holds for what it returns, and returns
/// that; fails with `what` and the last value read after a deadline.
pub(crate) async fn poll_until<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut read: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {value:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A projection's spec, by name.
pub(crate) async fn spec_of(pool: &sqlx::PgPool, name: &str) -> serde_json::Value {
    sqlx::query_scalar("SELECT spec FROM kradle_projections WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `kradle issues set github-doomsday-7 --org globex ARGS…`.
pub(crate) fn set_issue_7(server: &Server, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["issues", "set", "github-doomsday-7", "--org", "globex"];
    all.extend_from_slice(args);
    kradle(server, &all)
}

pub(crate) fn patches(fake: &support::fake_github::FakeGitHub) -> usize {
    fake.with(|w| {
        w.writes
            .iter()
            .filter(|r| *r == "PATCH /repos/globex/doomsday/issues/7")
            .count()
    })
}

pub(crate) fn fake_issue_7(fake: &support::fake_github::FakeGitHub) -> serde_json::Value {
    fake.with(|w| w.repos[&("globex".into(), "doomsday".into())].issues[0].clone())
}

pub(crate) fn label_names(issue: &serde_json::Value) -> Vec<String> {
    issue["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_change_is_written_back_once_merged_with_what_the_forge_gained() {
    let fake = fake_with_issue_7().await;
    let config = writeback_config(&fake, "prefer-external");
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), "reader-token\n").unwrap();
    let token_file = tokens.path().to_str().unwrap();
    let server = start_with(config.path(), &["--api-token-file", token_file]).await;
    deliver_issue_7(&server, &fake, "d1").await;

    // Meanwhile on GitHub: a label added, and the title changed.
    fake.with(|w| {
        let issue = &mut w
            .repos
            .get_mut(&("globex".into(), "doomsday".into()))
            .unwrap()
            .issues[0];
        issue["labels"] = serde_json::json!([{ "name": "bug" }, { "name": "p1" }]);
        issue["title"] = "Their title".into();
    });
    let set = [
        "--add-label",
        "triage",
        "--remove-label",
        "bug",
        "--add-assignee",
        "alice",
        "--state",
        "closed",
        "--workflow-state",
        "done",
        "--title",
        "Our title",
        "--wait",
    ];
    let (code, _, err) = set_issue_7(&server, &set);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("sent"), "{err}");
    assert_eq!(patches(&fake), 1);
    let issue = fake_issue_7(&fake);
    assert_eq!(label_names(&issue), ["p1", "triage", "workflow:done"]);
    assert_eq!(issue["assignees"][0]["login"], "alice");
    assert_eq!(issue["state"], "closed");
    // Changed on both sides; the policy prefers GitHub's.
    assert_eq!(issue["title"], "Their title");
    let (_, listed, _) = kradle(&server, &["conflicts", "list", "--org", "globex", "--all"]);
    assert!(
        listed.contains("title") && listed.contains("Resolved (prefer-external)"),
        "{listed}"
    );
    let (_, open, _) = kradle(&server, &["conflicts", "list"]);
    assert_eq!(open, "no conflicts\n");
    assert!(
        fake.with(|w| w.violations.is_empty()),
        "{:?}",
        fake.with(|w| w.violations.clone())
    );

    // GitHub's answer is synced into the projection, as a delivery.
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let spec = poll_until(
        "never synced",
        || spec_of(&pool, "github-doomsday-7"),
        |spec| spec["workflowState"] == "done",
    )
    .await;
    assert_eq!(spec["state"], "closed");
    assert_eq!(spec["title"], "Their title");

    // The same change again (but the title, which GitHub kept): GitHub has
    // it, so nothing is sent.
    let mut again = set[..set.len() - 3].to_vec();
    again.push("--wait");
    let (code, _, err) = set_issue_7(&server, &again);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("had it already"), "{err}");
    assert_eq!(patches(&fake), 1);

    // Both are ExternalWriteIntents, the conflict an ExternalSyncConflict.
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-globex";
    let (status, intents) = api_get(
        &server,
        &format!("{ns}/externalwriteintents"),
        Some("reader-token"),
    )
    .await;
    assert_eq!(status, 200, "{intents}");
    let phases: Vec<&str> = intents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"]["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["Succeeded", "Superseded"]);
    assert_eq!(
        intents["items"][0]["spec"]["resourceRef"],
        serde_json::json!({ "kind": "Issue", "name": "github-doomsday-7" })
    );
    let (status, conflicts) = api_get(
        &server,
        &format!("{ns}/externalsyncconflicts"),
        Some("reader-token"),
    )
    .await;
    assert_eq!(status, 200, "{conflicts}");
    let conflict = &conflicts["items"][0];
    assert_eq!(conflict["spec"]["fieldPath"], "title");
    assert_eq!(conflict["spec"]["externalValue"], "Their title");
    assert_eq!(conflict["status"]["resolvedBy"], "policy");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_changed_on_both_sides_is_held_until_a_person_decides() {
    let fake = fake_with_issue_7().await;
    let config = writeback_config(&fake, "manual");
    let server = start_with(config.path(), &[]).await;
    deliver_issue_7(&server, &fake, "d1").await;
    fake.with(|w| {
        w.repos
            .get_mut(&("globex".into(), "doomsday".into()))
            .unwrap()
            .issues[0]["title"] = "Their title".into();
    });

    let (code, _, err) = set_issue_7(
        &server,
        &["--title", "Our title", "--add-label", "triage", "--wait"],
    );
    assert_eq!(code, 3, "held: {err}");
    assert!(
        err.contains("\"Doomsday clock\"") && err.contains("\"Their title\""),
        "{err}"
    );
    assert_eq!(
        patches(&fake),
        0,
        "a held write sends nothing, not even its labels"
    );

    let (_, listed, _) = kradle(&server, &["conflicts", "list", "--org", "globex", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let conflict = &listed[0];
    assert_eq!(conflict["fieldPath"], "title");
    assert_eq!(conflict["phase"], "Open");
    let id = conflict["id"].to_string();

    let (code, _, err) = kradle(
        &server,
        &["conflicts", "resolve", &id, "--use", "prefer-kradle"],
    );
    assert_eq!(code, 0, "{err}");
    poll_until(
        "the resolved write was never sent",
        || async { fake_issue_7(&fake)["title"].clone() },
        |title| title == "Our title",
    )
    .await;
    assert_eq!(label_names(&fake_issue_7(&fake)), ["bug", "triage"]);
    assert_eq!(patches(&fake), 1);
    let (code, _, err) = kradle(&server, &["conflicts", "resolve", &id, "--use", "ignore"]);
    assert_eq!(code, 1, "a resolved conflict is not open: {err}");
    assert!(fake.with(|w| w.violations.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_back_killed_in_flight_is_not_sent_twice() {
    let fake = fake_with_issue_7().await;
    let config = writeback_config(&fake, "manual");
    let args = ["--workers", "1", "--job-lease", "1"];
    let mut first = start_with(config.path(), &args).await;
    let db = first.db.clone();
    deliver_issue_7(&first, &fake, "d1").await;
    // GitHub applies the PATCH and takes its time to answer.
    fake.with(|w| w.answer_delay = Duration::from_secs(30));
    let (code, _, err) = set_issue_7(&first, &["--add-label", "triage"]);
    assert_eq!(code, 0, "{err}");
    poll_until(
        "the PATCH never came",
        || async { patches(&fake) },
        |n| *n > 0,
    )
    .await;
    first.child.kill().unwrap(); // SIGKILL, before GitHub answers
    first.child.wait().unwrap();
    fake.with(|w| w.answer_delay = Duration::ZERO);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let phase: String = sqlx::query_scalar("SELECT phase FROM kradle_write_intents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(phase, "InFlight");

    let second = start_again(db.clone(), config.path(), &args).await;
    let phase: String = poll_until(
        "the write-back never finished",
        || async {
            sqlx::query_scalar("SELECT phase FROM kradle_write_intents")
                .fetch_one(&pool)
                .await
                .unwrap()
        },
        |phase: &String| phase != "InFlight" && phase != "Pending",
    )
    .await;
    assert_eq!(phase, "Succeeded", "the rerun found its own write there");
    assert_eq!(patches(&fake), 1, "sent once");
    assert_eq!(label_names(&fake_issue_7(&fake)), ["bug", "triage"]);
    drop(second);
    pool.close().await;
}

/// A change kradle made is one event: write-back's own replay of the forge's
/// answer triggers no rule, the forge's webhook for that change does, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_kradle_wrote_back_triggers_a_rule_at_most_once() {
    use support::fake_gitea::FakeGitea;
    let fake = FakeGitea::start(support::upstream::Api::gitea()).await;
    let issue = serde_json::json!({
        "id": 40, "number": 4, "title": "Flaky test", "state": "open",
        "user": { "login": "alice" }, "labels": [], "assignees": [],
        "pull_request": null, "updated_at": "2026-01-02T10:00:00Z",
    });
    fake.issue("acme", "api", issue.clone(), &[]);
    // A rule on every issue event of `api`.
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let agents = config.path().join("orgs/acme/agents.yaml");
    let mut text = std::fs::read_to_string(&agents).unwrap();
    text.push_str(
        "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: AgentTriggerRule\nmetadata:\n  name: on-issue\n\
         spec:\n  sources: [issues]\n  agentStack: fixer\n  taskKind: fix\n  repository: api\n",
    );
    std::fs::write(&agents, text).unwrap();
    let server = start_with(config.path(), &["--gitea-url", &fake.url]).await;
    let event = |issue: &serde_json::Value| {
        serde_json::to_vec(&serde_json::json!({
            "action": "edited", "number": 4, "issue": issue,
            "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
            "sender": { "login": "alice", "username": "alice" },
        }))
        .unwrap()
    };
    let status = gitea_event(
        &server,
        "api-events",
        "issues",
        "g1",
        &event(&issue),
        GITEA_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
    until_title(&server.db, "Issue", 4, "Flaky test").await;
    drained(&server.db).await;
    let before = runs(&server.db).await.len();
    assert_eq!(before, 1, "the first edit matched");

    let set = [
        "issues",
        "set",
        "gitea-api-4",
        "--org",
        "acme",
        "--title",
        "Fixed title",
        "--wait",
    ];
    let (code, _, err) = kradle(&server, &set);
    assert_eq!(code, 0, "{err}");
    until_title(&server.db, "Issue", 4, "Fixed title").await;
    drained(&server.db).await;
    // Gitea's own webhook for the edit kradle made.
    let edited = fake.with(|w| w.issues[&("acme".to_string(), "api".to_string())][0].clone());
    let status = gitea_event(
        &server,
        "api-events",
        "issues",
        "g2",
        &event(&edited),
        GITEA_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
    drained(&server.db).await;
    let after = runs(&server.db).await;
    assert_eq!(
        after.len(),
        before + 1,
        "one run for the change, not two: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitea_issue_change_is_written_back_with_gitea_s_own_calls() {
    use support::fake_gitea::FakeGitea;
    let fake = FakeGitea::start(support::upstream::Api::gitea()).await;
    let issue = serde_json::json!({
        "id": 40, "number": 4, "title": "Flaky test", "state": "open",
        "user": { "login": "alice" }, "labels": [{ "name": "bug" }], "assignees": [],
        "pull_request": null, "updated_at": "2026-01-02T10:00:00Z",
        "html_url": "https://gitea.acme.example/acme/api/issues/4"
    });
    fake.with(|w| w.users.insert("alice".into()));
    fake.issue(
        "acme",
        "api",
        issue.clone(),
        &["bug", "triage", "workflow:doing"],
    );
    let server = start_with(&example(), &["--gitea-url", &fake.url]).await;
    let body = serde_json::json!({
        "action": "edited", "number": 4, "issue": issue,
        "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
    });
    let body = serde_json::to_vec(&body).unwrap();
    let status = gitea_event(&server, "api-events", "issues", "g1", &body, GITEA_SECRET).await;
    assert_eq!(status.as_u16(), 202);
    until_title(&server.db, "Issue", 4, "Flaky test").await;

    let (code, _, err) = kradle(
        &server,
        &[
            "issues",
            "set",
            "gitea-api-4",
            "--org",
            "acme",
            "--add-label",
            "triage",
            "--workflow-state",
            "doing",
            "--add-assignee",
            "alice",
            "--state",
            "closed",
            "--wait",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (writes, violations, now) = fake.with(|w| {
        (
            w.writes.clone(),
            w.violations.clone(),
            w.issues[&("acme".to_string(), "api".to_string())][0].clone(),
        )
    });
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(
        writes,
        [
            "PUT /repos/acme/api/issues/4/labels",
            "PATCH /repos/acme/api/issues/4"
        ]
    );
    let labels: Vec<&str> = now["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["bug", "triage", "workflow:doing"]);
    assert_eq!(now["state"], "closed");
    assert_eq!(now["assignees"][0]["login"], "alice");

    // Gitea's state comes back through sync, under the subscription.
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let spec = poll_until(
        "never synced",
        || spec_of(&pool, "gitea-api-4"),
        |spec| spec["state"] == "closed",
    )
    .await;
    assert_eq!(spec["workflowState"], "doing");
    pool.close().await;
}
