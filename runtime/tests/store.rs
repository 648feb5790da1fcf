//! The store against the machine's PostgreSQL, one database per test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::time::{Duration, Instant};

use kradle_compiler::forge_plan::{Action, Backend, Method, Operation, Target, Template};
use kradle_runtime::store::{
    CreatedBy, Link, NewIntent, Phase, Store, StoreError, latest_migration,
};
use serde_json::json;
use support::TestDb;

async fn migrated() -> (TestDb, Store) {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

fn operation(id: &str, key: &str) -> Operation {
    Operation {
        id: id.into(),
        target: Target::owner("acme").repo("api"),
        action: Action::CreateWebhook,
        method: Method::Post,
        path: Template::new("/repos/acme/api/hooks".to_string()),
        body: json!({ "type": "gitea", "config": { "url": "https://ci.example/hook", "secret": "${secret:kradle-org-acme/hooks/token}" } }),
        idempotency_key: key.into(),
        depends_on: vec![],
    }
}

fn new(op: &Operation) -> NewIntent<'_> {
    NewIntent::of("acme", Backend::Gitea, op)
}

/// Waits for `condition` to hold, up to a deadline.
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn migrations_apply_once_and_the_schema_is_then_current() {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url).await.unwrap();
    assert!(!store.is_current().await.unwrap());
    assert!(matches!(
        store.require_current().await,
        Err(StoreError::NotMigrated { .. })
    ));
    let every: Vec<i64> = (1..=latest_migration()).collect();
    let first = store.migrate().await.unwrap();
    assert_eq!(first.applied, every);
    assert_eq!(first.current, latest_migration());
    let again = store.migrate().await.unwrap();
    assert!(again.applied.is_empty());
    assert!(store.is_current().await.unwrap());
    store.require_current().await.unwrap();
}

#[tokio::test]
async fn replicas_migrating_at_once_all_succeed() {
    let db = TestDb::new().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            Store::connect(&url).await.unwrap().migrate().await
        }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        applied.extend(t.await.unwrap().unwrap().applied);
    }
    applied.sort();
    let every: Vec<i64> = (1..=latest_migration()).collect();
    assert_eq!(applied, every, "each migration is applied exactly once");
}

#[tokio::test]
async fn a_schema_from_a_newer_kradle_is_refused() {
    let (db, store) = migrated().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { version: 9999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer kradle"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    let err = Store::connect("postgres://kradle:hunter2-secret@127.0.0.1:1/kradle")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{msg}");
    assert!(msg.contains("127.0.0.1:1/kradle"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    let bad = Store::connect("mysql://x:hunter2@h/db").await.unwrap_err();
    assert!(!bad.to_string().contains("hunter2"), "{bad}");
}

#[tokio::test]
async fn no_url_is_a_clear_error() {
    // A blank URL counts as none, whatever the environment says.
    let err = Store::connect_from(Some("  ")).await.unwrap_err();
    assert!(matches!(err, StoreError::NoUrl), "{err}");
    assert!(err.to_string().contains("--database-url"));
}

#[tokio::test]
async fn an_open_intent_is_recorded_once_and_history_is_kept() {
    let (_db, store) = migrated().await;
    let op = operation("webhook:ci", "idem-gitForge-createWebhook-0001");
    let first = store.record_intent(new(&op)).await.unwrap();
    assert_eq!(first.phase, Phase::Pending);
    assert_eq!(first.attempts, 0);
    assert!(first.body_digest.starts_with("sha256:"));

    // A rerun (say, after a kill) finds the same intent, whatever its phase.
    let started = store.start_intent(first.id).await.unwrap();
    assert_eq!((started.phase, started.attempts), (Phase::InFlight, 1));
    let again = store.record_intent(new(&op)).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.phase, Phase::InFlight);

    // Once closed, the same write may be recorded again (drift repair).
    store
        .finish_intent(first.id, Phase::Succeeded, None)
        .await
        .unwrap();
    let later = store.record_intent(new(&op)).await.unwrap();
    assert_ne!(later.id, first.id);
    let all = store
        .list_intents(
            Some("acme"),
            &[Phase::Succeeded, Phase::Pending, Phase::InFlight],
        )
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|i| i.phase).collect::<Vec<_>>(),
        [Phase::Succeeded, Phase::Pending]
    );
}

#[tokio::test]
async fn concurrent_recorders_get_one_intent() {
    let (_db, store) = migrated().await;
    let op = operation("webhook:ci", "idem-gitForge-createWebhook-0002");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, op) = (store.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            store.record_intent(new(&op)).await.unwrap().id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn no_secret_value_reaches_the_journal() {
    let (db, store) = migrated().await;
    let op = operation("webhook:ci", "idem-gitForge-createWebhook-0003");
    let intent = store.record_intent(new(&op)).await.unwrap();
    store
        .finish_intent(intent.id, Phase::Failed, Some("HTTP 422: hook exists"))
        .await
        .unwrap();
    // The plan holds a placeholder; the journal holds the path and a digest.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let dump: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(i)::text FROM kradle_write_intents i")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let text = dump.join("\n");
    assert!(text.contains("/repos/acme/api/hooks"), "{text}");
    assert!(!text.contains("secret:"), "{text}");
}

#[tokio::test]
async fn approval_writes_start_pending_approval() {
    let (_db, store) = migrated().await;
    let op = operation("webhook:ci", "idem-gitForge-createWebhook-0004");
    let intent = store
        .record_intent(NewIntent {
            needs_approval: true,
            ..new(&op)
        })
        .await
        .unwrap();
    assert_eq!(intent.phase, Phase::PendingApproval);
    assert!(intent.phase.is_open());
}

#[tokio::test]
async fn links_keep_who_created_them() {
    let (_db, store) = migrated().await;
    let mut link = Link {
        org: "acme".into(),
        backend: "gitea".into(),
        kind: "team".into(),
        name: "core-write".into(),
        native_id: Some("17".into()),
        created_by: CreatedBy::Kradle,
        applied_digest: Some("sha256:aa".into()),
    };
    store.upsert_link(&link).await.unwrap();
    // Re-applied later, seen as matching: still kradle's, id kept.
    link.created_by = CreatedBy::Adopted;
    link.native_id = None;
    link.applied_digest = Some("sha256:bb".into());
    store.upsert_link(&link).await.unwrap();
    let links = store.links("acme", Backend::Gitea).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].created_by, CreatedBy::Kradle);
    assert_eq!(links[0].native_id.as_deref(), Some("17"));
    assert_eq!(links[0].applied_digest.as_deref(), Some("sha256:bb"));
    assert!(
        store
            .delete_link("acme", Backend::Gitea, "team", "core-write")
            .await
            .unwrap()
    );
    assert!(
        store
            .links("acme", Backend::Gitea)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn one_apply_per_org_at_a_time() {
    let (db, store) = migrated().await;
    let held = store.lock_org("acme", false).await.unwrap();

    // Without waiting: refused, naming the holder.
    let other = Store::connect(&db.url).await.unwrap();
    let err = other.lock_org("acme", false).await.unwrap_err();
    match &err {
        StoreError::Locked { org, holder } => {
            assert_eq!(org, "acme");
            assert!(holder.contains("kradle/"), "{holder}");
        }
        e => panic!("expected Locked, got {e}"),
    }
    // Another organization is not affected.
    other
        .lock_org("globex", false)
        .await
        .unwrap()
        .release()
        .await;

    // Waiting: blocks until the holder releases.
    let waiter = tokio::spawn({
        let other = other.clone();
        async move { other.lock_org("acme", true).await }
    });
    let watcher = sqlx::PgPool::connect(&db.url).await.unwrap();
    eventually("the second apply to wait on the lock", || {
        let watcher = watcher.clone();
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            .fetch_one(&watcher)
            .await
            .unwrap();
            waiting == 1
        }
    })
    .await;
    assert!(!waiter.is_finished());
    held.release().await;
    let second = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("the waiter gets the lock once it is released")
        .unwrap()
        .unwrap();
    assert_eq!(second.org(), "acme");
    drop(watcher);

    // Dropping a lock (a crashed run) releases it too.
    drop(second);
    eventually("the dropped lock to be released", || {
        let other = other.clone();
        async move {
            match other.lock_org("acme", false).await {
                Ok(l) => {
                    l.release().await;
                    true
                }
                Err(_) => false,
            }
        }
    })
    .await;
}
