//! An agent's writes sent to GitHub (the fake answers as the OpenAPI
//! description and the recorded exchanges say): once each, when an answer
//! is lost after the write landed, when someone opened the pull request
//! first, and refused with GitHub's reason when GitHub refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kradle_runtime::agent::{Origin, parse};
use kradle_runtime::forge::github::GitHub;
use kradle_runtime::forge::http::{Http, RetryPolicy};
use kradle_runtime::loops::agent::{Executed, execute};
use kradle_runtime::loops::writeback::{Forge, Target, Targets, WriteBackPolicy};
use kradle_runtime::secrets::SecretValue;
use kradle_runtime::store::{Caller, NewAgentWrite, Phase, Store};
use serde_json::{Value, json};
use support::TestDb;
use support::fake_github::{FakeGitHub, Repo, TOKEN};
use support::upstream::Api;

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

struct Env {
    _db: TestDb,
    store: Store,
    fake: FakeGitHub,
    targets: Targets,
    caller: Caller,
}

async fn env() -> Env {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeGitHub::start(Api::github()).await;
    fake.with(|w| {
        w.org("globex");
        let issue = json!({ "number": 7, "title": "Doomsday clock", "state": "open",
                            "updated_at": "2026-01-02T10:00:00Z", "labels": [] });
        w.repos.insert(
            ("globex".into(), "doomsday".into()),
            Repo {
                value: json!({ "name": "doomsday", "full_name": "globex/doomsday" }),
                issues: vec![issue],
                ..Repo::default()
            },
        );
    });
    fake.push_commit("globex", "doomsday", "main", &"a".repeat(40));
    fake.push_commit("globex", "doomsday", "kradle/fix-7", HEAD);
    let policy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(1),
        max_wait: Duration::from_millis(20),
        max_total: Duration::from_secs(10),
        timeout: Duration::from_secs(10),
    };
    let http = Http::new(
        &fake.url,
        Some(SecretValue::new(format!("Bearer {TOKEN}"))),
        policy,
    )
    .unwrap()
    .github();
    let mut targets: Targets = BTreeMap::new();
    targets.insert(
        ("globex".into(), "github".into()),
        Target {
            policy: WriteBackPolicy::default(),
            forge: Ok(Forge::GitHub(Arc::new(GitHub::new(http)))),
        },
    );
    let name = store
        .dispatch_manually(
            "globex",
            "fixer",
            "fix",
            Some("doomsday"),
            Some("main"),
            "ada",
            3,
            600,
        )
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let run: i64 = sqlx::query_scalar("SELECT id FROM kradle_dispatch_runs WHERE name = $1")
        .bind(&name)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let payload = json!({ "repository": { "full_name": "globex/doomsday", "default_branch": "main" },
                          "issue": { "number": 7 } });
    let caller = Caller {
        run,
        org: "globex".into(),
        name,
        git_ref: Some("main".into()),
        approval_mode: None,
        tools: Value::Null,
        delivery: Some(("github".into(), payload)),
    };
    Env {
        _db: db,
        store,
        fake,
        targets,
        caller,
    }
}

impl Env {
    /// Records what the agent asked (as the agent API does): the write's id.
    async fn ask(&self, body: Value) -> i64 {
        let asked = parse(&body).unwrap();
        let (source, payload) = self.caller.delivery.as_ref().unwrap();
        let origin = Origin::of(source, payload, self.caller.git_ref.as_deref()).unwrap();
        let planned = asked
            .plan(
                &self.caller.org,
                &self.caller.name,
                origin,
                None,
                &Value::Null,
            )
            .unwrap();
        let (w, _) = self
            .store
            .record_agent_write(&NewAgentWrite {
                caller: &self.caller,
                planned: &planned,
            })
            .await
            .unwrap();
        w.intent.id
    }

    fn repo<T>(&self, f: impl FnOnce(&Repo) -> T) -> T {
        self.fake
            .with(|w| f(&w.repos[&("globex".to_string(), "doomsday".to_string())]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_found_on_github_not_sent_again() {
    let env = env().await;
    let pr = env
        .ask(
            json!({ "key": "p", "op": "pull-request", "branch": "kradle/fix-7",
                      "title": "Fix the clock", "body": "It ran fast." }),
        )
        .await;
    let comment = env
        .ask(json!({ "key": "c", "op": "comment", "body": "Opened a pull request." }))
        .await;
    let status = env
        .ask(json!({ "key": "s", "op": "status", "sha": HEAD, "state": "success" }))
        .await;
    // Each write lands, and its answer is a 500.
    env.fake.with(|w| w.faults.error_after_write = 1.0);
    for id in [pr, comment, status] {
        assert!(execute(&env.store, &env.targets, id).await.is_err());
    }
    env.fake.with(|w| w.faults.error_after_write = 0.0);
    for id in [pr, comment, status] {
        assert_eq!(
            execute(&env.store, &env.targets, id).await.unwrap(),
            Executed::AlreadyThere
        );
        let w = env.store.agent_write(id).await.unwrap().unwrap();
        assert_eq!(w.intent.phase, Phase::Succeeded);
    }
    assert_eq!(env.repo(|r| r.pulls.len()), 1);
    assert_eq!(env.repo(|r| r.comments[&7].len()), 1);
    assert_eq!(env.repo(|r| r.statuses[HEAD].len()), 1);
    let w = env.store.agent_write(pr).await.unwrap().unwrap();
    assert_eq!(
        w.result.unwrap()["url"],
        "https://github.com/globex/doomsday/pull/8"
    );
    // Done is done.
    assert_eq!(
        execute(&env.store, &env.targets, pr).await.unwrap(),
        Executed::Nothing
    );
    assert!(env.fake.with(|w| w.violations.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_someone_opened_first_is_taken_and_a_refusal_is_said() {
    let env = env().await;
    // Someone opened the pull request of that branch already.
    let first = env
        .ask(json!({ "key": "p1", "op": "pull-request", "branch": "kradle/fix-7", "title": "A" }))
        .await;
    assert_eq!(
        execute(&env.store, &env.targets, first).await.unwrap(),
        Executed::Sent
    );
    let second = env
        .ask(json!({ "key": "p2", "op": "pull-request", "branch": "kradle/fix-7", "title": "B" }))
        .await;
    // GitHub's 422 "A pull request already exists" is read as the write.
    assert_eq!(
        execute(&env.store, &env.targets, second).await.unwrap(),
        Executed::AlreadyThere
    );
    assert_eq!(env.repo(|r| r.pulls.len()), 1);
    // A branch GitHub does not have, a commit it does not know: refused,
    // with GitHub's words, never retried.
    let missing = env
        .ask(json!({ "key": "p3", "op": "pull-request", "branch": "nope", "title": "C" }))
        .await;
    let Executed::Closed(why) = execute(&env.store, &env.targets, missing).await.unwrap() else {
        panic!("not closed");
    };
    assert!(why.contains("head invalid"), "{why}");
    let unknown = env
        .ask(json!({ "key": "s", "op": "status", "sha": "b".repeat(40), "state": "failure" }))
        .await;
    let Executed::Closed(why) = execute(&env.store, &env.targets, unknown).await.unwrap() else {
        panic!("not closed");
    };
    assert!(why.contains("No commit found"), "{why}");
    let w = env.store.agent_write(unknown).await.unwrap().unwrap();
    assert_eq!(w.intent.phase, Phase::Failed);
    assert!(env.fake.with(|w| w.violations.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_added_and_removed_and_twice_is_once() {
    let env = env().await;
    env.fake.with(|w| {
        let repo = w
            .repos
            .get_mut(&("globex".to_string(), "doomsday".to_string()))
            .unwrap();
        repo.issues[0]["labels"] = json!([{ "name": "bug" }, { "name": "needs review" }]);
    });
    let id = env
        .ask(json!({ "key": "l", "op": "labels", "add": ["triage"],
                      "remove": ["needs review", "not-there"] }))
        .await;
    assert_eq!(
        execute(&env.store, &env.targets, id).await.unwrap(),
        Executed::Sent
    );
    let names = |env: &Env| {
        env.repo(|r| {
            r.issues[0]["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(names(&env), ["bug", "triage"]);
    let w = env.store.agent_write(id).await.unwrap().unwrap();
    assert_eq!(w.result.unwrap()["labels"], json!(["bug", "triage"]));
    // Found InFlight (its answer lost): the issue has it, nothing is sent.
    let pool = sqlx::PgPool::connect(&env._db.url).await.unwrap();
    sqlx::query("UPDATE kradle_write_intents SET phase = 'InFlight' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let writes = env.fake.with(|w| w.writes.len());
    assert_eq!(
        execute(&env.store, &env.targets, id).await.unwrap(),
        Executed::AlreadyThere
    );
    assert_eq!(env.fake.with(|w| w.writes.len()), writes);
    assert_eq!(names(&env), ["bug", "triage"]);
    assert!(env.fake.with(|w| w.violations.is_empty()));
}
