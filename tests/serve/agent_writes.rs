//! The agent's side: a scripted agent delivers a commit status, a pull
//! request and a comment through `kradle agent`; with `approvalMode:
//! write-back` they wait for a person, and once approved the Gitea fake
//! gets each exactly once, also when the forge's answer is lost or kradle
//! serve is killed.

use super::*;

use support::fake_gitea::FakeGitea;

/// What a scripted agent does, as a real one would from its pod: every
/// delivery through `kradle agent`, each exit code written down.
const AGENT_SCRIPT: &str = r#"
set -u
cd "$KRADLE_WORKSPACE_PATH"
kradle agent status --state success --description "tests pass"; echo "status=$?" >> "$OUT"
kradle agent pull-request --branch kradle/fix-4 --title "Fix the flaky test" \
    --body-file "$NOTES/pr.md"; echo "pull-request=$?" >> "$OUT"
kradle agent comment --body-file "$NOTES/comment.md"; echo "comment=$?" >> "$OUT"
kradle agent labels --add triage --remove bug; echo "labels=$?" >> "$OUT"
# The same call again (a retry): the same write, not a second one.
kradle agent comment --body-file "$NOTES/comment.md"; echo "again=$?" >> "$OUT"
# A secret in a comment is refused, never sent.
printf 'the key is ghp_0123456789abcdefghijABCDEFGHIJ012345\n' > "$NOTES/leak.md"
kradle agent comment --body-file "$NOTES/leak.md" 2>> "$NOTES/leak.err"; echo "leak=$?" >> "$OUT"
kradle agent done --succeeded --summary-file "$NOTES/summary.md"; echo "done=$?" >> "$OUT"
"#;

/// A checkout with one commit (made by git), and its head.
fn checkout() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| support::git(dir.path(), args);
    git(&["init", "-q", "-b", "kradle/fix-4"]);
    std::fs::write(dir.path().join("fix.txt"), "no more fixed sleeps\n").unwrap();
    git(&["add", "fix.txt"]);
    git(&["commit", "-q", "-m", "Fix the flaky test"]);
    let head = git(&["rev-parse", "HEAD"]);
    (dir, head)
}

/// The Gitea of acme/api: issue 4, `main`, and the branch the agent
/// pushed at `head`.
async fn gitea_with_issue_4(head: &str) -> FakeGitea {
    let fake = FakeGitea::start(support::upstream::Api::gitea()).await;
    let issue = serde_json::json!({
        "id": 40, "number": 4, "title": "Flaky test", "state": "open",
        "user": { "login": "alice" }, "labels": [{ "name": "bug" }], "assignees": [],
        "pull_request": null, "updated_at": "2026-01-02T10:00:00Z",
    });
    fake.issue("acme", "api", issue, &["bug", "triage"]);
    fake.push("acme", "api", "main", &"a".repeat(40));
    fake.push("acme", "api", "kradle/fix-4", head);
    fake
}

/// Runs the scripted agent with the run's token, as its pod would: the
/// exit code of each step.
fn run_agent(server: &Server, run: &str, token: &str, workspace: &std::path::Path) -> String {
    let notes = tempfile::tempdir().unwrap();
    std::fs::write(
        notes.path().join("pr.md"),
        "It waited a fixed time; now it waits on the condition.\n",
    )
    .unwrap();
    std::fs::write(
        notes.path().join("comment.md"),
        "Opened a pull request for this.\n",
    )
    .unwrap();
    std::fs::write(notes.path().join("summary.md"), "the flaky test is fixed\n").unwrap();
    let out = notes.path().join("codes");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kradle"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = support::path_with(&bin);
    let status = Command::new("sh")
        .args(["-c", AGENT_SCRIPT])
        .env_clear()
        .env("PATH", path)
        .env(
            "KRADLE_CALLBACK_URL",
            format!("{}/api/orgs/acme/agents/runs/{run}/callback", server.url),
        )
        .env("KRADLE_CALLBACK_TOKEN", token)
        .env("KRADLE_WORKSPACE_PATH", workspace)
        .env("NOTES", notes.path())
        .env("OUT", &out)
        .status()
        .unwrap();
    assert!(status.success());
    let leak = std::fs::read_to_string(notes.path().join("leak.err")).unwrap();
    assert!(
        leak.contains("looks like it holds") && !leak.contains("ghp_0123"),
        "{leak}"
    );
    std::fs::read_to_string(out).unwrap()
}

/// `kradle agent ARGS` as the pod of `run` runs it: (exit code, stderr).
fn kradle_agent(
    server: &Server,
    run: &str,
    token: &str,
    workspace: &std::path::Path,
    args: &[&str],
) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .arg("agent")
        .args(args)
        .env(
            "KRADLE_CALLBACK_URL",
            format!("{}/api/orgs/acme/agents/runs/{run}/callback", server.url),
        )
        .env("KRADLE_CALLBACK_TOKEN", token)
        .env("KRADLE_WORKSPACE_PATH", workspace)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The run's token, once its Job is there.
async fn started_run(server: &Server, kube: &support::fake_kube::FakeKube) -> (String, String) {
    let status = gitea_event(
        server,
        "api-events",
        "issue_comment",
        "d1",
        &fix_comment(1),
        GITEA_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
    let jobs = poll_until(
        "the agent Job",
        || async { kube.names("jobs") },
        |j| !j.is_empty(),
    )
    .await;
    poll_until("Running", || runs(&server.db), |r| r[0].1 == "Running").await;
    let run = runs(&server.db).await[0].0.clone();
    let token = kube
        .token(&kradle_compiler::model::org_namespace("acme"), &jobs[0])
        .unwrap();
    (run, token)
}

fn pulls(fake: &FakeGitea) -> Vec<serde_json::Value> {
    fake.with(|w| {
        w.pulls
            .get(&("acme".to_string(), "api".to_string()))
            .cloned()
            .unwrap_or_default()
    })
}

fn comments(fake: &FakeGitea) -> Vec<serde_json::Value> {
    fake.with(|w| w.comments_of("acme", "api"))
}

fn statuses(fake: &FakeGitea, sha: &str) -> Vec<serde_json::Value> {
    fake.with(|w| {
        w.statuses
            .get(&("acme".to_string(), "api".to_string(), sha.to_string()))
            .cloned()
            .unwrap_or_default()
    })
}

/// The agent's writes: (op, phase), in the order recorded.
async fn agent_writes(db: &TestDb) -> Vec<(String, String)> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT action, phase FROM kradle_write_intents WHERE run IS NOT NULL ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_s_writes_wait_for_approval_then_reach_gitea_once() {
    let (workspace, head) = checkout();
    let fake = gitea_with_issue_4(&head).await;
    // Every write the fake applies is answered 500: the worker never
    // hears that it landed, and finds it on the forge before any resend.
    fake.with(|w| w.faults.error_after_write = 1.0);
    let (kube, kubeconfig) = cluster(&[]).await;
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let server = start_in(
        Arc::new(TestDb::new().await),
        &example(),
        &[
            "--gitea-url",
            &fake.url,
            "--job-poll-ms",
            "50",
            "--api-token-file",
            tokens.path().to_str().unwrap(),
            "--agent-tools-image",
            "ghcr.io/a5c-ai/kradle:test",
        ],
        Some(kubeconfig.path()),
    )
    .await;
    let (run, token) = started_run(&server, &kube).await;
    // The pod: kradle's binary copied in, then the checkout of the event's
    // repository at the run's ref, then the agent.
    let job = kube
        .get(
            "jobs",
            &kradle_compiler::model::org_namespace("acme"),
            &format!("agent-{run}-1"),
        )
        .unwrap();
    let init = &job["spec"]["template"]["spec"]["initContainers"];
    assert_eq!(init[0]["image"], "ghcr.io/a5c-ai/kradle:test");
    assert_eq!(init[1]["name"], "checkout");
    let env = init[1]["env"].as_array().unwrap();
    assert!(env.contains(&serde_json::json!({
        "name": "KRADLE_CHECKOUT_URL", "value": "http://gitea.acme.test/acme/api.git" })));
    assert!(env.contains(&serde_json::json!({ "name": "KRADLE_REF", "value": "main" })));
    assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());

    let codes = run_agent(&server, &run, &token, workspace.path());
    // The fixer stack says `approvalMode: write-back`: every write waits
    // (exit 4), the retried comment is the same write, the leak is refused.
    assert_eq!(
        codes,
        "status=4\npull-request=4\ncomment=4\nlabels=4\nagain=4\nleak=1\ndone=0\n"
    );
    assert_eq!(runs(&server.db).await[0].1, "Succeeded");
    assert_eq!(
        agent_writes(&server.db).await,
        [
            ("status".into(), "PendingApproval".into()),
            ("pull-request".into(), "PendingApproval".into()),
            ("comment".into(), "PendingApproval".into()),
            ("labels".into(), "PendingApproval".into()),
        ]
    );
    assert!(pulls(&fake).is_empty() && comments(&fake).is_empty());

    let approval = format!("{run}-write-back");
    let (code, list, _) = kradle(&server, &["approvals", "list", "--org", "acme"]);
    assert_eq!(code, 0);
    assert!(
        list.contains(&approval) && list.contains("write-back"),
        "{list}"
    );
    let (code, _, err) = kradle(
        &server,
        &[
            "approvals",
            "approve",
            &approval,
            "--org",
            "acme",
            "--as",
            "ada",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("4 write(s)"), "{err}");
    let sent = poll_until(
        "the writes sent",
        || agent_writes(&server.db),
        |w| w.iter().all(|(_, p)| p == "Succeeded"),
    )
    .await;
    assert_eq!(sent.len(), 4);
    let labels =
        fake.with(|w| w.issues[&("acme".to_string(), "api".to_string())][0]["labels"].clone());
    assert_eq!(labels, serde_json::json!([{ "name": "triage" }]));
    let prs = pulls(&fake);
    assert_eq!(prs.len(), 1, "{prs:?}");
    assert_eq!(prs[0]["head"]["ref"], "kradle/fix-4");
    assert_eq!(prs[0]["base"]["ref"], "main");
    assert_eq!(prs[0]["title"], "Fix the flaky test");
    let c = comments(&fake);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("Opened a pull request for this."),
        "{c:?}"
    );
    let s = statuses(&fake, &head);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        (&s[0]["state"], &s[0]["context"], &s[0]["description"]),
        (
            &serde_json::json!("success"),
            &serde_json::json!("kradle"),
            &serde_json::json!("tests pass")
        )
    );
    assert!(fake.with(|w| w.violations.is_empty()));
    // Where each landed is in the journal, as kubectl shows it.
    let (status, intents) = api_get(
        &server,
        &format!(
            "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/{}/externalwriteintents",
            kradle_compiler::model::org_namespace("acme")
        ),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{intents}");
    let pr = intents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["spec"]["operation"] == "pull-request")
        .unwrap();
    assert_eq!(
        pr["spec"]["resourceRef"],
        serde_json::json!({ "kind": "AgentDispatchRun", "name": run })
    );
    assert_eq!(pr["spec"]["payload"]["branch"], "kradle/fix-4");
    assert_eq!(pr["status"]["phase"], "Succeeded");
    assert!(
        pr["status"]["externalResult"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/acme/api/pulls/5")),
        "{pr}"
    );
    // The lost answers were retried, and found on the forge, not resent.
    assert!(pr["status"]["attempts"].as_i64().unwrap() >= 2, "{pr}");
    // The run has ended: its token writes nothing more.
    let late = reqwest::Client::new()
        .post(format!(
            "{}/api/orgs/acme/agents/runs/{run}/writes",
            server.url
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "key": "late", "op": "comment", "body": "late" }))
        .send()
        .await
        .unwrap();
    assert!(
        [401, 409].contains(&late.status().as_u16()),
        "{}",
        late.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_write_back_is_never_sent_and_the_agent_is_told() {
    let (workspace, head) = checkout();
    let fake = gitea_with_issue_4(&head).await;
    let (kube, kubeconfig) = cluster(&[]).await;
    let server = start_in(
        Arc::new(TestDb::new().await),
        &example(),
        &["--gitea-url", &fake.url, "--job-poll-ms", "50"],
        Some(kubeconfig.path()),
    )
    .await;
    let (run, token) = started_run(&server, &kube).await;
    let agent = |args: &[&str]| kradle_agent(&server, &run, &token, workspace.path(), args);
    let (code, err) = agent(&["status", "--state", "pending", "--key", "s1"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(&format!("{run}-write-back")), "{err}");
    let (code, _, err) = kradle(
        &server,
        &[
            "approvals",
            "deny",
            &format!("{run}-write-back"),
            "--org",
            "acme",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // Asked again, the agent hears it was rejected (exit 3); a new write
    // of the run is rejected at once.
    let (code, err) = agent(&["status", "--state", "pending", "--key", "s1"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("denied"), "{err}");
    let (code, _) = agent(&["status", "--state", "failure", "--key", "s2"]);
    assert_eq!(code, 3);
    // Another run's token is not this run's.
    let (code, err) = kradle_agent(
        &server,
        &run,
        "not-the-token",
        workspace.path(),
        &["status", "--state", "pending"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("401"), "{err}");
    assert_eq!(
        rows(&server.db, "kradle_jobs WHERE queue = 'agent-writes'").await,
        0,
        "nothing to send"
    );
    assert!(statuses(&fake, &head).is_empty());
    assert_eq!(
        agent_writes(&server.db).await,
        [
            ("status".into(), "Rejected".into()),
            ("status".into(), "Rejected".into()),
        ]
    );
}

/// kradle serve killed (SIGKILL) while the approved writes are on their
/// way, then started again: the same end state, nothing sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_sending_the_agent_s_writes_sends_each_once() {
    let (workspace, head) = checkout();
    let fake = gitea_with_issue_4(&head).await;
    let (kube, kubeconfig) = cluster(&[]).await;
    let db = Arc::new(TestDb::new().await);
    let args = [
        "--gitea-url",
        &fake.url,
        "--job-poll-ms",
        "50",
        "--job-lease",
        "1",
    ];
    let first = start_in(db.clone(), &example(), &args, Some(kubeconfig.path())).await;
    let (run, token) = started_run(&first, &kube).await;
    let codes = run_agent(&first, &run, &token, workspace.path());
    assert!(codes.ends_with("done=0\n"), "{codes}");
    // Each write the fake applies is answered only after a while: the
    // kill comes with a write on the wire.
    fake.with(|w| w.delay = Duration::from_millis(300));
    let (code, _, err) = kradle(
        &first,
        &[
            "approvals",
            "approve",
            &format!("{run}-write-back"),
            "--org",
            "acme",
        ],
    );
    assert_eq!(code, 0, "{err}");
    poll_until(
        "a write on the wire",
        || async { fake.with(|w| w.requests) },
        |n| *n > 0,
    )
    .await;
    drop(first);
    fake.with(|w| w.delay = Duration::ZERO);
    let second = start_in(db.clone(), &example(), &args, Some(kubeconfig.path())).await;
    poll_until(
        "the writes sent",
        || agent_writes(&db),
        |w| w.len() == 4 && w.iter().all(|(_, p)| p == "Succeeded"),
    )
    .await;
    assert_eq!(pulls(&fake).len(), 1);
    assert_eq!(comments(&fake).len(), 1);
    assert_eq!(statuses(&fake, &head).len(), 1);
    drop(second);
}
