//! Benchmark of `kradle apply` against the fake Gitea with a fixed latency
//! per request: an organization of 500 repositories, each with a
//! collaborator, a webhook, a deploy key and a branch protection (about
//! 2,500 writes), applied once from nothing and then again (all reads).
//!
//! `cargo bench -p kradle-runtime --bench apply` (PostgreSQL must be up).
//! Options: `-- --repos N --latency-ms MS --concurrency N`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::time::{Duration, Instant};

use kradle_compiler::forge_plan::{
    Action, Backend, FORMAT_VERSION, Method, Operation, Plan, Target, Template,
};
use kradle_runtime::apply::{ApplyOptions, Outcome, apply};
use kradle_runtime::forge::gitea::Gitea;
use kradle_runtime::forge::http::{Http, RetryPolicy};
use kradle_runtime::secrets::{SecretValue, Secrets};
use kradle_runtime::store::Store;
use serde_json::{Value, json};
use support::fake_gitea::{FakeGitea, TOKEN};
use support::upstream::Api;

fn op(
    id: String,
    target: Target,
    action: Action,
    method: Method,
    path: String,
    body: Value,
    deps: Vec<String>,
) -> Operation {
    Operation {
        idempotency_key: format!("idem-gitForge-bench-{id}"),
        id,
        target,
        action,
        method,
        path: Template::new(path),
        body,
        depends_on: deps,
    }
}

/// An organization of `repos` repositories and 20 users.
fn plan(repos: usize) -> Plan {
    let org = "bench";
    let t = || Target::owner(org);
    let mut ops = vec![op(
        "org".into(),
        t(),
        Action::CreateOrganization,
        Method::Post,
        "/orgs".into(),
        json!({ "username": org, "full_name": "Bench", "visibility": "private" }),
        vec![],
    )];
    for u in 0..20 {
        ops.push(op(
            format!("user:u{u}"),
            t().user(&format!("u{u}")),
            Action::EnsureUserMapping,
            Method::Get,
            format!("/users/u{u}"),
            Value::Null,
            vec![],
        ));
    }
    for i in 0..repos {
        let r = format!("repo-{i:04}");
        let rid = format!("repo:{r}");
        ops.push(op(
            rid.clone(),
            t().repo(&r),
            Action::CreateRepository,
            Method::Post,
            format!("/orgs/{org}/repos"),
            json!({ "name": r, "private": true, "default_branch": "main", "auto_init": false }),
            vec!["org".into()],
        ));
        let user = format!("u{}", i % 20);
        ops.push(op(
            format!("collaborator:{r}"),
            t().repo(&r).user(&user),
            Action::AddCollaborator,
            Method::Put,
            format!("/repos/{org}/{r}/collaborators/{user}"),
            json!({ "permission": "write" }),
            vec![rid.clone(), format!("user:{user}")],
        ));
        ops.push(op(format!("webhook:{r}"), t().repo(&r), Action::CreateWebhook, Method::Post,
            format!("/repos/{org}/{r}/hooks"),
            json!({ "type": "gitea", "config": { "url": format!("https://ci.example/{r}"), "content_type": "json" },
                    "events": ["push", "pull_request"], "active": true }), vec![rid.clone()]));
        ops.push(op(format!("deploy-key:{r}"), t().repo(&r), Action::AddDeployKey, Method::Post,
            format!("/repos/{org}/{r}/keys"),
            json!({ "title": "deploy", "key": format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{i:032}"), "read_only": true }),
            vec![rid.clone()]));
        ops.push(op(
            format!("protect:{r}"),
            t().repo(&r).branch("main"),
            Action::ProtectBranch,
            Method::Post,
            format!("/repos/{org}/{r}/branch_protections"),
            json!({ "rule_name": "main", "enable_push": false, "required_approvals": 1 }),
            vec![rid],
        ));
    }
    Plan {
        format_version: FORMAT_VERSION,
        org: org.into(),
        backend: Backend::Gitea,
        provider: None,
        operations: ops,
        file: String::new(),
    }
}

fn arg(name: &str, default: u64) -> u64 {
    support::bench_arg(name, default)
}

/// Peak resident memory of this process (the fake and PostgreSQL client
/// included), from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let repos = arg("--repos", 500) as usize;
    let latency = Duration::from_millis(arg("--latency-ms", 20));
    let concurrency = arg("--concurrency", 8) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = support::TestDb::new().await;
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let fake = FakeGitea::start(Api::gitea()).await;
        fake.with(|w| {
            for u in 0..20 {
                w.users.insert(format!("u{u}"));
            }
            w.delay = latency;
        });
        let plan = plan(repos);
        let options = ApplyOptions {
            concurrency,
            ..ApplyOptions::default()
        };
        let gitea = || {
            Gitea::new(
                Http::new(
                    &format!("{}/api/v1", fake.url),
                    Some(SecretValue::new(TOKEN)),
                    RetryPolicy::default(),
                )
                .unwrap(),
            )
        };
        let run = || async {
            let started = Instant::now();
            let report = apply(
                &store,
                &gitea(),
                &plan,
                &Secrets::default(),
                &options,
                &mut |_| {},
            )
            .await
            .unwrap();
            (report, started.elapsed())
        };
        println!(
            "apply bench: {repos} repositories, {latency:?} per request, concurrency {concurrency}"
        );

        let (report, first) = run().await;
        let writes = fake.with(|w| w.writes.len());
        let requests = fake.with(|w| w.requests);
        let failed = report
            .operations
            .iter()
            .filter(|o| o.result == Outcome::Failed)
            .count();
        assert_eq!(failed, 0, "the bench plan applies cleanly");
        println!(
            "first apply:  {writes} writes, {requests} requests in {:.2} s: {:.0} writes/s",
            first.as_secs_f64(),
            writes as f64 / first.as_secs_f64()
        );

        let (_, second) = run().await;
        let again = fake.with(|w| w.writes.len()) - writes;
        let reads = fake.with(|w| w.requests) - requests;
        println!(
            "second apply: {again} writes, {reads} requests in {:.2} s",
            second.as_secs_f64()
        );
        if let Some(peak) = peak_rss_mib() {
            println!("peak memory (bench process, fake included): {peak:.0} MiB");
        }
    });
}
