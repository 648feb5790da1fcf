//! Dispatch: runs launched as Jobs, callbacks, approvals, schedules, gateways,
//! from the command line and from events.

use super::*;

// ---------------------------------------------------------------------------
// Dispatch: a matching comment becomes a run, the run a Job on the cluster
// (a fake API server, every body checked against the upstream schemas),
// and the agent's callback its result.

/// A fake cluster served over HTTP, and a kubeconfig for it.
pub(crate) async fn cluster(
    hang: &[&str],
) -> (support::fake_kube::FakeKube, tempfile::NamedTempFile) {
    let fake = support::fake_kube::FakeKube::new();
    fake.state.lock().unwrap().hang = hang.iter().map(|h| h.to_string()).collect();
    let url = fake.serve().await;
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        kubeconfig.path(),
        support::fake_kube::FakeKube::kubeconfig(&url),
    )
    .unwrap();
    (fake, kubeconfig)
}

/// grace's `/kradle fix` on acme/api issue 4, which acme's
/// `fix-on-comment` rule dispatches the `fixer` stack for.
pub(crate) fn fix_comment(id: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "repository": { "id": 3, "name": "api", "full_name": "acme/api", "default_branch": "main",
                        "clone_url": "http://gitea.acme.test/acme/api.git" },
        "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                   "user": { "login": "alice" }, "labels": [], "assignees": null,
                   "pull_request": null, "updated_at": "2026-01-02T10:00:00Z" },
        "comment": { "id": id, "body": "/kradle fix the flaky test", "user": { "login": "grace" },
                     "updated_at": "2026-01-02T10:00:00Z" },
        "sender": { "login": "grace", "username": "grace" },
        "is_pull": false,
    }))
    .unwrap()
}

/// The runs: (name, phase, attempts).
pub(crate) async fn runs(db: &TestDb) -> Vec<(String, String, i32)> {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let rows = sqlx::query_as("SELECT name, phase, attempts FROM kradle_dispatch_runs ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

pub(crate) async fn callback(
    server: &Server,
    run: &str,
    token: &str,
    body: serde_json::Value,
) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!(
            "{}/api/orgs/acme/agents/runs/{run}/callback",
            server.url
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

pub(crate) fn succeeded() -> serde_json::Value {
    serde_json::json!({
        "phase": "Succeeded",
        "message": "the flaky test is fixed",
        "artifacts": [{ "kind": "patch", "digest": format!("sha256:{}", "c".repeat(64)),
                        "size": 1234, "mimeType": "text/x-diff" }],
        "transcript": [{ "type": "text", "text": "Reading the failing job log first." }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_comment_runs_its_stack_as_a_job_until_the_callback() {
    let (kube, kubeconfig) = cluster(&[]).await;
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let server = start_in(
        Arc::new(TestDb::new().await),
        &example(),
        &[
            "--api-token-file",
            tokens.path().to_str().unwrap(),
            "--job-poll-ms",
            "50",
        ],
        Some(kubeconfig.path()),
    )
    .await;
    let body = fix_comment(1);
    // Delivered, then redelivered: one run.
    for expected in [202, 200] {
        let status = gitea_event(
            &server,
            "api-events",
            "issue_comment",
            "d1",
            &body,
            GITEA_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), expected);
    }
    let jobs = poll_until(
        "the agent Job",
        || async { kube.names("jobs") },
        |j| !j.is_empty(),
    )
    .await;
    let all = runs(&server.db).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let run = all[0].0.clone();
    assert_eq!(jobs, [format!("agent-{run}-1")]);
    let job = kube.get("jobs", "kradle-org-acme", &jobs[0]).unwrap();
    let env = &job["spec"]["template"]["spec"]["containers"][0]["env"];
    let var = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
            .unwrap()
    };
    assert_eq!(
        var("KRADLE_CALLBACK_URL"),
        format!("{}/api/orgs/acme/agents/runs/{run}/callback", server.url)
    );
    assert_eq!(var("KRADLE_REPOSITORY"), "api");
    assert_eq!(var("KRADLE_REF"), "main");
    assert_eq!(var("KRADLE_TASK_KIND"), "fix");
    // The stack's provider: its key by reference to its Secret, never a value.
    let key = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "KRADLE_PROVIDER_API_KEY")
        .unwrap();
    assert_eq!(
        key["valueFrom"]["secretKeyRef"],
        serde_json::json!({ "name": "anthropic-api", "key": "api-key" })
    );
    assert!(key.get("value").is_none(), "{key}");
    assert_eq!(var("KRADLE_PROVIDER_API_BASE"), "https://api.anthropic.com");
    poll_until("Running", || runs(&server.db), |r| r[0].1 == "Running").await;

    let token = kube.token("kradle-org-acme", &jobs[0]).unwrap();
    assert_eq!(
        callback(&server, &run, "wrong-token", succeeded())
            .await
            .as_u16(),
        401
    );
    assert_eq!(
        callback(&server, "nope-1", &token, succeeded())
            .await
            .as_u16(),
        401
    );
    assert_eq!(
        callback(
            &server,
            &run,
            &token,
            serde_json::json!({ "phase": "Done" })
        )
        .await
        .as_u16(),
        400
    );
    assert_eq!(
        callback(&server, &run, &token, succeeded()).await.as_u16(),
        200
    );
    assert_eq!(runs(&server.db).await[0].1, "Succeeded");
    assert_eq!(
        callback(&server, &run, &token, succeeded()).await.as_u16(),
        401,
        "the token is spent"
    );
    assert_eq!(
        rows(
            &server.db,
            "kradle_workspaces WHERE phase = 'Ready' AND claimed_by IS NULL"
        )
        .await,
        1
    );
    assert_eq!(rows(&server.db, "kradle_artifacts").await, 1);

    // Read back: the API and the CLI.
    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, got) = api_get(
        &server,
        &format!("{ns}/agentdispatchruns/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"]["phase"], "Succeeded");
    let completed = got["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Completed"))
        .cloned();
    assert_eq!(
        completed.as_ref().map(|c| c["status"].clone()),
        Some("True".into()),
        "{got}"
    );
    assert_eq!(got["spec"]["triggerRule"], "fix-on-comment");
    assert_eq!(got["spec"]["requestedBy"], "grace");
    assert_eq!(got["status"]["transcriptRef"], run.as_str());
    let (_, executions) = api_get(
        &server,
        &format!("{ns}/agenttriggerexecutions"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(executions["items"][0]["status"]["phase"], "Dispatched");
    assert_eq!(
        executions["items"][0]["status"]["dispatchRunRef"],
        run.as_str()
    );
    let (_, artifacts) = api_get(&server, &format!("{ns}/kradleartifacts"), Some(API_TOKEN)).await;
    assert_eq!(artifacts["items"][0]["spec"]["kind"], "patch");
    let (_, bundle) = api_get(
        &server,
        &format!("{ns}/agentcontextbundles/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert!(
        bundle["spec"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{bundle}"
    );
    let provider = &bundle["spec"]["content"]["stack"]["provider"];
    assert_eq!(provider["provider"], "anthropic", "{bundle}");
    assert_eq!(provider["apiKeyEnv"], "KRADLE_PROVIDER_API_KEY");
    assert!(provider.get("secretRef").is_none(), "{provider}");
    assert_eq!(got["spec"]["contextBundleRef"], run.as_str());
    let (code, list, _) = kradle(&server, &["runs", "list", "--org", "acme"]);
    assert_eq!(code, 0);
    assert!(
        list.contains(&run) && list.contains("Succeeded") && list.contains("1/3"),
        "{list}"
    );
    let (code, text, _) = kradle(&server, &["runs", "get", &run, "--org", "acme"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("initial") && text.contains(&jobs[0]),
        "{text}"
    );
    // The agent's log, from its pod.
    kube.state.lock().unwrap().logs.insert(
        jobs[0].clone(),
        "Reading the failing job log first.\n".into(),
    );
    let logs = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args(["runs", "logs", &run, "--org", "acme"])
        .env("KRADLE_DATABASE_URL", &server.db.url)
        .env("KUBECONFIG", kubeconfig.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        "Reading the failing job log first.\n"
    );
    assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
    // No token in the log, nor in any row: kradle keeps its hash.
    let log: Vec<String> = server.lines.try_iter().collect();
    assert!(
        !log.iter().any(|l| l.contains(&token)),
        "the token was logged"
    );
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.contains(&"kradle_dispatch_runs".to_string()));
    for table in tables {
        let holding: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} t WHERE strpos(t::text, $1) > 0"
        ))
        .bind(&token)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(holding, 0, "the token is in {table}");
    }
    pool.close().await;
}

/// A completed workflow run of acme/api on `main`, ended `conclusion`.
pub(crate) fn workflow_run(id: u64, conclusion: &str) -> Vec<u8> {
    let mut run = example_body("workflow_run.completed");
    run["repository"]["name"] = "api".into();
    run["repository"]["full_name"] = "acme/api".into();
    run["workflow_run"]["id"] = id.into();
    run["workflow_run"]["head_branch"] = "main".into();
    run["workflow_run"]["conclusion"] = conclusion.into();
    serde_json::to_vec(&run).unwrap()
}

/// A matching event whose ref no checkout may take (a webhook body is
/// hostile input) is recorded as Failed with the reason, and runs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_naming_a_ref_no_run_may_take_is_recorded_failed() {
    let server = start_with(&example(), &[]).await;
    let mut body: serde_json::Value =
        serde_json::from_slice(&workflow_run(903, "failure")).unwrap();
    body["workflow_run"]["head_branch"] = "../../etc/passwd".into();
    let body = serde_json::to_vec(&body).unwrap();
    let status = gitea_event(
        &server,
        "api-events",
        "workflow_run",
        "w9",
        &body,
        GITEA_SECRET,
    )
    .await;
    assert_eq!(status.as_u16(), 202);
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let decision: (String, String) = poll_until(
        "the evaluation",
        || async {
            sqlx::query_as::<_, (String, String)>(
                "SELECT decision, coalesce(reason, '') FROM kradle_trigger_executions
                  WHERE rule = 'fix-failed-ci'",
            )
            .fetch_optional(&pool)
            .await
            .unwrap()
        },
        |d| d.is_some(),
    )
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(decision.0, "Failed");
    assert!(decision.1.contains("is not a git ref"), "{}", decision.1);
    assert!(runs(&server.db).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_workflow_run_dispatches_its_fixer_and_a_passing_one_does_not() {
    let (kube, kubeconfig) = cluster(&[]).await;
    let server = start_in(
        Arc::new(TestDb::new().await),
        &example(),
        &["--job-poll-ms", "50"],
        Some(kubeconfig.path()),
    )
    .await;
    // acme's `fix-failed-ci`: completed workflow runs of `api` that
    // ended in failure or timed out.
    for (delivery, body) in [
        ("w1", workflow_run(901, "failure")),
        ("w2", workflow_run(902, "success")),
    ] {
        for expected in [202, 200] {
            let status = gitea_event(
                &server,
                "api-events",
                "workflow_run",
                delivery,
                &body,
                GITEA_SECRET,
            )
            .await;
            assert_eq!(status.as_u16(), expected, "{delivery}");
        }
    }
    let jobs = poll_until(
        "the agent Job",
        || async { kube.names("jobs") },
        |j| !j.is_empty(),
    )
    .await;
    poll_until(
        "both deliveries evaluated",
        || {
            rows(
                &server.db,
                "kradle_trigger_executions WHERE rule = 'fix-failed-ci'",
            )
        },
        |n| *n == 2,
    )
    .await;
    let all = runs(&server.db).await;
    assert_eq!(all.len(), 1, "one run, for the failure only: {all:?}");
    let run = all[0].0.clone();
    assert_eq!(jobs, [format!("agent-{run}-1")]);
    poll_until("Running", || runs(&server.db), |r| r[0].1 == "Running").await;
    let token = kube.token("kradle-org-acme", &jobs[0]).unwrap();
    assert_eq!(
        callback(&server, &run, &token, succeeded()).await.as_u16(),
        200
    );
    assert_eq!(runs(&server.db).await[0].1, "Succeeded");
    assert_eq!(
        rows(
            &server.db,
            "kradle_workspaces WHERE phase = 'Ready' AND claimed_by IS NULL"
        )
        .await,
        1,
        "the workspace is released"
    );
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let decisions: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT d.delivery_id, x.decision, x.reason FROM kradle_trigger_executions x
           JOIN kradle_webhook_deliveries d ON d.id = x.delivery
          WHERE x.rule = 'fix-failed-ci' ORDER BY d.delivery_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert_eq!(decisions[0].1, "Dispatching");
    assert_eq!(decisions[1].1, "Skipped");
    assert_eq!(
        decisions[1].2.as_deref(),
        Some("the webhook trigger is for runs that ended failure or timed_out (this one: success)")
    );
    let (ref_, repo) = {
        let job = kube.get("jobs", "kradle-org-acme", &jobs[0]).unwrap();
        let env = job["spec"]["template"]["spec"]["containers"][0]["env"].clone();
        let var = |name: &str| {
            env.as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .unwrap()["value"]
                .clone()
        };
        (var("KRADLE_REF"), var("KRADLE_REPOSITORY"))
    };
    assert_eq!((ref_.as_str(), repo.as_str()), (Some("main"), Some("api")));
    assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_launch_is_rerun_into_exactly_one_job() {
    for hang in [
        "POST /api/v1/namespaces/kradle-org-acme/secrets",
        "POST /api/v1/namespaces/kradle-org-acme/persistentvolumeclaims",
        "POST /apis/batch/v1/namespaces/kradle-org-acme/jobs",
    ] {
        let (kube, kubeconfig) = cluster(&[hang]).await;
        let db = Arc::new(TestDb::new().await);
        let args = ["--job-lease", "1", "--job-poll-ms", "50"];
        let first = start_in(db.clone(), &example(), &args, Some(kubeconfig.path())).await;
        let status = gitea_event(
            &first,
            "api-events",
            "issue_comment",
            "d1",
            &fix_comment(1),
            GITEA_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202);
        poll_until(hang, || async { kube.count(hang) }, |n| *n > 0).await;
        drop(first); // SIGKILL, with the answer still held back
        let second = start_in(db.clone(), &example(), &args, Some(kubeconfig.path())).await;
        let all = poll_until(
            "Running",
            || runs(&db),
            |r| r.first().is_some_and(|r| r.1 == "Running"),
        )
        .await;
        let run = &all[0].0;
        assert_eq!(kube.names("jobs"), [format!("agent-{run}-1")], "{hang}");
        assert_eq!(kube.names("persistentvolumeclaims").len(), 1, "{hang}");
        // The Secret the Job reads holds the token kradle has the hash of.
        let token = kube
            .token("kradle-org-acme", &format!("agent-{run}-1"))
            .unwrap();
        assert_eq!(
            callback(&second, run, &token, succeeded()).await.as_u16(),
            200,
            "{hang}"
        );
        assert_eq!(runs(&db).await, [(run.clone(), "Succeeded".to_string(), 1)]);
        assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_runs_and_approvals_from_the_command_line() {
    // No cluster: runs wait in Queued.
    let server = start().await;
    let (code, name, err) = kradle(
        &server,
        &[
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
            "--repository",
            "api",
            "--as",
            "ada",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not checked against a config"), "{err}");
    let name = name.trim().to_string();
    assert!(name.starts_with("fixer-"), "{name}");
    // Against the config serve runs, a typo is refused before anything is
    // stored, with what was meant.
    let config = example();
    let config = config.to_str().unwrap();
    for (flags, said) in [
        (
            ["--stack", "fixr", "--repository", "api"],
            "did you mean `fixer`?",
        ),
        (
            ["--stack", "fixer", "--repository", "apy"],
            "did you mean `api`?",
        ),
    ] {
        let mut args = vec![
            "dispatch",
            "--config",
            config,
            "--org",
            "acme",
            "--task-kind",
            "fix",
        ];
        args.extend(flags);
        let (code, _, err) = kradle(&server, &args);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(said), "{err}");
    }
    let (code, _, err) = kradle(
        &server,
        &[
            "dispatch",
            "--config",
            config,
            "--org",
            "nope",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("organization `nope` is not in the config"),
        "{err}"
    );
    assert_eq!(
        runs(&server.db).await.len(),
        1,
        "nothing stored for a refused run"
    );
    let (code, text, _) = kradle(&server, &["runs", "get", &name, "--org", "acme"]);
    assert_eq!(code, 0);
    assert!(text.contains("Pending") && text.contains("ada"), "{text}");
    // The name alone is enough when one organization has it.
    let (code, alone, err) = kradle(&server, &["runs", "get", &name]);
    assert_eq!((code, alone.as_str()), (0, text.as_str()), "{err}");
    // As kubectl: -o json and -o yaml print the same records; --json is -o json.
    let (code, json, err) = kradle(&server, &["runs", "get", &name, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let records: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(records[0]["metadata"]["name"], name.as_str(), "{json}");
    let (_, old_flag, _) = kradle(&server, &["runs", "get", &name, "--json"]);
    assert_eq!(old_flag, json);
    let (code, yaml, err) = kradle(&server, &["runs", "get", &name, "--output", "yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        yaml.starts_with("- metadata:\n") && yaml.contains(&format!("    name: {name}\n")),
        "{yaml}"
    );
    let (code, _, err) = kradle(&server, &["runs", "get", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no organization has run `nope`"), "{err}");
    // Without --as and without $USER, the record names `kradle-cli`, and
    // the command says so.
    let as_nobody = Command::new(env!("CARGO_BIN_EXE_kradle"))
        .args([
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
        ])
        .env("KRADLE_DATABASE_URL", &server.db.url)
        .env_remove("USER")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&as_nobody.stderr);
    assert!(as_nobody.status.success(), "{said}");
    assert!(said.contains("$USER is not set"), "{said}");
    // A run that has not started has no log, and says so (no cluster error).
    let (code, _, err) = kradle(&server, &["runs", "logs", &name, "--org", "acme"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is Pending: its attempt has not started"),
        "{err}"
    );
    let (code, _, err) = kradle(&server, &["runs", "cancel", &name, "--org", "acme"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = kradle(&server, &["runs", "cancel", &name, "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("over (Cancelled)"), "{err}");
    let (code, _, err) = kradle(&server, &["runs", "get", "nope", "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("has no run"), "{err}");
    let (code, text, _) = kradle(&server, &["approvals", "list"]);
    assert_eq!((code, text.as_str()), (0, "no approvals\n"));
    let (code, _, err) = kradle(
        &server,
        &[
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer;drop",
            "--task-kind",
            "fix",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("is not a name"), "{err}");
    let (code, _, err) = kradle(&server, &["approvals", "approve", "nope", "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("has no approval"), "{err}");
}

/// The index of the first server whose log says `text`, waiting up to a
/// deadline.
pub(crate) fn first_saying(servers: &[&Server], text: &str) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        for (i, s) in servers.iter().enumerate() {
            if s.lines.try_iter().any(|l| l.contains(text)) {
                return i;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no server said {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_servers_fires_a_missed_schedule_once_and_another_takes_over() {
    // acme's `nightly-review` runs at 03:00 UTC on weekdays.
    let db = Arc::new(TestDb::new().await);
    let servers = vec![
        start_again(db.clone(), &example(), &[]).await,
        start_again(db.clone(), &example(), &[]).await,
        start_again(db.clone(), &example(), &[]).await,
    ];
    let refs: Vec<&Server> = servers.iter().collect();
    let leader = first_saying(&refs, "scheduler: leading");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    // The schedule was last fired 8 days ago: several ticks were missed
    // (downtime). They fire once, for the latest.
    let seed = "INSERT INTO kradle_schedules (org, rule, last_tick)
                VALUES ('acme', 'nightly-review', now() - interval '8 days')
                ON CONFLICT (org, rule) DO UPDATE SET last_tick = now() - interval '8 days'";
    sqlx::query(seed).execute(&pool).await.unwrap();
    let fired = poll_until(
        "the missed schedule to fire",
        || runs(&db),
        |r| !r.is_empty(),
    )
    .await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (source, requested_by): (serde_json::Value, String) =
        sqlx::query_as("SELECT source_refs, requested_by FROM kradle_dispatch_runs")
            .fetch_one(&pool)
            .await
            .unwrap();
    let source = source[0].as_str().unwrap().to_string();
    assert!(
        source.starts_with("schedule:") && source.ends_with("T03:00:00Z"),
        "{source}"
    );
    assert_eq!(requested_by, "kradle-scheduler");
    let tick: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT last_tick FROM kradle_schedules")
            .fetch_one(&pool)
            .await
            .unwrap();

    // The leader dies; another server leads. Seeded back to the same
    // missed ticks, it reaches the same latest tick, which fired already.
    let mut servers = servers;
    drop(servers.remove(leader)); // SIGKILL
    let refs: Vec<&Server> = servers.iter().collect();
    first_saying(&refs, "scheduler: leading");
    sqlx::query(seed).execute(&pool).await.unwrap();
    poll_until(
        "the new leader's pass",
        || async {
            sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
                "SELECT last_tick FROM kradle_schedules",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        },
        |t| *t == tick,
    )
    .await;
    assert_eq!(runs(&db).await.len(), 1, "a tick fires once");
    let executions: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_trigger_executions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(executions, 1);
}

/// The example, its fixer stack made to ask for approval of every run.
pub(crate) fn asking_for_approval() -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let agents = config.path().join("orgs/acme/agents.yaml");
    let text = std::fs::read_to_string(&agents).unwrap();
    std::fs::write(
        &agents,
        text.replace("approvalMode: write-back", "approvalMode: always"),
    )
    .unwrap();
    config
}

/// grace's `kradle dispatch` of acme's fixer on `api`: the run's name.
pub(crate) fn dispatch_fix(server: &Server) -> String {
    let (code, run, err) = kradle(
        server,
        &[
            "dispatch",
            "--org",
            "acme",
            "--stack",
            "fixer",
            "--task-kind",
            "fix",
            "--repository",
            "api",
            "--as",
            "grace",
        ],
    );
    assert_eq!(code, 0, "{err}");
    run.trim().to_string()
}

/// The example with acme's fixer without its runner pool, and acme's
/// gateway at `mux`.
pub(crate) fn on_the_gateway(mux: &support::fake_mux::FakeMux) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let agents = config.path().join("orgs/acme/agents.yaml");
    let text = std::fs::read_to_string(&agents).unwrap();
    let text = text
        .replace("  runnerPolicy:\n    runnerPoolRef: default\n", "")
        .replace(
            "  gatewayUrl: https://mux.acme.example\n",
            &format!(
                "  gatewayUrl: {}\n  auth:\n    secretRef: {{ name: mux-auth, key: token }}\n",
                mux.url
            ),
        )
        .replace("backoffMs: 1000", "backoffMs: 10");
    std::fs::write(&agents, text).unwrap();
    config
}

/// The gateway URL comes from the config: on a host the operator did not
/// allow, no launch is sent (it would carry the gateway's token and the
/// run's callback token); the attempts fail saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_the_operator_did_not_allow_gets_no_launch() {
    let mux = support::fake_mux::FakeMux::start(MUX_TOKEN).await;
    let config = on_the_gateway(&mux);
    let args = ["--allow-host", "mux.acme.example", "--job-poll-ms", "20"];
    let server = start_in(Arc::new(TestDb::new().await), config.path(), &args, None).await;
    dispatch_fix(&server);
    poll_until("Failed", || runs(&server.db), |r| r[0].1 == "Failed").await;
    assert!(
        mux.seen("POST", "/v1/sessions").is_empty(),
        "nothing was launched"
    );
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let why: String = sqlx::query_scalar(
        "SELECT reason_code || ': ' || message FROM kradle_dispatch_attempts ORDER BY id LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(why.starts_with("LaunchRefused: gateway"), "{why}");
    assert!(
        why.contains("is not an allowed host for credentials"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_without_a_runner_pool_runs_on_the_gateway_pinned_to_its_memory() {
    let mux = support::fake_mux::FakeMux::start(MUX_TOKEN).await;
    mux.script_events(&["reading the log", "pushed a fix"], succeeded());
    mux.script_connections(&[support::fake_mux::Plan::Drop(1)]);
    let config = on_the_gateway(&mux);
    // acme's memory repository, `agent-memory`, as a git repository.
    let memory = tempfile::tempdir().unwrap();
    let commit = support::MemoryRepo::new(memory.path()).commit("restart the runner\n");

    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let template = format!("file://{}/{{org}}/{{repo}}.git", memory.path().display());
    let server = start_in(
        Arc::new(TestDb::new().await),
        config.path(),
        &[
            "--api-token-file",
            tokens.path().to_str().unwrap(),
            "--job-poll-ms",
            "20",
            "--memory-git-url",
            &template,
        ],
        None,
    )
    .await;
    let run = dispatch_fix(&server);
    poll_until("Succeeded", || runs(&server.db), |r| r[0].1 == "Succeeded").await;

    let launched = mux.seen("POST", "/v1/sessions");
    assert_eq!(launched.len(), 1);
    assert_eq!(
        launched[0].authorization.as_deref(),
        Some(format!("Bearer {MUX_TOKEN}").as_str())
    );
    assert_eq!(
        launched[0].body["contextBundle"]["task"]["memory"]["commit"],
        commit.as_str()
    );
    let streams = mux.seen("GET", "/v1/runs/mux-1/events");
    assert_eq!(streams.len(), 2, "the dropped stream was reopened");
    assert_eq!(streams[1].last_event_id.as_deref(), Some("1"));
    assert!(mux.invalid().is_empty(), "{:?}", mux.invalid());

    let ns = "/apis/data.kradle.a5c.ai/v1alpha1/namespaces/kradle-org-acme";
    let (status, attempts) = api_get(
        &server,
        &format!("{ns}/agentdispatchattempts"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{attempts}");
    let attempt = &attempts["items"][0]["status"];
    assert_eq!(attempt["backend"], "agent-mux");
    assert_eq!(attempt["agentMuxRunId"], "mux-1");
    assert_eq!(attempt["agentMuxSessionId"], "s-mux-1");
    let (_, got) = api_get(
        &server,
        &format!("{ns}/agentdispatchruns/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(got["spec"]["memorySnapshotRef"], format!("{run}-memory"));
    let (status, snapshot) = api_get(
        &server,
        &format!("{ns}/agentmemorysnapshots/{run}-memory"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{snapshot}");
    assert_eq!(snapshot["spec"]["resolvedCommit"], commit.as_str());
    assert_eq!(snapshot["spec"]["memoryRepository"], "brain");
    let (_, transcript) = api_get(
        &server,
        &format!("{ns}/agentsessiontranscripts/{run}"),
        Some(API_TOKEN),
    )
    .await;
    assert_eq!(transcript["status"]["eventCount"], 2);
    let (code, _, err) = kradle(&server, &["runs", "logs", &run, "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("runs on the Agent Mux gateway"), "{err}");
    let log: Vec<String> = server.lines.try_iter().collect();
    assert!(
        !log.iter().any(|l| l.contains(MUX_TOKEN)),
        "the gateway token was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_its_approval_which_a_person_gives_from_the_command_line() {
    let config = asking_for_approval();
    let server = start_with(config.path(), &[]).await;
    let run = dispatch_fix(&server);
    poll_until(
        "AwaitingApproval",
        || runs(&server.db),
        |r| r[0].1 == "AwaitingApproval",
    )
    .await;
    let (code, list, _) = kradle(&server, &["approvals", "list", "--org", "acme"]);
    assert_eq!(code, 0);
    let approval = format!("{run}-secret-access");
    assert!(
        list.contains(&approval) && list.contains("Pending") && list.contains("grace"),
        "{list}"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kradle_dispatch_approvals_pending 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kradle_dispatch_runs{org=\"acme\",phase=\"AwaitingApproval\"} 1"),
        "{metrics}"
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
    // Approved, it goes on: no cluster here, so it waits in Queued.
    poll_until("Queued", || runs(&server.db), |r| r[0].1 == "Queued").await;
    let (code, _, err) = kradle(&server, &["approvals", "deny", &approval, "--org", "acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("approved by ada"), "{err}");
    let (_, all, _) = kradle(&server, &["approvals", "list", "--all", "--json"]);
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all[0]["status"]["decidedBy"], "ada");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitea_label_added_dispatches_and_removed_does_not() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{API_TOKEN}\n")).unwrap();
    let server = start_with(
        &example(),
        &["--api-token-file", tokens.path().to_str().unwrap()],
    )
    .await;
    // acme's `label-fix`: the label `agent-fix` added to an issue. Gitea
    // says only the labels after each change.
    let labeled = |labels: &[&str], at: &str| {
        let labels: Vec<serde_json::Value> = labels
            .iter()
            .map(|l| serde_json::json!({ "name": l }))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "action": "label_updated", "number": 4,
            "repository": { "id": 3, "name": "api", "full_name": "acme/api" },
            "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                       "user": { "login": "alice" }, "labels": labels,
                       "assignees": null, "pull_request": null, "updated_at": at },
            "sender": { "login": "ada", "username": "ada" },
        }))
        .unwrap()
    };
    for (id, labels, at) in [
        ("l1", vec!["bug"], "2026-01-02T10:00:00Z"),
        ("l2", vec!["bug", "agent-fix"], "2026-01-02T10:01:00Z"),
        ("l3", vec!["bug"], "2026-01-02T10:02:00Z"),
    ] {
        let status = gitea_event(
            &server,
            "api-events",
            "issue_label",
            id,
            &labeled(&labels, at),
            GITEA_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202, "{id}");
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
        .filter(|x| x["spec"]["triggerRule"] == "label-fix")
        .map(|x| {
            (
                x["spec"]["deliveryId"].as_str().unwrap().to_string(),
                x["status"]["phase"].as_str().unwrap().to_string(),
                x["status"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "l1".into(),
                "Skipped".into(),
                "label `bug` is not one of the trigger's".into()
            ),
            ("l2".into(), "Dispatched".into(), String::new()),
            (
                "l3".into(),
                "Skipped".into(),
                "the label trigger is for `labeled`".into()
            ),
        ]
    );
    assert_eq!(runs(&server.db).await.len(), 1);
}
