//! `kradle apply` against a stateful fake of Gitea, on a database of its own.
//!
//! The plan is the one kradle compiles from the bundled example
//! (`examples/acme-platform`, organization `acme`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use kradle_compiler::forge_plan::{Action, Backend, Plan};
use kradle_runtime::apply::{ApplyError, ApplyOptions, OrgReport, Outcome, apply};
use kradle_runtime::secrets::Secrets;
use kradle_runtime::store::Store;
use serde_json::{Value, json};
use support::fake_gitea::{FakeGitea, TOKEN};
use support::upstream::Api;
use support::{TestDb, allowing_removal, count, failures};

/// The compiled Gitea plan of `acme`, read back through the typed contract.
fn example_plan() -> Plan {
    support::example_plan("acme", Backend::Gitea)
}

struct Env {
    _db: TestDb,
    store: Store,
    fake: FakeGitea,
    plan: Plan,
    secrets: Secrets,
}

async fn env() -> Env {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeGitea::start(Api::gitea()).await;
    let plan = example_plan();
    // The forge users the plan needs exist (kradle does not create users).
    fake.with(|w| {
        for op in &plan.operations {
            if op.action == Action::EnsureUserMapping {
                w.users.insert(op.target.user.clone().unwrap());
            }
        }
    });
    let secrets = support::secrets_for(&plan);
    Env {
        _db: db,
        store,
        fake,
        plan,
        secrets,
    }
}

impl Env {
    async fn apply_plan(
        &self,
        plan: &Plan,
        options: ApplyOptions,
    ) -> Result<OrgReport, ApplyError> {
        let gitea = self.fake.client();
        apply(
            &self.store,
            &gitea,
            plan,
            &self.secrets,
            &options,
            &mut |_| {},
        )
        .await
    }

    async fn apply(&self, options: ApplyOptions) -> OrgReport {
        self.apply_plan(&self.plan, options).await.unwrap()
    }

    fn writes(&self) -> usize {
        self.fake.with(|w| w.writes.len())
    }

    fn violations(&self) -> Vec<String> {
        self.fake.with(|w| w.violations.clone())
    }
}

#[tokio::test]
async fn a_fresh_apply_builds_the_org_and_a_second_one_sends_nothing() {
    let env = env().await;
    let first = env.apply(ApplyOptions::default()).await;
    assert!(failures(&first).is_empty(), "{:?}", failures(&first));
    assert!(env.violations().is_empty(), "{:?}", env.violations());
    assert!(count(&first, Outcome::Created) > 10);

    env.fake.with(|w| {
        assert!(w.orgs.contains_key("acme"));
        let repo = &w.repos[&("acme".to_string(), "api".to_string())];
        assert_eq!(repo["private"], true);
        assert_eq!(repo["description"], "Public API service");
        // Teams per level, with their members and repositories.
        let (_, team) = w.team_named("acme", "api-team").expect("team");
        assert!(team.members.contains("ada"));
        assert!(team.repos.contains("api"));
        assert_eq!(
            w.collaborators[&("acme".to_string(), "api".to_string())]["ada"],
            "write"
        );
        assert_eq!(w.keys[&("acme".to_string(), "api".to_string())].len(), 1);
        let protections = &w.protections[&("acme".to_string(), "api".to_string())];
        assert!(protections.iter().any(|p| p["rule_name"] == "main"));
    });
    // The hook got its secret from the secrets given.
    let hook_secret = env.fake.with(|w| {
        w.hooks
            .values()
            .flatten()
            .find_map(|h| h["config"]["secret"].as_str().map(String::from))
    });
    if let Some(secret) = hook_secret {
        assert!(secret.starts_with("s3cret-"), "{secret}");
    }

    // What apply linked is served as ExternalObjectLinks: one per forge
    // object, each with a name a Kubernetes name can be.
    let query = kradle_runtime::store::ListQuery {
        org: Some("acme".into()),
        ..Default::default()
    };
    let links = env
        .store
        .list_objects("ExternalObjectLink", &query)
        .await
        .unwrap();
    assert!(links.items.len() > 10, "{}", links.items.len());
    let names: std::collections::BTreeSet<&str> =
        links.items.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), links.items.len(), "names are unique");
    assert!(names.iter().all(|n| !n.contains('/')), "{names:?}");
    let repo = links
        .items
        .iter()
        .find(|l| l.spec["localRef"] == json!({ "kind": "repository", "name": "api" }))
        .expect("the repository's link");
    assert_eq!(repo.spec["providerRef"], "gitea");
    assert_eq!(repo.status["phase"], "Linked");

    let writes = env.writes();
    let second = env.apply(ApplyOptions::default()).await;
    assert_eq!(env.writes(), writes, "a second apply sends no write");
    assert!(failures(&second).is_empty(), "{:?}", failures(&second));
    assert_eq!(count(&second, Outcome::Created), 0);
    assert_eq!(count(&second, Outcome::Updated), 0);
}

#[tokio::test]
async fn a_dry_run_reads_only_and_announces_the_writes() {
    let env = env().await;
    let dry = env
        .apply(ApplyOptions {
            dry_run: true,
            ..ApplyOptions::default()
        })
        .await;
    assert_eq!(env.writes(), 0);
    let announced = count(&dry, Outcome::WouldCreate) + count(&dry, Outcome::WouldUpdate);
    let real = env.apply(ApplyOptions::default()).await;
    let sent = count(&real, Outcome::Created) + count(&real, Outcome::Updated);
    assert_eq!(announced, sent, "the dry run announces exactly the writes");
}

#[tokio::test]
async fn what_exists_and_matches_is_adopted() {
    let env = env().await;
    env.fake.with(|w| {
        w.orgs.insert(
            "acme".into(),
            json!({ "id": 900, "username": "acme", "full_name": "", "visibility": "public" }),
        );
        w.repos.insert(
            ("acme".into(), "api".into()),
            json!({ "id": 901, "name": "api", "private": true, "description": "Public API service",
                    "default_branch": "main", "archived": false }),
        );
    });
    let report = env.apply(ApplyOptions::default()).await;
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    let by_id = |id: &str| {
        report
            .operations
            .iter()
            .find(|o| o.id == id)
            .unwrap()
            .result
    };
    assert_eq!(by_id("repo:api"), Outcome::Adopted);
    env.fake.with(|w| {
        assert!(
            !w.writes.iter().any(|x| x == "POST /orgs"),
            "{:?}",
            w.writes
        );
        assert_eq!(w.orgs["acme"]["id"], 900);
        assert_eq!(w.repos[&("acme".to_string(), "api".to_string())]["id"], 901);
    });
}

#[tokio::test]
async fn drift_is_reported_and_removed_only_with_prune() {
    let env = env().await;
    env.apply(ApplyOptions::default()).await;
    env.fake.with(|w| {
        w.users.insert("eve".into());
        w.collaborators
            .entry(("acme".into(), "api".into()))
            .or_default()
            .insert("eve".into(), "write".into());
        w.hooks.entry("acme/api".into()).or_default().push(
            json!({ "id": 5000, "type": "gitea", "active": true, "events": ["push"], "config": { "url": "https://evil.example/hook" } }),
        );
    });
    let report = env.apply(ApplyOptions::default()).await;
    assert_eq!(
        count(&report, Outcome::Drift),
        2,
        "{:#?}",
        report.operations
    );
    env.fake.with(|w| {
        assert!(w.collaborators[&("acme".to_string(), "api".to_string())].contains_key("eve"));
    });
    let pruned = env
        .apply(ApplyOptions {
            prune: true,
            allow_removal: true,
            ..ApplyOptions::default()
        })
        .await;
    assert_eq!(count(&pruned, Outcome::Removed), 2);
    env.fake.with(|w| {
        assert!(!w.collaborators[&("acme".to_string(), "api".to_string())].contains_key("eve"));
        assert!(!w.hooks["acme/api"].iter().any(|h| h["id"] == 5000));
    });
}

#[tokio::test]
async fn a_repository_dropped_from_the_config_is_archived_not_deleted() {
    let env = env().await;
    env.apply(ApplyOptions::default()).await;
    let plan = support::without_repository(&env.plan, "agent-memory");
    let report = env.apply_plan(&plan, allowing_removal()).await.unwrap();
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    assert_eq!(
        count(&report, Outcome::Archived),
        1,
        "{:#?}",
        report.operations
    );
    env.fake.with(|w| {
        let repo = &w.repos[&("acme".to_string(), "agent-memory".to_string())];
        assert_eq!(repo["archived"], true);
    });
    // Declared again: brought back.
    let again = env.apply(ApplyOptions::default()).await;
    assert!(failures(&again).is_empty());
    env.fake.with(|w| {
        assert_eq!(
            w.repos[&("acme".to_string(), "agent-memory".to_string())]["archived"],
            false
        );
    });
}

#[tokio::test]
async fn the_removal_guard_refuses_before_any_write() {
    let env = env().await;
    env.apply(ApplyOptions::default()).await;
    let mut plan = env.plan.clone();
    let grants = [
        Action::AddCollaborator,
        Action::AddTeamMember,
        Action::AddTeamRepository,
    ];
    plan.operations.retain(|o| !grants.contains(&o.action));
    let writes = env.writes();
    let err = env
        .apply_plan(&plan, ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::TooManyRemovals { .. }), "{err}");
    assert!(err.to_string().contains("--allow-removal"), "{err}");
    assert_eq!(env.writes(), writes, "nothing was written");
    let through = env.apply_plan(&plan, allowing_removal()).await.unwrap();
    assert!(count(&through, Outcome::Removed) > 0);
}

#[tokio::test]
async fn lists_are_read_past_the_first_page() {
    let env = env().await;
    env.fake.with(|w| {
        w.orgs.insert(
            "acme".into(),
            json!({ "id": 1, "username": "acme", "full_name": "", "visibility": "public" }),
        );
        // 120 repositories sort before the plan's, which are then on page 3.
        for i in 0..120 {
            let name = format!("aaa-{i:03}");
            w.repos.insert(
                ("acme".into(), name.clone()),
                json!({ "id": 10_000 + i, "name": name, "private": true, "archived": false }),
            );
        }
        w.repos.insert(
            ("acme".into(), "api".into()),
            json!({ "id": 901, "name": "api", "private": true, "description": "Public API service",
                    "default_branch": "main", "archived": false }),
        );
    });
    let report = env.apply(ApplyOptions::default()).await;
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    env.fake.with(|w| {
        assert_eq!(w.repos[&("acme".to_string(), "api".to_string())]["id"], 901);
    });
    let by_id = |id: &str| {
        report
            .operations
            .iter()
            .find(|o| o.id == id)
            .unwrap()
            .result
    };
    assert_eq!(by_id("repo:api"), Outcome::Adopted);
}

#[tokio::test]
async fn a_missing_user_fails_its_own_operations_only() {
    let env = env().await;
    let missing = env
        .plan
        .operations
        .iter()
        .find(|o| o.action == Action::EnsureUserMapping)
        .and_then(|o| o.target.user.clone())
        .unwrap();
    env.fake.with(|w| w.users.remove(&missing));
    let report = env.apply(ApplyOptions::default()).await;
    let failed = report
        .operations
        .iter()
        .find(|o| o.result == Outcome::Failed)
        .unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("does not exist on Gitea"),
        "{failed:?}"
    );
    assert!(
        count(&report, Outcome::Created) > 5,
        "the rest still converges"
    );
}

#[tokio::test]
async fn faults_still_converge_without_duplicates() {
    let env = env().await;
    env.fake.with(|w| {
        w.faults.error = 0.1;
        w.faults.error_after_write = 0.1;
        w.faults.throttle = 0.1;
        w.faults.reset = 0.05;
    });
    let mut converged = false;
    for _ in 0..6 {
        let report = env.apply(ApplyOptions::default()).await;
        if failures(&report).is_empty() {
            converged = true;
            break;
        }
    }
    assert!(converged, "applies under 30% faults converge");
    assert!(env.fake.with(|w| w.injected) > 10, "faults were injected");
    env.fake.with(|w| w.faults = Default::default());
    let report = env.apply(ApplyOptions::default()).await;
    assert!(failures(&report).is_empty());
    assert_eq!(count(&report, Outcome::Created), 0);
    env.fake.with(|w| {
        for hooks in w.hooks.values() {
            let mut urls: Vec<&Value> = hooks.iter().map(|h| &h["config"]["url"]).collect();
            let n = urls.len();
            urls.dedup();
            assert_eq!(urls.len(), n, "duplicate hooks: {hooks:?}");
        }
        for keys in w.keys.values() {
            assert_eq!(keys.len(), 1, "{keys:?}");
        }
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    });
}

#[tokio::test]
async fn no_secret_value_reaches_the_database_or_the_report() {
    let env = env().await;
    let report = env.apply(ApplyOptions::default()).await;
    let text = serde_json::to_string(&report).unwrap();
    let pool = sqlx::PgPool::connect(&env._db.url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(i)::text FROM kradle_write_intents i
         UNION ALL SELECT row_to_json(l)::text FROM kradle_object_links l",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let all = format!("{text}\n{}", rows.join("\n"));
    for v in env.secrets.values() {
        assert!(!all.contains(v.expose()), "a secret value leaked");
    }
    assert!(!all.contains(TOKEN.trim_start_matches("token ")));
}

#[tokio::test]
async fn removals_wait_for_approval_when_the_config_asks() {
    use kradle_runtime::store::Phase;
    let env = env().await;
    env.apply(ApplyOptions::default()).await;
    let plan = support::without_repository(&env.plan, "agent-memory");
    let options = ApplyOptions {
        approve_removals: true,
        ..allowing_removal()
    };
    let archived = |env: &Env| {
        env.fake.with(|w| {
            w.repos[&("acme".to_string(), "agent-memory".to_string())]["archived"] == true
        })
    };
    for _ in 0..2 {
        let r = env.apply_plan(&plan, options.clone()).await.unwrap();
        assert_eq!(
            count(&r, Outcome::AwaitingApproval),
            1,
            "{:#?}",
            r.operations
        );
        assert!(!archived(&env), "nothing is sent before approval");
    }
    let waiting = env
        .store
        .list_intents(Some("acme"), &[Phase::PendingApproval])
        .await
        .unwrap();
    assert_eq!(
        waiting.len(),
        1,
        "one intent, however many runs: {waiting:?}"
    );
    assert!(
        env.store
            .decide_intent(waiting[0].id, true)
            .await
            .unwrap()
            .is_some()
    );
    let r = env.apply_plan(&plan, options.clone()).await.unwrap();
    assert_eq!(count(&r, Outcome::Archived), 1);
    assert!(archived(&env));

    // A rejected removal is never sent.
    env.fake.with(|w| {
        w.users.insert("eve".into());
        w.collaborators
            .entry(("acme".into(), "api".into()))
            .or_default()
            .insert("eve".into(), "read".into());
    });
    let pruning = ApplyOptions {
        prune: true,
        ..options
    };
    env.apply_plan(&plan, pruning.clone()).await.unwrap();
    let waiting = env
        .store
        .list_intents(Some("acme"), &[Phase::PendingApproval])
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    assert!(
        env.store
            .decide_intent(waiting[0].id, false)
            .await
            .unwrap()
            .is_some()
    );
    let r = env.apply_plan(&plan, pruning).await.unwrap();
    assert_eq!(count(&r, Outcome::Rejected), 1);
    env.fake.with(|w| {
        assert!(w.collaborators[&("acme".to_string(), "api".to_string())].contains_key("eve"));
    });
}

#[tokio::test]
async fn the_last_admin_of_a_repository_is_never_removed() {
    let env = env().await;
    env.apply(ApplyOptions::default()).await;
    // By hand, two admins nobody declared: pruning both would leave `api`
    // without an admin collaborator.
    env.fake.with(|w| {
        for u in ["eve", "frank"] {
            w.users.insert(u.into());
            w.collaborators
                .entry(("acme".into(), "api".into()))
                .or_default()
                .insert(u.into(), "admin".into());
        }
    });
    let report = env
        .apply(ApplyOptions {
            prune: true,
            ..allowing_removal()
        })
        .await;
    let result = |id: &str| {
        report
            .operations
            .iter()
            .find(|o| o.id == id)
            .map(|o| (o.result, o.error.clone()))
            .unwrap()
    };
    assert_eq!(result("remove:collaborator:api/eve").0, Outcome::Removed);
    let (outcome, error) = result("remove:collaborator:api/frank");
    assert_eq!(outcome, Outcome::Failed);
    assert!(error.unwrap().contains("last admin"));
    env.fake.with(|w| {
        let c = &w.collaborators[&("acme".to_string(), "api".to_string())];
        assert!(!c.contains_key("eve"));
        assert_eq!(c["frank"], "admin");
    });
}

#[tokio::test]
async fn a_changed_secret_reference_or_a_resend_sends_the_hook_secret_again() {
    let mut env = env().await;
    env.apply(ApplyOptions::default()).await;
    let secret_of = |env: &Env| {
        env.fake
            .with(|w| w.hooks["acme/api"][0]["config"]["secret"].clone())
    };
    assert_eq!(secret_of(&env), "s3cret-api-webhook-hmac-value");

    // The config now points the hook at another Secret.
    let mut plan = env.plan.clone();
    let hook = plan
        .operations
        .iter_mut()
        .find(|o| {
            o.action == Action::CreateWebhook && o.target.repository.as_deref() == Some("api")
        })
        .unwrap();
    hook.body["config"]["secret"] = json!("${secret:kradle-org-acme/api-webhook-v2/hmac}");
    env.secrets.insert(
        "kradle-org-acme",
        "api-webhook-v2",
        "hmac",
        kradle_runtime::secrets::SecretValue::new("rotated-by-reference"),
    );
    let report = env
        .apply_plan(&plan, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        count(&report, Outcome::Updated),
        1,
        "{:?}",
        report.operations
    );
    assert_eq!(secret_of(&env), "rotated-by-reference");
    let writes = env.writes();
    env.apply_plan(&plan, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(env.writes(), writes, "sent once");

    // The value behind the same reference changes: kradle cannot see it,
    // and sends it when asked.
    env.secrets.insert(
        "kradle-org-acme",
        "api-webhook-v2",
        "hmac",
        kradle_runtime::secrets::SecretValue::new("rotated-in-place"),
    );
    env.apply_plan(&plan, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(secret_of(&env), "rotated-by-reference");
    let resent = env
        .apply_plan(
            &plan,
            ApplyOptions {
                resend_secrets: true,
                ..ApplyOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(count(&resent, Outcome::Updated) >= 1);
    assert_eq!(secret_of(&env), "rotated-in-place");
}
