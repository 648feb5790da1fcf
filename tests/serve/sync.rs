//! Sync: deliveries applied to projections, in order, once; dead letters; Gitea's
//! events under GitHub's names.

use super::*;

// ---------------------------------------------------------------------------
// Sync: the workers turn deliveries into sync events and projections.

/// Waits until every job is done or dead.
pub(crate) async fn drained(db: &TestDb) {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM kradle_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never drained: {left} jobs left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
}

pub(crate) fn example_body(name: &str) -> serde_json::Value {
    let path = workspace().join(format!(
        "testdata/upstream/github/webhook-examples/{name}.json"
    ));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The kind each of the spec's twelve GitHub events is about.
pub(crate) fn expected_kind(event: &str, payload: &serde_json::Value) -> &'static str {
    match event {
        // A pull request is an issue too: events about it as one are
        // about the pull request.
        "issues" | "issue_comment" if payload["issue"]["pull_request"].is_object() => "PullRequest",
        "issues" | "issue_comment" => "Issue",
        "pull_request" => "PullRequest",
        "pull_request_review" => "Review",
        "workflow_run" | "check_suite" => "Pipeline",
        "workflow_job" | "check_run" => "Job",
        "push" => "Repository",
        "deployment" | "deployment_status" => "Deployment",
        "label" => "Label",
        other => panic!("an event the spec does not list: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_github_example_is_synced_once_into_valid_projections() {
    let server = start_with(&example(), &[]).await;
    let dir = workspace().join("testdata/upstream/github/webhook-examples");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    let mut expected = std::collections::BTreeMap::new();
    for round in ["first", "again"] {
        for (i, path) in examples.iter().enumerate() {
            let body = std::fs::read(path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let event = name.split('.').next().unwrap().to_string();
            let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let id = format!("d-{i}");
            expected.insert(id.clone(), (event.clone(), expected_kind(&event, &payload)));
            let status = github(
                &server,
                "github-doomsday",
                &event,
                &id,
                &body,
                GITHUB_SECRET,
            )
            .await;
            assert!(status.is_success(), "{round}: {name}: {status}");
        }
        drained(&server.db).await;
    }

    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    // One sync event per delivery, about the object the spec says.
    let events: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT d.delivery_id, e.event_type, e.resource_kind, e.outcome
           FROM kradle_sync_events e JOIN kradle_webhook_deliveries d ON d.id = e.delivery",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        events.len(),
        53,
        "each delivery once, redeliveries not again"
    );
    for (delivery, event, kind, outcome) in &events {
        let (want_event, want_kind) = &expected[delivery];
        assert_eq!(
            (event, kind.as_str()),
            (want_event, *want_kind),
            "{delivery}"
        );
        let projected = !matches!(kind.as_str(), "Repository" | "Deployment" | "Label");
        match (projected, outcome.as_str()) {
            (true, "applied" | "superseded" | "unmatched") | (false, "recorded") => {}
            other => panic!("{delivery} {event}: {other:?}"),
        }
    }
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM kradle_webhook_deliveries WHERE outcome = 'processed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(processed, 53);
    assert_eq!(rows(&server.db, "kradle_dead_jobs").await, 0);

    // /metrics counts the same.
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metric = |name: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        metric("kradle_webhook_deliveries_total{result=\"accepted\"}"),
        53
    );
    assert_eq!(
        metric("kradle_webhook_deliveries_total{result=\"duplicate\"}"),
        53
    );
    assert_eq!(metric("kradle_queue_depth{queue=\"sync\"}"), 0);
    let finished: u64 = ["applied", "superseded", "unmatched", "recorded"]
        .iter()
        .map(|o| metric(&format!("kradle_sync_jobs_total{{outcome=\"{o}\"}}")))
        .sum();
    assert_eq!(finished, 53);
    assert!(
        !metrics.contains("kradle_sync_lag_seconds{"),
        "nothing left unprocessed"
    );

    // Every projection is a valid object of its kind's schema.
    let projections: Vec<(String, String, serde_json::Value, serde_json::Value)> =
        sqlx::query_as("SELECT kind, name, labels, spec FROM kradle_projections")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (kind, name, labels, spec) in &projections {
        let schema_path = workspace().join(format!("schemas/json/{kind}.json"));
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(schema_path).unwrap()).unwrap();
        let object = serde_json::json!({
            "apiVersion": "data.kradle.a5c.ai/v1alpha1",
            "kind": kind,
            "metadata": { "name": name, "namespace": "kradle-org-globex", "labels": labels },
            "spec": spec,
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&object)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{kind} {name}: {errors:?}\n{object:#}");
        kinds.insert(kind.clone());
    }
    let all = ["Issue", "Job", "Pipeline", "PullRequest", "Review"];
    assert_eq!(kinds.iter().map(String::as_str).collect::<Vec<_>>(), all);

    // The workflow run's Pipeline follows the spec's phase mapping, and
    // its job is a Job of that Pipeline.
    let run = example_body("workflow_run.completed");
    let (name, spec, status): (String, serde_json::Value, serde_json::Value) = sqlx::query_as(
        "SELECT name, spec, status FROM kradle_projections WHERE kind = 'Pipeline' AND native_id = $1",
    )
    .bind(format!(
        "{}/runs/{}",
        run["repository"]["full_name"].as_str().unwrap(),
        run["workflow_run"]["id"]
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(spec["ref"], run["workflow_run"]["head_branch"]);
    assert_eq!(spec["trustTier"], "trusted");
    let job = example_body("workflow_job.completed");
    let pipeline: String = sqlx::query_scalar(
        "SELECT spec ->> 'pipeline' FROM kradle_projections WHERE kind = 'Job' AND native_id = $1",
    )
    .bind(format!(
        "{}/jobs/{}",
        job["repository"]["full_name"].as_str().unwrap(),
        job["workflow_job"]["id"]
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        pipeline.ends_with(&format!("-run-{}", job["workflow_job"]["run_id"])),
        "{pipeline} {name}"
    );

    // The watermark is the newest updated_at applied, per kind.
    let watermark: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT watermark FROM kradle_sync_states
          WHERE org = 'globex' AND receiver = 'github-doomsday' AND resource_kind = 'Pipeline'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        watermark.map(|w| w.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        run["workflow_run"]["updated_at"]
            .as_str()
            .map(str::to_string)
    );
    pool.close().await;
}

/// `issues` deliveries about issue 7 of globex/doomsday: `action`, its
/// title and updated_at.
pub(crate) fn issue_event(action: &str, title: &str, updated_at: &str) -> Vec<u8> {
    let mut body = example_body(&format!("issues.{action}"));
    body["repository"]["full_name"] = "globex/doomsday".into();
    body["repository"]["name"] = "doomsday".into();
    body["issue"]["number"] = 7.into();
    body["issue"]["title"] = title.into();
    body["issue"]["updated_at"] = updated_at.into();
    serde_json::to_vec(&body).unwrap()
}

pub(crate) async fn issue_title(db: &TestDb) -> (String, String) {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let row = sqlx::query_as(
        "SELECT spec ->> 'title', name FROM kradle_projections
          WHERE kind = 'Issue' AND native_id = 'globex/doomsday/issues/7'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_delivered_before_the_open_is_not_undone_by_it() {
    let server = start_with(&example(), &[]).await;
    let hook = "github-doomsday";
    let edited = issue_event("edited", "Final title", "2026-01-02T10:00:05Z");
    let opened = issue_event("opened", "First title", "2026-01-02T10:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "e", &edited, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;
    assert_eq!(
        github(&server, hook, "issues", "o", &opened, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;

    let (title, name) = issue_title(&server.db).await;
    assert_eq!(title, "Final title");
    assert_eq!(name, "github-doomsday-7");
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let outcomes: Vec<(String, String)> =
        sqlx::query_as("SELECT action, outcome FROM kradle_sync_events ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let outcomes: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|(a, o)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(outcomes, [("edited", "applied"), ("opened", "superseded")]);
    let (watermark, applied, superseded): (chrono::DateTime<chrono::Utc>, i64, i64) =
        sqlx::query_as(
            "SELECT watermark, applied, superseded FROM kradle_sync_states WHERE resource_kind = 'Issue'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(watermark.to_rfc3339(), "2026-01-02T10:00:05+00:00");
    assert_eq!((applied, superseded), (1, 1));

    // A newer edit still applies.
    let later = issue_event("edited", "Later title", "2026-01-02T11:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "l", &later, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;
    assert_eq!(issue_title(&server.db).await.0, "Later title");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_leaves_it_to_the_next_which_applies_it_once() {
    let mut first = start_with(&example(), &["--workers", "1", "--job-lease", "1"]).await;
    let db = first.db.clone();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();

    // Hold the projections table, so the worker stops inside its
    // transaction: it has claimed the job and begun applying it.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE kradle_projections IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let body = issue_event("opened", "Survives a crash", "2026-01-02T10:00:00Z");
    let hook = "github-doomsday";
    assert_eq!(
        github(&first, hook, "issues", "k", &body, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'
                AND query LIKE '%kradle_projections%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never reached the job"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    blocker.rollback().await.unwrap();

    let held: (i32, Option<String>) = sqlx::query_as("SELECT attempts, locked_by FROM kradle_jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held.0, 1, "the dead worker's attempt counts");
    assert!(
        held.1.is_some(),
        "the job is still leased to the dead worker"
    );
    assert_eq!(
        rows(&db, "kradle_projections").await,
        0,
        "nothing half-applied"
    );

    let second = start_again(
        db.clone(),
        &example(),
        &["--workers", "1", "--job-lease", "1"],
    )
    .await;
    drained(&db).await;
    assert_eq!(issue_title(&db).await.0, "Survives a crash");
    assert_eq!(rows(&db, "kradle_sync_events").await, 1);
    assert_eq!(rows(&db, "kradle_dead_jobs").await, 0);
    let outcome: Option<String> =
        sqlx::query_scalar("SELECT outcome FROM kradle_webhook_deliveries")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(outcome.as_deref(), Some("processed"));
    drop(second);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_cannot_be_synced_is_a_dead_letter_after_its_retries() {
    let config = tempfile::tempdir().unwrap();
    support::copy_dir(&example(), config.path());
    let globex = config.path().join("orgs/globex/globex.yaml");
    let text = std::fs::read_to_string(&globex).unwrap();
    let policy = "retryPolicy: { maxRetries: 3, backoffMs: 1000 }";
    assert!(text.contains(policy));
    std::fs::write(
        &globex,
        text.replace(policy, "retryPolicy: { maxRetries: 2, backoffMs: 10 }"),
    )
    .unwrap();
    let server = start_with(config.path(), &[]).await;
    let hook = "github-doomsday";

    // Signed and JSON, but an `issues` event without its issue.
    let broken =
        br#"{"action":"opened","repository":{"full_name":"globex/doomsday","name":"doomsday"}}"#;
    assert_eq!(
        github(&server, hook, "issues", "b", broken, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    let fine = issue_event("opened", "Fine", "2026-01-02T10:00:00Z");
    assert_eq!(
        github(&server, hook, "issues", "f", &fine, GITHUB_SECRET)
            .await
            .as_u16(),
        202
    );
    drained(&server.db).await;

    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM kradle_dead_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 3, "the first try and the policy's 2 retries");
    assert_eq!(error.as_deref(), Some("issues payload without issue"));
    let outcomes: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT delivery_id, outcome FROM kradle_webhook_deliveries ORDER BY delivery_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        [
            ("b".into(), Some("dead".into())),
            ("f".into(), Some("processed".into()))
        ]
    );
    assert_eq!(issue_title(&server.db).await.0, "Fine");

    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_database_refuses_fails_alone_and_folded_names_both_get_one() {
    let queued = start_on(&example()).await; // no workers: the jobs wait
    let db = queued.db.clone();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    // A row the database refuses, wherever it comes in a batch.
    sqlx::query(
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.spec ->> 'title' = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF;
           RETURN NEW;
         END $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON kradle_projections
         FOR EACH ROW EXECUTE FUNCTION poison()",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Two repositories whose names fold to the same object name
    // (`github-wid-get-1`), another, and the poison.
    for (id, repo, number, title) in [
        ("c1", "wid_get", 1, "first"),
        ("c2", "wid-get", 1, "second"),
        ("c3", "other", 2, "other"),
        ("c4", "other", 3, "poison"),
    ] {
        let mut body = example_body("issues.opened");
        body["repository"]["full_name"] = format!("globex/{repo}").into();
        body["repository"]["name"] = repo.into();
        body["issue"]["number"] = number.into();
        body["issue"]["title"] = title.into();
        let body = serde_json::to_vec(&body).unwrap();
        let status = github(
            &queued,
            "github-doomsday",
            "issues",
            id,
            &body,
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(status.as_u16(), 202);
    }
    // One worker claims all four in one batch. The batch fails on the
    // poison; its jobs are redone one by one, so only the poison fails.
    drop(queued);
    let workers = start_again(db.clone(), &example(), &["--workers", "1"]).await;
    drained(&db).await;
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, spec ->> 'title' FROM kradle_projections WHERE kind = 'Issue' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let names: Vec<(&str, &str)> = names
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], ("github-other-2", "other"));
    assert_eq!(names[1], ("github-wid-get-1", "first"));
    // The second keeps its own object, under a name its native id decides.
    let (suffixed, title) = names[2];
    assert_eq!(title, "second");
    let rest = suffixed.strip_prefix("github-wid-get-1-").unwrap();
    assert!(
        rest.len() == 8 && rest.chars().all(|c| c.is_ascii_hexdigit()),
        "{suffixed}"
    );
    let event_names: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT e.resource_name FROM kradle_sync_events e
           JOIN kradle_webhook_deliveries d ON d.id = e.delivery WHERE d.delivery_id = 'c2'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(event_names, [Some(suffixed.to_string())]);
    let dead: Vec<String> = sqlx::query_scalar("SELECT last_error FROM kradle_dead_jobs")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("poisoned row"), "{dead:?}");
    drop(workers);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_issues_and_reviews_are_synced_under_githubs_names() {
    let server = start_with(&example(), &[]).await;
    let repo = serde_json::json!({ "id": 3, "name": "api", "full_name": "acme/api" });
    // Gitea's payloads: `pull_request: null` on a plain issue, the review's
    // verdict in the event name.
    let issue = serde_json::json!({
        "action": "label_updated", "number": 4, "repository": repo,
        "issue": { "id": 40, "number": 4, "title": "Flaky test", "state": "open",
                   "user": { "login": "alice" }, "labels": [{ "name": "bug" }],
                   "assignees": null, "pull_request": null,
                   "updated_at": "2026-01-02T10:00:00Z",
                   "html_url": "https://gitea.acme.example/acme/api/issues/4" }
    });
    let review = serde_json::json!({
        "action": "reviewed", "number": 5, "repository": repo,
        "pull_request": { "id": 50, "number": 5, "title": "Fix it", "state": "open",
                          "user": { "login": "bob" }, "merged": false,
                          "head": { "ref": "fix", "sha": "abc" }, "base": { "ref": "main" },
                          "updated_at": "2026-01-02T11:00:00Z" },
        "review": { "type": "pull_request_review_approved", "content": "LGTM" }
    });
    for (event, id, body) in [
        ("issue_label", "g1", &issue),
        ("pull_request_approved", "g2", &review),
    ] {
        let body = serde_json::to_vec(body).unwrap();
        let status = gitea_event(&server, "api-events", event, id, &body, GITEA_SECRET).await;
        assert_eq!(status.as_u16(), 202, "{event}");
    }
    drained(&server.db).await;
    let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
    let rows: Vec<(String, String, serde_json::Value)> =
        sqlx::query_as("SELECT kind, name, spec FROM kradle_projections ORDER BY kind")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (kind, name, spec) = &rows[0];
    assert_eq!((kind.as_str(), name.as_str()), ("Issue", "gitea-api-4"));
    assert_eq!(spec["labels"], serde_json::json!(["bug"]));
    assert_eq!(spec["organizationRef"], "acme");
    let (kind, name, spec) = &rows[1];
    assert_eq!(kind, "Review");
    assert!(name.starts_with("gitea-api-5-review-"), "{name}");
    assert_eq!(spec["state"], "approved");
    assert_eq!(spec["body"], "LGTM");
    assert_eq!(spec["pullRequest"], "gitea-api-5");
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM kradle_sync_events ORDER BY delivery")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(events, ["issues", "pull_request_review"]);
    pool.close().await;
}
