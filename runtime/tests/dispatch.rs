//! The dispatch lifecycle on a real database, with the Kubernetes Job
//! backend talking to a fake API server through `tower_test::mock` (every
//! Job, PVC and Secret body checked against the upstream strict schemas).
//!
//! The worker's steps are driven one job at a time with
//! [`dispatch::advance`], so each test sees every state in between.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use kradle_compiler::lower::BuildOptions;
use kradle_compiler::source::Sources;
use kradle_runtime::cluster::jobs::KubeJobs;
use kradle_runtime::dispatch::catalog::Catalog;
use kradle_runtime::dispatch::executor::{ExecError, Executor, JobState, Target};
use kradle_runtime::dispatch::memory::MemoryGit;
use kradle_runtime::dispatch::mux::AgentMux;
use kradle_runtime::dispatch::outcome::Outcome;
use kradle_runtime::dispatch::run::Run;
use kradle_runtime::loops::dispatch::{self, Dispatcher, token_hash};
use kradle_runtime::secrets::{SecretValue, Secrets};
use kradle_runtime::store::{Called, Cancelled, Decided, Store};
use serde_json::{Value, json};
use support::TestDb;
use support::fake_kube::FakeKube;
use support::fake_mux::{FakeMux, Plan};

const NS: &str = "kradle-org-acme";

/// The Job `job` of the org's namespace.
fn at(job: &str) -> Target<'_> {
    Target {
        namespace: NS,
        job,
        gateway: None,
        session: None,
    }
}

/// The example's compiled objects and report, with `edit` applied to the
/// objects first.
fn catalog(edit: impl Fn(&mut Vec<Value>)) -> Catalog {
    catalog_with(edit, |_| {})
}

fn catalog_with(edit: impl Fn(&mut Vec<Value>), edit_report: impl Fn(&mut Value)) -> Catalog {
    let root = support::upstream::workspace().join("examples/acme-platform");
    let options = BuildOptions {
        now: chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .into(),
        repo_url: None,
        target_revision: None,
        path: None,
        origin_repo_url: None,
    };
    let build = kradle_compiler::build(Sources::from_dir(&root).unwrap(), &options);
    assert!(!build.has_errors());
    let mut objects: Vec<Value> = build
        .output
        .objects
        .iter()
        .map(|o| o.value.clone())
        .collect();
    edit(&mut objects);
    let mut report: Value = serde_json::from_str(&build.files["report.json"]).unwrap();
    edit_report(&mut report);
    Catalog::from_objects(&objects, &report)
}

fn set_approval_mode(mode: &'static str) -> impl Fn(&mut Vec<Value>) {
    move |objects: &mut Vec<Value>| {
        for o in objects.iter_mut().filter(|o| o["kind"] == "AgentStack") {
            o["spec"]["approvalMode"] = json!(mode);
        }
    }
}

struct World {
    _db: TestDb,
    store: Store,
    kube: FakeKube,
    d: Dispatcher<KubeJobs>,
}

async fn world(catalog: Catalog) -> World {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let kube = FakeKube::new();
    let d = Dispatcher {
        store: store.clone(),
        catalog: Arc::new(RwLock::new(Arc::new(catalog))),
        executor: Some(Arc::new(KubeJobs::new(kube.client()))),
        mux: Arc::default(),
        memory: None,
        callback_base: "http://kradle.test:8080".into(),
        tools_image: None,
        poll: Duration::from_millis(10),
        lease: Duration::from_secs(30),
        concurrency: 4,
        stats: Arc::default(),
    };
    World {
        _db: db,
        store,
        kube,
        d,
    }
}

impl World {
    async fn dispatch(&self, repository: &str) -> String {
        self.store
            .dispatch_manually(
                "acme",
                "fixer",
                "fix",
                Some(repository),
                Some("main"),
                "grace",
                3,
                600,
            )
            .await
            .unwrap()
    }

    /// The run `name` of acme, as stored.
    async fn run(&self, name: &str) -> Run {
        self.store
            .dispatch_run_named("acme", name)
            .await
            .unwrap()
            .unwrap()
    }

    /// Advances the run as the worker does: one queued job's worth.
    async fn step(&self, name: &str) -> (String, String) {
        let id = self.run(name).await.id;
        dispatch::advance(&self.d, id).await.unwrap();
        let run = self.run(name).await;
        (run.phase.to_string(), run.step.to_string())
    }

    async fn callback(&self, name: &str, token: &str, phase: &str) -> Called {
        let outcome = Outcome {
            succeeded: phase == "Succeeded",
            message: Some(format!("{phase} by the agent")),
            artifacts: vec![
                json!({ "kind": "patch", "digest": format!("sha256:{}", "b".repeat(64)), "size": 42 }),
            ],
            transcript: Some((
                json!([{ "type": "text", "text": "done" }]),
                "sha256:x".into(),
            )),
        };
        self.store
            .callback("acme", name, &token_hash(token), &outcome)
            .await
            .unwrap()
    }

    async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self._db.url).await.unwrap()
    }

    async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool().await)
            .await
            .unwrap()
    }

    async fn text(&self, sql: &str) -> String {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool().await)
            .await
            .unwrap()
    }

    /// Steps the run until `done` holds for it (or 20 s passed), and
    /// returns it. Each step reads the backend, so this waits on the
    /// backend's progress (a gateway follower's, in the background).
    async fn step_until(&self, name: &str, done: impl Fn(&Run) -> bool) -> Run {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            self.step(name).await;
            let run = self.run(name).await;
            if done(&run) || std::time::Instant::now() > deadline {
                return run;
            }
            tokio::task::yield_now().await;
        }
    }

    /// [`World::step_until`] the run is in `phase`: its (phase, step).
    async fn until_phase(&self, name: &str, phase: &str) -> (String, String) {
        let run = self.step_until(name, |r| r.phase.as_str() == phase).await;
        (run.phase.to_string(), run.step.to_string())
    }
}

#[tokio::test]
async fn the_job_backend_creates_valid_objects_idempotently_and_reads_job_states() {
    let kube = FakeKube::new();
    let jobs = KubeJobs::new(kube.client());
    let c = catalog(|_| {});
    let stack = c.stack("acme", "fixer").unwrap();
    let launch = kradle_runtime::dispatch::job::launch_of(
        stack,
        "fixer-1",
        1,
        "fix",
        Some("api"),
        Some("main"),
        "kradle-run-ws-fixer-1",
        true,
        "http://kradle.test:8080",
    );
    jobs.launch(&launch, "token-one").await.unwrap();
    let job = kube.get("jobs", NS, "agent-fixer-1-1").unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "kradle-agent");
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(
        pod["containers"][0]["image"], "ubuntu:24.04",
        "the RunnerPool's image"
    );
    assert_eq!(pod["containers"][0]["resources"]["limits"]["memory"], "4Gi");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "kradle-run-ws-fixer-1"
    );
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0]["mountPath"],
        "/workspace"
    );
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 3600);
    assert_eq!(job["metadata"]["labels"]["kradle.a5c.ai/run"], "fixer-1");
    let env: Vec<&str> = pod["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for var in [
        "KRADLE_ORG",
        "KRADLE_RUN_ID",
        "KRADLE_WORKSPACE_PATH",
        "KRADLE_CALLBACK_URL",
        "KRADLE_CALLBACK_TOKEN",
        "AGENT_MUX_TRANSPORT",
        "TRANSPORT_MUX_CODEC",
    ] {
        assert!(env.contains(&var), "{var} in {env:?}");
    }
    let text = job.to_string();
    assert!(
        !text.contains("token-one"),
        "the token is only in the Secret"
    );
    assert!(
        !env.contains(&"KRADLE_CONTEXT_PATH"),
        "no bundle given, none mounted"
    );
    assert_eq!(
        kube.token(NS, "agent-fixer-1-1").as_deref(),
        Some("token-one")
    );
    let pvc = kube
        .get("persistentvolumeclaims", NS, "kradle-run-ws-fixer-1")
        .unwrap();
    assert_eq!(pvc["spec"]["storageClassName"], "standard");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "10Gi");

    // A rerun (the worker died after sending): the Secret is replaced with
    // the new token, the PVC and Job are there already.
    jobs.launch(&launch, "token-two").await.unwrap();
    assert_eq!(
        kube.token(NS, "agent-fixer-1-1").as_deref(),
        Some("token-two")
    );
    assert_eq!(kube.names("jobs"), ["agent-fixer-1-1"]);
    assert_eq!(kube.count("POST /apis/batch/v1"), 2);
    assert_eq!(
        kube.count("PUT /api/v1/namespaces/kradle-org-acme/secrets/"),
        1
    );

    assert_eq!(
        jobs.state(at("agent-fixer-1-1")).await.unwrap(),
        JobState::Active
    );
    kube.finish_job(NS, "agent-fixer-1-1", "Failed", "DeadlineExceeded");
    assert_eq!(
        jobs.state(at("agent-fixer-1-1")).await.unwrap(),
        JobState::Failed {
            reason: "DeadlineExceeded".into(),
            message: "Job DeadlineExceeded".into()
        }
    );
    assert_eq!(
        jobs.state(at("agent-nope-1")).await.unwrap(),
        JobState::Missing
    );
    kube.state.lock().unwrap().fail_next = 1;
    assert!(matches!(
        jobs.state(at("agent-fixer-1-1")).await,
        Err(ExecError::Transient(_))
    ));

    kube.state.lock().unwrap().logs.insert(
        "agent-fixer-1-1".into(),
        "reading the failing job log\n".into(),
    );
    assert_eq!(
        jobs.logs(NS, "agent-fixer-1-1").await.unwrap().as_deref(),
        Some("reading the failing job log\n")
    );
    assert_eq!(jobs.logs(NS, "agent-nope-1").await.unwrap(), None);

    jobs.cancel(at("agent-fixer-1-1")).await.unwrap();
    assert!(kube.names("jobs").is_empty());
    assert!(kube.get("secrets", NS, "agent-fixer-1-1").is_none());
    jobs.cancel(at("agent-fixer-1-1")).await.unwrap();
    assert!(kube.invalid().is_empty(), "{:?}", kube.invalid());
}

#[tokio::test]
async fn a_run_goes_from_pending_to_succeeded_and_the_next_reuses_its_workspace() {
    let w = world(catalog(|_| {})).await;
    let name = w.dispatch("api").await;
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    let job = format!("agent-{name}-1");
    assert!(w.kube.get("jobs", NS, &job).is_some());
    let pvc = format!("kradle-run-ws-{name}");
    assert!(w.kube.get("persistentvolumeclaims", NS, &pvc).is_some());
    // The run's context bundle: stored with its digest, handed to the
    // Job through its Secret, mounted read-only without the token.
    let (content, digest): (Value, String) = {
        let pool = w.pool().await;
        sqlx::query_as("SELECT content, digest FROM kradle_context_bundles")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(
        content["stack"]["prompts"]["system"],
        "You fix failing CI in ACME repositories."
    );
    assert_eq!(content["stack"]["contextLabels"][0]["name"], "house-style");
    assert_eq!(content["task"]["repository"], "api");
    let secret = w.kube.get("secrets", NS, &job).unwrap();
    let mounted: Value =
        serde_json::from_str(secret["stringData"]["context.json"].as_str().unwrap()).unwrap();
    assert_eq!(mounted, content);
    let pod = &w.kube.get("jobs", NS, &job).unwrap()["spec"]["template"]["spec"];
    let env = &pod["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "KRADLE_CONTEXT_DIGEST" && e["value"] == digest.as_str())
    );
    assert_eq!(
        pod["volumes"][1]["secret"]["items"],
        json!([{ "key": "context.json", "path": "context.json" }])
    );
    // The Job is watched: still active.
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    let token = w.kube.token(NS, &job).unwrap();
    assert_eq!(
        w.callback(&name, "not-the-token", "Succeeded").await,
        Called::Unauthorized
    );
    assert_eq!(
        w.callback(&name, &token, "Succeeded").await,
        Called::Succeeded
    );
    assert_eq!(w.step(&name).await, ("Succeeded".into(), "done".into()));
    assert!(matches!(
        w.callback(&name, &token, "Succeeded").await,
        Called::Unauthorized
    ));
    assert_eq!(w.scalar("SELECT count(*) FROM kradle_artifacts").await, 1);
    assert_eq!(w.scalar("SELECT count(*) FROM kradle_transcripts").await, 1);
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM kradle_workspaces WHERE phase = 'Ready' AND claimed_by IS NULL"
        )
        .await,
        1,
        "the workspace is released"
    );

    // The next run of the same repository and branch takes that workspace:
    // no second PVC.
    let second = w.dispatch("api").await;
    assert_eq!(w.step(&second).await, ("Running".into(), "watch".into()));
    let job2 = w
        .kube
        .get("jobs", NS, &format!("agent-{second}-1"))
        .unwrap();
    assert_eq!(
        job2["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        pvc
    );
    assert_eq!(w.kube.names("persistentvolumeclaims"), [pvc]);
    // Another repository gets a workspace of its own.
    let third = w.dispatch("platform-config").await;
    assert_eq!(w.step(&third).await, ("Running".into(), "watch".into()));
    assert_eq!(w.kube.names("persistentvolumeclaims").len(), 2);
    assert!(w.kube.invalid().is_empty(), "{:?}", w.kube.invalid());
}

#[tokio::test]
async fn approval_holds_a_run_until_approved_and_denial_fails_it() {
    let w = world(catalog(set_approval_mode("always"))).await;
    let approved = w.dispatch("api").await;
    assert_eq!(
        w.step(&approved).await,
        ("AwaitingApproval".into(), "review".into())
    );
    assert!(
        w.kube.names("jobs").is_empty(),
        "no Job before the approval"
    );
    // Stepping again does nothing: it waits for a person.
    assert_eq!(
        w.step(&approved).await,
        ("AwaitingApproval".into(), "review".into())
    );
    assert_eq!(w.scalar("SELECT count(*) FROM kradle_approvals").await, 1);
    let approval = format!("{approved}-secret-access");
    assert_eq!(
        w.store
            .decide_approval("acme", &approval, true, "ada", None)
            .await
            .unwrap(),
        Decided::Approved
    );
    assert!(matches!(
        w.store
            .decide_approval("acme", &approval, false, "eve", None)
            .await
            .unwrap(),
        Decided::Already(_)
    ));
    assert_eq!(w.step(&approved).await, ("Running".into(), "watch".into()));
    assert_eq!(w.kube.names("jobs"), [format!("agent-{approved}-1")]);

    let denied = w.dispatch("api").await;
    w.step(&denied).await;
    let approval = format!("{denied}-secret-access");
    assert_eq!(
        w.store
            .decide_approval("acme", &approval, false, "ada", Some("not today"))
            .await
            .unwrap(),
        Decided::Denied
    );
    let run = w
        .store
        .dispatch_run_named("acme", &denied)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((run.phase.as_str(), run.step.as_str()), ("Failed", "done"));
    assert_eq!(w.kube.names("jobs").len(), 1, "no Job for the denied run");
    assert_eq!(
        w.store
            .decide_approval("acme", "nope", true, "ada", None)
            .await
            .unwrap(),
        Decided::NotFound
    );
}

#[tokio::test]
async fn a_deadline_is_retried_as_a_new_attempt_until_the_runs_limit() {
    let w = world(catalog(|_| {})).await;
    let name = w.dispatch("api").await;
    w.step(&name).await;
    for attempt in 1..=3 {
        let job = format!("agent-{name}-{attempt}");
        assert!(w.kube.get("jobs", NS, &job).is_some(), "{job}");
        w.kube.finish_job(NS, &job, "Failed", "DeadlineExceeded");
        // The watch sees it; a retry is launched by the next job.
        let (phase, _) = w.step(&name).await;
        if attempt < 3 {
            assert_eq!(phase, "Pending");
            assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
        } else {
            assert_eq!(phase, "Failed");
        }
    }
    let reasons: Vec<(i32, String, String)> = {
        let pool = w.pool().await;
        sqlx::query_as(
            "SELECT number, reason, reason_code FROM kradle_dispatch_attempts ORDER BY number",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    assert_eq!(
        reasons,
        [
            (1, "initial".into(), "DeadlineExceeded".into()),
            (2, "retry".into(), "DeadlineExceeded".into()),
            (3, "retry".into(), "DeadlineExceeded".into()),
        ]
    );
    let run = w
        .store
        .dispatch_run_named("acme", &name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.attempts, 3);
    assert_eq!(
        w.scalar("SELECT count(*) FROM kradle_workspaces WHERE claimed_by IS NULL")
            .await,
        1
    );
}

/// A PVC, Secret or Job already there under the name a launch uses, and
/// not created by kradle for that run (a declared KradleWorkspace's PVC, a
/// person's Job), is refused with a reason, never mounted or taken; the
/// launch's own leftovers (a launch killed after its call) are reused.
#[tokio::test]
async fn a_launch_refuses_objects_it_did_not_create_for_the_run() {
    let c = catalog(|_| {});
    let stack = c.stack("acme", "fixer").unwrap();
    let launch = |run: &str| {
        kradle_runtime::dispatch::job::launch_of(
            stack,
            run,
            1,
            "fix",
            Some("api"),
            Some("main"),
            &format!("kradle-run-ws-{run}"),
            true,
            "http://kradle.test:8080",
        )
    };
    let put = |kube: &FakeKube, plural: &str, name: &str, labels: Value| {
        kube.state.lock().unwrap().objects.insert(
            (plural.into(), NS.into(), name.into()),
            json!({ "metadata": { "name": name, "namespace": NS, "labels": labels } }),
        );
    };

    // A PVC of that name that a KradleWorkspace declared.
    let kube = FakeKube::new();
    let jobs = KubeJobs::new(kube.client());
    put(
        &kube,
        "persistentvolumeclaims",
        "kradle-run-ws-fixer-1",
        json!({ "app.kubernetes.io/managed-by": "kradle", "kradle.a5c.ai/workspace": "x" }),
    );
    let Err(ExecError::Refused(why)) = jobs.launch(&launch("fixer-1"), "t").await else {
        panic!("a PVC kradle did not create for the run was taken");
    };
    assert!(
        why.contains("PersistentVolumeClaim kradle-org-acme/kradle-run-ws-fixer-1"),
        "{why}"
    );
    assert!(kube.names("jobs").is_empty(), "no Job mounts it");

    // A Job of that name that is not this attempt's.
    let kube = FakeKube::new();
    let jobs = KubeJobs::new(kube.client());
    put(
        &kube,
        "jobs",
        "agent-fixer-2-1",
        json!({ "kradle.a5c.ai/run": "someone-else" }),
    );
    let Err(ExecError::Refused(why)) = jobs.launch(&launch("fixer-2"), "t").await else {
        panic!("a Job that is not the attempt's was taken");
    };
    assert!(why.contains("Job kradle-org-acme/agent-fixer-2-1"), "{why}");

    // The attempt's own objects, from a launch killed midway: reused.
    let kube = FakeKube::new();
    let jobs = KubeJobs::new(kube.client());
    jobs.launch(&launch("fixer-3"), "t1").await.unwrap();
    jobs.launch(&launch("fixer-3"), "t2").await.unwrap();
    assert_eq!(kube.names("jobs"), ["agent-fixer-3-1"]);
    assert_eq!(kube.token(NS, "agent-fixer-3-1").as_deref(), Some("t2"));

    // Through the worker: the attempt fails with the reason.
    let w = world(catalog(|_| {})).await;
    let name = w.dispatch("api").await;
    put(
        &w.kube,
        "persistentvolumeclaims",
        &format!("kradle-run-ws-{name}"),
        json!({}),
    );
    w.step(&name).await;
    let why = w
        .text(
            "SELECT reason_code || ': ' || message FROM kradle_dispatch_attempts WHERE number = 1",
        )
        .await;
    assert!(
        why.starts_with("LaunchRefused: PersistentVolumeClaim"),
        "{why}"
    );
}

/// A run whose dispatch job runs out of tries (here, the cluster answers
/// 500 to every call) ends Failed with the reason and frees its workspace;
/// it does not stay Running for ever.
#[tokio::test]
async fn a_run_whose_job_runs_out_of_tries_ends_failed_and_frees_its_workspace() {
    let w = world(catalog(|_| {})).await;
    let name = w.dispatch("api").await;
    w.step(&name).await;
    let before = w.run(&name).await;
    assert_eq!(before.phase.as_str(), "Running");
    // The next look at the Job fails, and so does every retry: the job's
    // last try is now (no waiting out the backoff).
    w.kube.state.lock().unwrap().fail_next = 1_000;
    let pool = w.pool().await;
    sqlx::query(
        "UPDATE kradle_jobs SET max_attempts = attempts + 1, run_at = now() WHERE queue = $1",
    )
    .bind(kradle_runtime::store::DISPATCH_QUEUE)
    .execute(&pool)
    .await
    .unwrap();
    let jobs = w
        .store
        .claim(
            kradle_runtime::store::DISPATCH_QUEUE,
            "w1",
            10,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    dispatch::attempt(&w.d, &jobs[0], "w1").await;

    let run = w.run(&name).await;
    assert_eq!((run.phase.as_str(), run.step.as_str()), ("Failed", "done"));
    let why = w
        .text("SELECT reason || ': ' || message FROM kradle_dispatch_runs")
        .await;
    assert!(
        why.starts_with("DispatchGaveUp: kradle gave up advancing the run from Running/"),
        "{why}"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM kradle_workspaces WHERE claimed_by IS NOT NULL")
            .await,
        0,
        "the workspace is released"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM kradle_dead_jobs").await, 1);
}

#[tokio::test]
async fn cancelling_deletes_the_job_and_frees_the_workspace() {
    let w = world(catalog(|_| {})).await;
    let name = w.dispatch("api").await;
    w.step(&name).await;
    let job = format!("agent-{name}-1");
    let token = w.kube.token(NS, &job).unwrap();
    assert_eq!(
        w.store.cancel_run("acme", &name, "ada").await.unwrap(),
        Cancelled::Cancelled
    );
    assert_eq!(w.step(&name).await, ("Cancelled".into(), "done".into()));
    assert!(w.kube.get("jobs", NS, &job).is_none());
    assert!(w.kube.get("secrets", NS, &job).is_none());
    assert_eq!(
        w.scalar("SELECT count(*) FROM kradle_workspaces WHERE claimed_by IS NULL")
            .await,
        1
    );
    // A late callback of the cancelled Job changes nothing.
    assert_eq!(
        w.callback(&name, &token, "Succeeded").await,
        Called::Unauthorized
    );
    assert_eq!(
        w.store.cancel_run("acme", &name, "ada").await.unwrap(),
        Cancelled::Finished("Cancelled".into())
    );
    assert_eq!(
        w.store.cancel_run("acme", "nope", "ada").await.unwrap(),
        Cancelled::NotFound
    );
}

#[tokio::test]
async fn unready_stacks_unknown_repositories_and_failed_callbacks_fail_runs() {
    // A stack the build reports unready fails its runs with the unmet
    // condition, before anything else.
    let unready = world(catalog_with(
        |_| {},
        |report| {
            let stack = &mut report["agentStacks"][0];
            stack["ready"] = json!(false);
            stack["conditions"][6]["status"] = json!("False");
            stack["conditions"][6]["message"] =
                json!("AgentServiceAccount `agent-runner` is missing");
        },
    ))
    .await;
    let run = unready.dispatch("api").await;
    assert_eq!(unready.step(&run).await, ("Failed".into(), "done".into()));
    let r = unready
        .store
        .dispatch_run_named("acme", &run)
        .await
        .unwrap()
        .unwrap();
    let (reason, message): (String, String) = {
        let pool = unready.pool().await;
        sqlx::query_as("SELECT reason, message FROM kradle_dispatch_runs WHERE id = $1")
            .bind(r.id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(reason, "StackNotReady");
    assert_eq!(
        message,
        "RuntimeIdentityReady: AgentServiceAccount `agent-runner` is missing"
    );

    let w = world(catalog(|_| {})).await;
    let run = w
        .store
        .dispatch_manually("acme", "ghost", "fix", Some("api"), None, "grace", 3, 600)
        .await
        .unwrap();
    assert_eq!(
        w.step(&run).await,
        ("Failed".into(), "done".into()),
        "no such stack"
    );
    let elsewhere = w.dispatch("not-a-repo").await;
    assert_eq!(w.step(&elsewhere).await, ("Failed".into(), "done".into()));
    assert!(w.kube.names("jobs").is_empty());

    // The agent reports a failure: a retry, as for a failed Job.
    let name = w.dispatch("api").await;
    w.step(&name).await;
    let token = w.kube.token(NS, &format!("agent-{name}-1")).unwrap();
    assert!(matches!(
        w.callback(&name, &token, "Failed").await,
        Called::Failed(_)
    ));
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    assert!(w.kube.get("jobs", NS, &format!("agent-{name}-2")).is_some());
    // The old attempt's token no longer opens the run.
    assert_eq!(
        w.callback(&name, &token, "Succeeded").await,
        Called::Unauthorized
    );
}

#[tokio::test]
async fn without_a_backend_runs_wait_in_queued_and_go_on_when_one_starts() {
    let mut w = world(catalog(|_| {})).await;
    let executor = w.d.executor.take();
    let name = w.dispatch("api").await;
    assert_eq!(w.step(&name).await, ("Queued".into(), "launch".into()));
    w.d.executor = executor;
    // The worker completed the run's jobs; a server with a backend queues
    // the run again when it starts.
    w.scalar("WITH d AS (DELETE FROM kradle_jobs RETURNING 1) SELECT count(*) FROM d")
        .await;
    assert_eq!(w.store.requeue_queued().await.unwrap(), 1);
    assert_eq!(w.store.requeue_queued().await.unwrap(), 0, "queued once");
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
}

#[tokio::test]
async fn a_stacks_budget_sets_the_deadline_and_attempts_and_refuses_runs_past_its_daily_limit() {
    let w = world(catalog(|objects| {
        for o in objects.iter_mut().filter(|o| o["kind"] == "AgentStack") {
            o["spec"]["budget"] =
                json!({ "maxRunSeconds": 120, "maxAttempts": 1, "maxRunsPerDay": 1 });
        }
    }))
    .await;
    let first = w.dispatch("api").await;
    assert_eq!(w.step(&first).await, ("Running".into(), "watch".into()));
    let job = w.kube.get("jobs", NS, &format!("agent-{first}-1")).unwrap();
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 120);
    // One attempt only: a deadline fails the run.
    w.kube.finish_job(
        NS,
        &format!("agent-{first}-1"),
        "Failed",
        "DeadlineExceeded",
    );
    assert_eq!(w.step(&first).await, ("Failed".into(), "done".into()));
    // The day's one run was started: the next is refused.
    let second = w.dispatch("api").await;
    assert_eq!(w.step(&second).await, ("Failed".into(), "done".into()));
    let (reason, message): (String, String) = {
        let pool = w.pool().await;
        sqlx::query_as("SELECT reason, message FROM kradle_dispatch_runs WHERE name = $1")
            .bind(&second)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(reason, "BudgetExceeded");
    assert!(message.contains("budget.maxRunsPerDay: 1"), "{message}");
    assert_eq!(w.kube.names("jobs").len(), 1, "no Job for the refused run");
}

#[tokio::test]
async fn an_orgs_budget_holds_launches_past_its_concurrency_and_refuses_runs_past_its_day() {
    let w = world(catalog(|objects| {
        for o in objects.iter_mut() {
            if o["kind"] == "Organization" && o["metadata"]["name"] == "acme" {
                o["spec"]["agentBudget"] = json!({ "maxRunsPerDay": 2, "maxConcurrentRuns": 1 });
            }
        }
    }))
    .await;
    let first = w.dispatch("api").await;
    assert_eq!(w.step(&first).await, ("Running".into(), "watch".into()));
    // One run at a time: the second waits at its launch, and is looked at
    // again.
    let second = w.dispatch("platform-config").await;
    let queued = format!(
        "SELECT count(*) FROM kradle_jobs WHERE key = 'run:' || (SELECT id FROM kradle_dispatch_runs WHERE name = '{second}')"
    );
    assert_eq!(w.step(&second).await, ("Pending".into(), "launch".into()));
    let before = w.scalar(&queued).await;
    assert_eq!(w.step(&second).await, ("Pending".into(), "launch".into()));
    assert_eq!(
        w.scalar(&queued).await,
        before + 1,
        "each wait queues the launch again"
    );
    let why = w
        .text(&format!(
            "SELECT reason || ': ' || message FROM kradle_dispatch_runs WHERE name = '{second}'"
        ))
        .await;
    assert!(
        why.starts_with("OrgConcurrencyLimit: organization `acme` has 1 runs Running"),
        "{why}"
    );
    assert_eq!(w.kube.names("jobs"), [format!("agent-{first}-1")]);
    // The first ends: the second goes.
    let token = w.kube.token(NS, &format!("agent-{first}-1")).unwrap();
    assert_eq!(
        w.callback(&first, &token, "Succeeded").await,
        Called::Succeeded
    );
    assert_eq!(w.step(&second).await, ("Running".into(), "watch".into()));
    // Two runs started today, the org's limit, whatever the stack: the
    // third is refused.
    let third = w.dispatch("api").await;
    assert_eq!(w.step(&third).await, ("Failed".into(), "done".into()));
    let why = w
        .text(&format!(
            "SELECT reason || ': ' || message FROM kradle_dispatch_runs WHERE name = '{third}'"
        ))
        .await;
    assert!(
        why.starts_with("BudgetExceeded: organization `acme` started 2 runs")
            && why.contains("agentBudget.maxRunsPerDay: 2"),
        "{why}"
    );
    assert_eq!(w.kube.names("jobs").len(), 2);
}

/// The example with the fixer stack on the org's Agent Mux gateway (no
/// runner pool), the gateway at `url`, its token in Secret `mux-auth`.
fn gateway_catalog(url: &str, backoff_ms: u64) -> Catalog {
    let url = url.to_string();
    catalog(move |objects| {
        for o in objects.iter_mut() {
            if o["kind"] == "AgentStack" {
                o["spec"].as_object_mut().unwrap().remove("runnerPolicy");
            }
            if o["kind"] == "AgentGatewayConfig" {
                o["spec"]["gatewayUrl"] = json!(url);
                o["spec"]["reconnectPolicy"] = json!({ "maxRetries": 3, "backoffMs": backoff_ms });
                o["spec"]["auth"] = json!({ "secretRef": { "name": "mux-auth", "key": "token" } });
            }
        }
    })
}

/// [`gateway_catalog`] with the token read, in a world.
async fn gateway_world(mux: &FakeMux, backoff_ms: u64) -> World {
    let mut c = gateway_catalog(&mux.url, backoff_ms);
    let mut secrets = Secrets::default();
    secrets.insert(NS, "mux-auth", "token", SecretValue::new(mux.token.clone()));
    assert!(c.resolve_tokens(&secrets).is_empty());
    world(c).await
}

fn succeeded() -> Value {
    json!({ "phase": "Succeeded", "message": "fixed",
            "artifacts": [{ "kind": "patch", "digest": format!("sha256:{}", "c".repeat(64)) }] })
}

#[tokio::test]
async fn a_gateway_session_is_launched_once_and_followed_across_dropped_streams() {
    let mux = FakeMux::start("mux-token").await;
    mux.script_events(
        &["reading the log", "found it", "pushed a fix"],
        succeeded(),
    );
    // Two events then a drop; a 503; then a gateway that replays all.
    mux.script_connections(&[Plan::Drop(2), Plan::Status(503), Plan::Replay]);
    let w = gateway_world(&mux, 5).await;
    let name = w.dispatch("api").await;
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    assert!(
        w.kube.names("jobs").is_empty() && w.kube.names("secrets").is_empty(),
        "a gateway run makes no Kubernetes object"
    );
    let launched = mux.seen("POST", "/v1/sessions");
    assert_eq!(launched.len(), 1);
    let key = format!("agent-{name}-1");
    assert_eq!(launched[0].idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        launched[0].authorization.as_deref(),
        Some("Bearer mux-token")
    );
    let body = &launched[0].body;
    assert_eq!(body["contextBundle"]["task"]["repository"], "api");
    assert!(
        body["contextBundleDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // The gateway holds the attempt's callback token; kradle its hash.
    let token = body["callback"]["token"].as_str().unwrap();
    assert_eq!(
        w.text("SELECT token_hash FROM kradle_dispatch_runs").await,
        token_hash(token)
    );
    assert_eq!(
        w.text("SELECT backend || ' ' || mux_run_id || ' ' || mux_session_id FROM kradle_dispatch_attempts")
            .await,
        "agent-mux mux-1 s-mux-1"
    );

    assert_eq!(
        w.until_phase(&name, "Succeeded").await,
        ("Succeeded".into(), "done".into())
    );
    let streams = mux.seen("GET", "/v1/runs/mux-1/events");
    let resumed: Vec<Option<&str>> = streams.iter().map(|s| s.last_event_id.as_deref()).collect();
    assert_eq!(
        resumed,
        [None, Some("2"), Some("2")],
        "reopened after the last event seen"
    );
    // The replayed events count once.
    let events: Value = {
        let pool = w.pool().await;
        sqlx::query_scalar("SELECT events FROM kradle_transcripts")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let said: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"].as_str().unwrap())
        .collect();
    assert_eq!(said, ["reading the log", "found it", "pushed a fix"]);
    assert_eq!(w.scalar("SELECT count(*) FROM kradle_artifacts").await, 1);
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM kradle_workspaces WHERE phase = 'Ready' AND claimed_by IS NULL"
        )
        .await,
        1,
        "the workspace is released"
    );
    assert_eq!(w.d.mux.following(), 0, "the follower is done");
    assert_eq!(mux.seen("POST", "/v1/sessions").len(), 1);
    assert!(mux.invalid().is_empty(), "{:?}", mux.invalid());
}

#[tokio::test]
async fn a_new_process_follows_a_gateway_run_from_the_start() {
    let mux = FakeMux::start("mux-token").await;
    mux.script_events(&["one", "two"], succeeded());
    // The first process sees one event, then the stream drops and it
    // waits a minute before reconnecting: it is killed meanwhile.
    mux.script_connections(&[Plan::Drop(1)]);
    let mut w = gateway_world(&mux, 60_000).await;
    let name = w.dispatch("api").await;
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    assert!(
        support::until("the first stream", || mux.seen("GET", "/v1/runs/").len()
            == 1)
        .await
    );
    w.d.mux = Arc::new(AgentMux::new());
    assert_eq!(
        w.until_phase(&name, "Succeeded").await,
        ("Succeeded".into(), "done".into())
    );
    let streams = mux.seen("GET", "/v1/runs/mux-1/events");
    assert_eq!(streams.len(), 2, "the killed follower never reconnected");
    assert_eq!(streams[1].last_event_id, None, "a new process starts over");
    assert_eq!(
        w.scalar("SELECT jsonb_array_length(events)::bigint FROM kradle_transcripts")
            .await,
        2
    );
    assert_eq!(mux.seen("POST", "/v1/sessions").len(), 1);
}

#[tokio::test]
async fn a_lost_gateway_stream_is_retried_as_a_new_session_and_cancel_deletes_it() {
    let mux = FakeMux::start("mux-token").await;
    mux.script_events(&["one"], succeeded());
    // Every connection fails: after maxRetries (3), the stream is lost.
    mux.script_connections(&[Plan::Status(500); 4]);
    let w = gateway_world(&mux, 1).await;
    let name = w.dispatch("api").await;
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    w.step_until(&name, |r| r.attempts >= 2).await;
    assert_eq!(
        w.text("SELECT reason_code FROM kradle_dispatch_attempts WHERE number = 1")
            .await,
        "GatewayStreamLost"
    );
    assert_eq!(mux.seen("GET", "/v1/runs/mux-1/events").len(), 4);
    let (phase, _) = w.until_phase(&name, "Running").await;
    assert_eq!(phase, "Running");
    let keys: Vec<String> = mux
        .seen("POST", "/v1/sessions")
        .iter()
        .map(|s| s.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(keys, [format!("agent-{name}-1"), format!("agent-{name}-2")]);

    assert_eq!(
        w.store.cancel_run("acme", &name, "grace").await.unwrap(),
        Cancelled::Cancelled
    );
    assert_eq!(w.step(&name).await, ("Cancelled".into(), "done".into()));
    assert_eq!(mux.state.lock().unwrap().cancelled, ["mux-2"]);
    assert_eq!(w.d.mux.following(), 0);
    assert!(mux.invalid().is_empty(), "{:?}", mux.invalid());
}

#[tokio::test]
async fn a_gateway_session_past_its_deadline_is_cancelled_and_retried() {
    let mux = FakeMux::start("mux-token").await;
    mux.script_events(&["still thinking"], succeeded());
    // One event, then the stream drops and the follower waits a minute.
    mux.script_connections(&[Plan::Drop(1)]);
    let w = gateway_world(&mux, 60_000).await;
    let name = w.dispatch("api").await;
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    assert_eq!(w.step(&name).await, ("Running".into(), "watch".into()));
    // The session has been running for two hours (its deadline is an hour).
    sqlx::query("UPDATE kradle_dispatch_attempts SET started_at = now() - interval '2 hours'")
        .execute(&w.pool().await)
        .await
        .unwrap();
    let (phase, _) = w.step(&name).await;
    assert_eq!(phase, "Pending", "retried");
    assert_eq!(
        w.text(
            "SELECT reason_code || ': ' || message FROM kradle_dispatch_attempts WHERE number = 1"
        )
        .await,
        "DeadlineExceeded: the gateway session ran past its deadline (3600 s)"
    );
    assert_eq!(mux.state.lock().unwrap().cancelled, ["mux-1"]);
    assert_eq!(w.d.mux.following(), 0, "its follower is stopped");
}

#[tokio::test]
async fn a_gateway_whose_token_is_missing_refuses_the_launch() {
    let mux = FakeMux::start("mux-token").await;
    let mut c = gateway_catalog(&mux.url, 1);
    assert_eq!(c.resolve_tokens(&Secrets::default()).len(), 1);
    let w = world(c).await;
    let name = w.dispatch("api").await;
    w.step(&name).await;
    let message = w
        .text("SELECT message FROM kradle_dispatch_attempts WHERE number = 1")
        .await;
    assert!(
        message.contains("Secret kradle-org-acme/mux-auth"),
        "{message}"
    );
    assert!(
        mux.seen("POST", "/v1/sessions").is_empty(),
        "nothing sent without the token"
    );
}

#[tokio::test]
async fn runs_are_pinned_to_the_memory_commit_of_their_dispatch() {
    let root = std::env::temp_dir().join(format!(
        "kradle-memory-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    ));
    let repo = support::MemoryRepo::new(&root);
    let first_commit = repo.commit("restart the runner\n");

    let mut w = world(catalog(|_| {})).await;
    w.d.memory = Some(MemoryGit {
        url_template: format!("file://{}/{{org}}/{{repo}}.git", root.display()),
        token: None,
    });
    let first = w.dispatch("api").await;
    assert_eq!(w.step(&first).await, ("Running".into(), "watch".into()));
    assert_eq!(
        w.text("SELECT resolved_commit FROM kradle_memory_snapshots")
            .await,
        first_commit
    );
    assert_eq!(
        w.text(&format!(
            "SELECT memory_snapshot FROM kradle_dispatch_runs WHERE name = '{first}'"
        ))
        .await,
        format!("{first}-memory")
    );
    assert_eq!(
        w.text("SELECT content -> 'task' -> 'memory' ->> 'commit' FROM kradle_context_bundles")
            .await,
        first_commit,
        "the agent is told which commit to read"
    );

    // Memory moves on: the next run is pinned to the new commit, the first
    // keeps its own.
    let second_commit = repo.commit("restart the runner, then page\n");
    assert_ne!(first_commit, second_commit);
    let second = w.dispatch("api").await;
    assert_eq!(w.step(&second).await, ("Running".into(), "watch".into()));
    let pinned: Vec<(String, String)> = {
        let pool = w.pool().await;
        sqlx::query_as(
            "SELECT memory_repository, resolved_commit FROM kradle_memory_snapshots ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    assert_eq!(
        pinned,
        [
            ("brain".to_string(), first_commit),
            ("brain".to_string(), second_commit)
        ]
    );

    // A memory repository that cannot be read fails the run, saying why.
    w.d.memory = Some(MemoryGit {
        url_template: format!("file://{}/nowhere/{{repo}}.git", root.display()),
        token: None,
    });
    let third = w.dispatch("api").await;
    assert_eq!(w.step(&third).await, ("Failed".into(), "done".into()));
    let message = w
        .text(&format!(
            "SELECT reason || ': ' || message FROM kradle_dispatch_runs WHERE name = '{third}'"
        ))
        .await;
    assert!(
        message.starts_with("MemorySnapshotFailed: memory repository `brain`"),
        "{message}"
    );
    assert!(w.kube.names("jobs").len() == 2, "no Job for the third run");
    std::fs::remove_dir_all(&root).unwrap();
}
