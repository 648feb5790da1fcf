//! `kradle apply` against a stateful fake of GitHub, on a database of its
//! own.
//!
//! The plan is the one kradle compiles from the bundled example
//! (`examples/acme-platform`, organization `globex`, bound to GitHub).
//! In the fake, `hscorpio`'s account (`hank-scorpio`) is a member of the
//! `globex` organization and `mbouvier` is not, so she is invited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::sync::Arc;
use std::time::Duration;

use kradle_compiler::forge_plan::{Action, Backend, Plan};
use kradle_runtime::apply::{ApplyError, ApplyOptions, OrgReport, Outcome, apply};
use kradle_runtime::forge::github::GitHub;
use kradle_runtime::forge::github_app::{AppCredentials, AppTokens};
use kradle_runtime::forge::http::{Http, RetryPolicy};
use kradle_runtime::secrets::{SecretValue, Secrets};
use kradle_runtime::store::Store;
use serde_json::json;
use support::fake_github::{FakeGitHub, TOKEN};
use support::upstream::Api;
use support::{TestDb, allowing_removal, count, failures};

const ORG: &str = "globex";
const REPO: &str = "doomsday";

struct Env {
    db: TestDb,
    store: Store,
    fake: FakeGitHub,
    /// One client for the whole test: its ETags outlive a run.
    http: Http,
    plan: Plan,
    secrets: Secrets,
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(1),
        max_wait: Duration::from_secs(2),
        max_total: Duration::from_secs(10),
        timeout: Duration::from_secs(10),
    }
}

async fn env() -> Env {
    let db = TestDb::new().await;
    let store = db.store().await;
    let fake = FakeGitHub::start(Api::github()).await;
    fake.with(|w| {
        w.org(ORG);
        w.user("hank-scorpio", Some(ORG));
        w.user("mbouvier", None);
        w.user("outsider", Some(ORG));
    });
    let plan = support::example_plan(ORG, Backend::Github);
    let secrets = support::secrets_for(&plan);
    let http = Http::new(
        &fake.url,
        Some(SecretValue::new(format!("Bearer {TOKEN}"))),
        policy(),
    )
    .unwrap()
    .github();
    Env {
        db,
        store,
        fake,
        http,
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
        let github = GitHub::new(self.http.clone());
        apply(
            &self.store,
            &github,
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

    fn writes(&self) -> Vec<String> {
        self.fake.with(|w| w.writes.clone())
    }

    fn violations(&self) -> Vec<String> {
        self.fake.with(|w| w.violations.clone())
    }

    /// A first apply, then the push that creates the branch, then the
    /// apply that protects it: the org as the config says.
    async fn converge(&self) {
        self.apply(ApplyOptions::default()).await;
        self.fake.push(ORG, REPO, "trunk");
        let report = self.apply(ApplyOptions::default()).await;
        assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    }
}

fn result_of(report: &OrgReport, id: &str) -> Outcome {
    report
        .operations
        .iter()
        .find(|o| o.id.starts_with(id))
        .unwrap_or_else(|| panic!("no operation {id}"))
        .result
}

fn error_of(report: &OrgReport, id: &str) -> String {
    report
        .operations
        .iter()
        .find(|o| o.id.starts_with(id))
        .and_then(|o| o.error.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_fresh_apply_builds_the_org_the_push_lets_the_branch_be_protected_and_then_nothing_is_sent()
 {
    let env = env().await;
    let first = env.apply(ApplyOptions::default()).await;
    assert!(env.violations().is_empty(), "{:?}", env.violations());

    // A new repository has no branch: its default branch and protection
    // wait for the first push, each with a message that says so; the
    // signing rule depends on the protection.
    assert_eq!(result_of(&first, "repo-settings:"), Outcome::Failed);
    assert!(
        error_of(&first, "repo-settings:").contains("push it"),
        "{}",
        error_of(&first, "repo-settings:")
    );
    assert_eq!(result_of(&first, "protect:"), Outcome::Failed);
    assert!(error_of(&first, "protect:").contains("does not exist"));
    assert_eq!(result_of(&first, "signing:"), Outcome::Skipped);
    // Everything else is there.
    assert_eq!(failures(&first).len(), 3, "{:?}", failures(&first));
    env.fake.with(|w| {
        let repo = w.repo(ORG, REPO).expect("repository");
        assert_eq!(repo.value["private"], true);
        assert_eq!(repo.collaborators["hank-scorpio"], "admin");
        // Outside the organization: invited, with GitHub's permission name.
        assert_eq!(repo.invitations.len(), 1);
        assert_eq!(repo.invitations[0]["invitee"]["login"], "mbouvier");
        assert_eq!(repo.invitations[0]["permissions"], "write");
        assert_eq!(repo.keys.len(), 1);
        assert_eq!(repo.keys[0]["read_only"], true);
        assert_eq!(repo.hooks.len(), 1);
        assert_eq!(
            repo.hooks[0]["config"]["secret"], "s3cret-doomsday-webhook-hmac-value",
            "the hook got its secret from the secrets given"
        );
        let team = w.team_named(ORG, "engineering").expect("team");
        assert_eq!(team.value["slug"], "engineering");
        assert_eq!(team.value["privacy"], "closed");
        assert_eq!(team.members["hank-scorpio"], "maintainer");
        assert_eq!(team.pending["mbouvier"], "member");
        assert_eq!(team.repos[REPO], "admin");
    });

    env.fake.push(ORG, REPO, "trunk");
    let second = env.apply(ApplyOptions::default()).await;
    assert!(failures(&second).is_empty(), "{:?}", failures(&second));
    assert_eq!(result_of(&second, "repo-settings:"), Outcome::Updated);
    assert_eq!(result_of(&second, "protect:"), Outcome::Created);
    assert_eq!(result_of(&second, "signing:"), Outcome::Created);
    env.fake.with(|w| {
        let repo = w.repo(ORG, REPO).unwrap();
        assert_eq!(repo.value["default_branch"], "trunk");
        let p = &repo.protections["trunk"];
        assert_eq!(p["required_status_checks"]["contexts"], json!(["build"]));
        assert_eq!(
            p["required_pull_request_reviews"]["required_approving_review_count"],
            1
        );
        assert_eq!(p["required_signatures"]["enabled"], true);
    });

    // Pending invitations and memberships match: nothing is re-sent.
    let writes = env.writes().len();
    let third = env.apply(ApplyOptions::default()).await;
    assert!(failures(&third).is_empty(), "{:?}", failures(&third));
    assert_eq!(env.writes().len(), writes, "{:?}", &env.writes()[writes..]);
    assert_eq!(count(&third, Outcome::Created), 0);
    assert_eq!(count(&third, Outcome::Updated), 0);
    // The client kept the ETags of the run before: unchanged lists cost a 304.
    assert!(env.fake.with(|w| w.not_modified) > 0);
    assert!(env.violations().is_empty(), "{:?}", env.violations());
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
    assert!(env.writes().is_empty());
    let announced = count(&dry, Outcome::WouldCreate) + count(&dry, Outcome::WouldUpdate);
    let real = env.apply(ApplyOptions::default()).await;
    let sent = count(&real, Outcome::Created) + count(&real, Outcome::Updated);
    // Before the repository exists, the dry run cannot know that its branch
    // will be missing: it announces the default branch, the protection and
    // the signing rule, which the real run fails (two) and skips (one).
    assert_eq!(announced, sent + 3, "{:#?}", dry.operations);
}

#[tokio::test]
async fn what_exists_and_matches_is_adopted_and_differences_are_updated() {
    let env = env().await;
    env.converge().await;
    // Someone changes things by hand.
    env.fake.with(|w| {
        let repo = w
            .repos
            .get_mut(&(ORG.to_string(), REPO.to_string()))
            .unwrap();
        repo.collaborators.insert("hank-scorpio".into(), "pull".into());
        repo.hooks[0]["events"] = json!(["push"]);
        repo.protections.get_mut("trunk").unwrap()["required_pull_request_reviews"]
            ["required_approving_review_count"] = json!(0);
        let team = w.teams.values_mut().next().unwrap();
        team.repos.insert(REPO.into(), "pull".into());
        team.members.insert("hank-scorpio".into(), "member".into());
    });
    let report = env.apply(ApplyOptions::default()).await;
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    for id in [
        "collaborator:doomsday-hank",
        "webhook:",
        "protect:",
        "team-repo:",
        "team-member:engineering:hank",
    ] {
        assert_eq!(result_of(&report, id), Outcome::Updated, "{id}");
    }
    env.fake.with(|w| {
        let repo = w.repo(ORG, REPO).unwrap();
        assert_eq!(repo.collaborators["hank-scorpio"], "admin");
        assert_eq!(repo.hooks[0]["events"], json!(["push", "pull_request"]));
        let team = w.team_named(ORG, "engineering").unwrap();
        assert_eq!(team.repos[REPO], "admin");
        assert_eq!(team.members["hank-scorpio"], "maintainer");
    });

    // A fresh database, the same forge: everything is adopted, not created.
    let other = TestDb::new().await;
    let store = other.store().await;
    let writes = env.writes().len();
    let github = GitHub::new(env.http.clone());
    let adopted = apply(
        &store,
        &github,
        &env.plan,
        &env.secrets,
        &ApplyOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(env.writes().len(), writes);
    assert!(count(&adopted, Outcome::Adopted) >= 8, "{:#?}", adopted);
}

#[tokio::test]
async fn drift_is_reported_and_removed_only_with_prune() {
    let env = env().await;
    env.converge().await;
    env.fake.with(|w| {
        let repo = w
            .repos
            .get_mut(&(ORG.to_string(), REPO.to_string()))
            .unwrap();
        repo.collaborators.insert("outsider".into(), "admin".into());
        repo.hooks.push(
            json!({ "id": 5000, "name": "web", "active": true, "events": ["push"],
            "config": { "url": "https://evil.example/hook", "content_type": "json" } }),
        );
    });
    let report = env.apply(ApplyOptions::default()).await;
    assert_eq!(
        count(&report, Outcome::Drift),
        2,
        "{:#?}",
        report.operations
    );
    assert_eq!(env.fake.with(|w| w.repo(ORG, REPO).unwrap().hooks.len()), 2);

    let pruned = env
        .apply(ApplyOptions {
            prune: true,
            allow_removal: true,
            ..ApplyOptions::default()
        })
        .await;
    assert_eq!(count(&pruned, Outcome::Removed), 2, "{:#?}", pruned);
    env.fake.with(|w| {
        let repo = w.repo(ORG, REPO).unwrap();
        assert!(!repo.collaborators.contains_key("outsider"));
        assert_eq!(repo.hooks.len(), 1);
    });
}

#[tokio::test]
async fn a_repository_dropped_from_the_config_is_archived_with_what_is_in_it() {
    let env = env().await;
    env.converge().await;
    let plan = support::without_repository(&env.plan, REPO);
    let report = env.apply_plan(&plan, allowing_removal()).await.unwrap();
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    assert_eq!(count(&report, Outcome::Archived), 1, "{:#?}", report);
    assert_eq!(count(&report, Outcome::Removed), 0, "{:#?}", report);
    env.fake.with(|w| {
        // Read-only as it was: grants, keys, hooks and protection stay.
        let repo = w.repo(ORG, REPO).unwrap();
        assert_eq!(repo.value["archived"], true, "archived, never deleted");
        assert_eq!(repo.collaborators["hank-scorpio"], "admin");
        assert_eq!((repo.keys.len(), repo.hooks.len()), (1, 1));
        assert!(repo.protections.contains_key("trunk"));
        assert_eq!(
            w.team_named(ORG, "engineering").unwrap().repos[REPO],
            "admin"
        );
    });
    // kradle let go of them with the archive: the next run sends nothing.
    let links = env.store.links(ORG, Backend::Github).await.unwrap();
    assert!(!links.iter().any(|l| l.name.contains(REPO)), "{links:#?}");
    let writes = env.writes().len();
    let again = env
        .apply_plan(&plan, ApplyOptions::default())
        .await
        .unwrap();
    assert!(failures(&again).is_empty(), "{:?}", failures(&again));
    assert_eq!(env.writes().len(), writes);
}

#[tokio::test]
async fn the_removal_guard_refuses_before_any_write() {
    let env = env().await;
    env.converge().await;
    let mut plan = env.plan.clone();
    plan.operations.retain(|o| {
        !matches!(
            o.action,
            Action::AddCollaborator | Action::AddTeamMember | Action::AddTeamRepository
        )
    });
    let writes = env.writes().len();
    let err = env
        .apply_plan(&plan, ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::TooManyRemovals { .. }), "{err}");
    assert_eq!(env.writes().len(), writes, "nothing was written");
}

#[tokio::test]
async fn the_last_admin_of_a_repository_is_never_removed() {
    let env = env().await;
    env.converge().await;
    // Hank is the only admin collaborator; the config drops his grant.
    let mut plan = env.plan.clone();
    plan.operations
        .retain(|o| o.id != "collaborator:doomsday-hank");
    let report = env.apply_plan(&plan, allowing_removal()).await.unwrap();
    let refused = report
        .operations
        .iter()
        .find(|o| o.id == "remove:collaborator:doomsday/hank-scorpio")
        .expect("the removal is reported");
    assert_eq!(refused.result, Outcome::Failed);
    assert!(refused.error.as_deref().unwrap().contains("last admin"));
    assert_eq!(
        env.fake
            .with(|w| w.repo(ORG, REPO).unwrap().collaborators["hank-scorpio"].clone()),
        "admin"
    );
}

#[tokio::test]
async fn lists_are_read_past_the_first_page() {
    let env = env().await;
    env.fake.with(|w| {
        // 150 repositories sort before the plan's, which is on page 2 of 100.
        for i in 0..150 {
            let name = format!("aaa-{i:03}");
            w.repos.insert(
                (ORG.into(), name.clone()),
                support::fake_github::Repo {
                    value: json!({ "id": 10_000 + i, "name": name, "private": true, "archived": false }),
                    ..Default::default()
                },
            );
        }
        w.repos.insert(
            (ORG.into(), REPO.into()),
            support::fake_github::Repo {
                value: json!({ "id": 901, "name": REPO, "private": true, "visibility": "private",
                    "description": null, "default_branch": "trunk", "archived": false }),
                branches: ["trunk".to_string()].into(),
                ..Default::default()
            },
        );
    });
    let report = env.apply(ApplyOptions::default()).await;
    assert!(failures(&report).is_empty(), "{:?}", failures(&report));
    assert_eq!(result_of(&report, "repo:"), Outcome::Adopted);
    assert_eq!(result_of(&report, "repo-settings:"), Outcome::Unchanged);
    assert!(env.violations().is_empty(), "{:?}", env.violations());
}

#[tokio::test]
async fn faults_and_rate_limits_still_converge_without_duplicates() {
    let env = env().await;
    env.fake.with(|w| {
        w.faults.error = 0.1;
        w.faults.error_after_write = 0.1;
        w.faults.throttle = 0.1;
        w.faults.reset = 0.05;
        // One primary rate limit: a 403 with x-ratelimit-reset.
        w.rate_limited = 1;
    });
    let mut converged = false;
    for round in 0..8 {
        let report = env.apply(ApplyOptions::default()).await;
        if round == 0 {
            env.fake.push(ORG, REPO, "trunk");
        }
        if failures(&report).is_empty() {
            converged = true;
            break;
        }
    }
    assert!(converged, "applies under 30% faults converge");
    assert!(env.fake.with(|w| w.injected) > 5, "faults were injected");
    env.fake.with(|w| w.faults = Default::default());
    let writes = env.writes().len();
    let report = env.apply(ApplyOptions::default()).await;
    assert!(failures(&report).is_empty());
    assert_eq!(env.writes().len(), writes);
    env.fake.with(|w| {
        let repo = w.repo(ORG, REPO).unwrap();
        assert_eq!(repo.hooks.len(), 1, "{:?}", repo.hooks);
        assert_eq!(repo.keys.len(), 1, "{:?}", repo.keys);
        assert_eq!(repo.invitations.len(), 1, "{:?}", repo.invitations);
        assert_eq!(w.teams.len(), 1);
        assert!(w.violations.is_empty(), "{:?}", w.violations);
    });
}

#[tokio::test]
async fn a_github_app_installation_token_authenticates_the_run() {
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    let env = env().await;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let tokens = Arc::new(AppTokens::new(
        &env.fake.url,
        AppCredentials {
            app_id: "123456".into(),
            private_key: SecretValue::new(pem),
            installation_id: "7890123".into(),
        },
        policy(),
    ));
    let http = Http::new(&env.fake.url, None, policy())
        .unwrap()
        .github()
        .with_app(tokens.clone());
    let github = GitHub::new(http);
    let report = apply(
        &env.store,
        &github,
        &env.plan,
        &env.secrets,
        &ApplyOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(count(&report, Outcome::Created) > 5, "{:#?}", report);
    assert_eq!(env.fake.with(|w| w.exchanges), 1, "one token, reused");
}

#[tokio::test]
async fn no_secret_value_reaches_the_database_or_the_report() {
    let env = env().await;
    env.converge().await;
    let report = env.apply(ApplyOptions::default()).await;
    let text = serde_json::to_string(&report).unwrap();
    let pool = sqlx::PgPool::connect(&env.db.url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(i)::text FROM kradle_write_intents i
         UNION ALL SELECT row_to_json(l)::text FROM kradle_object_links l",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!rows.is_empty());
    let all = format!("{text}\n{}", rows.join("\n"));
    for v in env.secrets.values() {
        assert!(!all.contains(v.expose()), "a secret value leaked");
    }
    assert!(!all.contains(TOKEN));
}
