//! Every transition of docs/dispatch.md's diagram, without a database:
//! the run, the catalog and the facts in, the transition out.

use serde_json::json;

use super::*;
use crate::dispatch::memory::MemoryError;

fn object(kind: &str, name: &str, spec: Value) -> Value {
    json!({ "kind": kind, "metadata": { "name": name, "namespace": crate::names::org_namespace("acme"),
            "labels": { "kradle.a5c.ai/org": "acme" } }, "spec": spec })
}

/// acme: repository `api`; stacks `fixer` (no approval, on a runner
/// pool, so on Jobs), `careful` (`approvalMode: always`), `broken`
/// (not ready), `mux` (no runner pool: on the gateway, when given).
fn catalog(extra: &[Value]) -> Catalog {
    let mut objects = vec![
        object("Repository", "api", json!({})),
        object("RunnerPool", "default", json!({ "image": "agent:1" })),
        object(
            "AgentStack",
            "fixer",
            json!({ "runnerPolicy": { "runnerPoolRef": "default" },
                    "budget": { "maxAttempts": 2, "maxRunSeconds": 600 } }),
        ),
        object(
            "AgentStack",
            "careful",
            json!({ "approvalMode": "always", "runnerPolicy": { "runnerPoolRef": "default" } }),
        ),
        object("AgentStack", "broken", json!({})),
        object("AgentStack", "mux", json!({})),
    ];
    objects.extend(extra.iter().cloned());
    let ready = |name: &str| json!({ "organization": "acme", "name": name, "ready": true });
    let report = json!({ "agentStacks": [ready("fixer"), ready("careful"), ready("mux"),
        { "organization": "acme", "name": "broken", "ready": false, "conditions": [
            { "type": "RuntimeIdentityReady", "status": "False",
              "message": "AgentServiceAccount agent-runner is missing" } ] }] });
    Catalog::from_objects(&objects, &report)
}

fn gateway() -> Value {
    object(
        "AgentGatewayConfig",
        "mux",
        json!({ "gatewayUrl": "http://mux:8080" }),
    )
}

fn run(stack: &str, phase: Phase, step: Step) -> Run {
    Run {
        id: 7,
        org: "acme".into(),
        name: format!("{stack}-7"),
        agent_stack: stack.into(),
        task_kind: "fix".into(),
        repository: Some("api".into()),
        git_ref: Some("main".into()),
        requested_by: Some("grace".into()),
        phase,
        step,
        attempts: u8::from(step.has_attempt() || phase == Phase::Running).into(),
        max_attempts: 2,
        deadline_seconds: 600,
        workspace: None,
        pvc: None,
        workspace_phase: None,
        job_name: Some(format!("agent-{stack}-7-1")),
        launch_begun: false,
        source_refs: json!([]),
        clone_url: None,
        backend: None,
        mux_run_id: None,
        attempt_seconds: None,
    }
}

const JOBS: Env = Env {
    cluster: true,
    memory: true,
};

fn decide(run: &Run, catalog: &Catalog, facts: &Facts) -> Transition {
    next(run, catalog, JOBS, facts)
}

fn reason(t: &Transition) -> (FailReason, &str) {
    match t {
        Transition::Fail {
            reason, message, ..
        } => (*reason, message),
        other => panic!("not a failure: {other:?}"),
    }
}

#[test]
fn texts_round_trip_and_match_the_migration_checks() {
    let migration = include_str!("../../../migrations/0007_dispatch.sql");
    for p in Phase::ALL {
        assert_eq!(Phase::parse(p.as_str()), Some(*p));
        assert!(
            migration.contains(&format!("'{p}'")),
            "{p} not in the CHECK"
        );
    }
    let texts = Step::ALL.iter().map(|s| s.as_str());
    let texts = texts.chain(AttemptPhase::ALL.iter().map(|s| s.as_str()));
    let texts = texts.chain(ApprovalPhase::ALL.iter().map(|s| s.as_str()));
    let texts = texts.chain(WorkspacePhase::ALL.iter().map(|s| s.as_str()));
    for text in texts {
        assert!(
            migration.contains(&format!("'{text}'")),
            "{text} not in the CHECKs"
        );
    }
    assert_eq!(Step::parse("cleanup"), Some(Step::Cleanup));
    assert_eq!(Phase::parse("pending"), None);
    assert_eq!(Backend::parse("agent-mux"), Some(Backend::AgentMux));
    let terminal: Vec<_> = Phase::ALL.iter().filter(|p| p.is_terminal()).collect();
    assert_eq!(
        terminal,
        [&Phase::Succeeded, &Phase::Failed, &Phase::Cancelled]
    );
}

#[test]
fn pending_fails_without_its_stack_or_when_it_is_not_ready() {
    let c = catalog(&[]);
    for step in [Step::Review, Step::Workspace, Step::Launch] {
        let t = decide(&run("fixr", Phase::Pending, step), &c, &Facts::default());
        assert_eq!(
            reason(&t),
            (
                FailReason::StackNotFound,
                "organization `acme` has no AgentStack `fixr`"
            )
        );
    }
    let t = decide(
        &run("broken", Phase::Queued, Step::Launch),
        &c,
        &Facts::default(),
    );
    assert_eq!(
        reason(&t),
        (
            FailReason::StackNotReady,
            "RuntimeIdentityReady: AgentServiceAccount agent-runner is missing"
        )
    );
}

#[test]
fn an_allowed_review_admits_with_the_frozen_limits() {
    let t = decide(
        &run("fixer", Phase::Pending, Step::Review),
        &catalog(&[]),
        &Facts::default(),
    );
    let Transition::Admit {
        review,
        max_attempts,
        deadline_seconds,
    } = t
    else {
        panic!("{t:?}")
    };
    assert_eq!(review["outcome"], "allowed");
    assert_eq!((max_attempts, deadline_seconds), (2, 600));
    assert_eq!(
        review["limits"],
        json!({ "maxAttempts": 2, "deadlineSeconds": 600, "maxRunsPerDay": null })
    );
}

#[test]
fn a_review_requiring_approval_holds_the_run() {
    let t = decide(
        &run("careful", Phase::Pending, Step::Review),
        &catalog(&[]),
        &Facts::default(),
    );
    let Transition::Hold { action, why, .. } = t else {
        panic!("{t:?}")
    };
    assert_eq!(action, "escalation");
    assert!(why.contains("approvalMode: always"), "{why}");
}

#[test]
fn a_repository_the_org_does_not_have_is_denied() {
    let mut r = run("fixer", Phase::Pending, Step::Review);
    r.repository = Some("elsewhere".into());
    let t = decide(&r, &catalog(&[]), &Facts::default());
    assert_eq!(
        reason(&t),
        (
            FailReason::PermissionDenied,
            "`elsewhere` is not a repository of organization `acme`"
        )
    );
}

#[test]
fn the_budgets_are_read_then_refuse_a_run_past_them() {
    let org = object(
        "Organization",
        "acme",
        json!({ "agentBudget": { "maxRunsPerDay": 10 } }),
    );
    let stack = object(
        "AgentStack",
        "fixer",
        json!({ "runnerPolicy": { "runnerPoolRef": "default" },
                "budget": { "maxRunsPerDay": 3 } }),
    );
    let c = catalog(&[org]);
    let c2 = {
        let objects = vec![
            object("Repository", "api", json!({})),
            object("RunnerPool", "default", json!({})),
            stack,
            object(
                "Organization",
                "acme",
                json!({ "agentBudget": { "maxRunsPerDay": 10 } }),
            ),
        ];
        let report =
            json!({ "agentStacks": [{ "organization": "acme", "name": "fixer", "ready": true }] });
        Catalog::from_objects(&objects, &report)
    };
    let r = run("fixer", Phase::Pending, Step::Review);
    // The stack's budget first, then the org's; each read only when set.
    assert_eq!(
        decide(&r, &c, &Facts::default()),
        Transition::Observe(Need::StartedByOrg)
    );
    assert_eq!(
        decide(&r, &c2, &Facts::default()),
        Transition::Observe(Need::StartedByStack)
    );
    let facts = Facts {
        started_by_stack: Some(2),
        ..Facts::default()
    };
    assert_eq!(
        decide(&r, &c2, &facts),
        Transition::Observe(Need::StartedByOrg)
    );
    let within = Facts {
        started_by_org: Some(9),
        ..facts.clone()
    };
    assert!(matches!(decide(&r, &c2, &within), Transition::Admit { .. }));
    let stack_spent = Facts {
        started_by_stack: Some(3),
        ..Facts::default()
    };
    let t = decide(&r, &c2, &stack_spent);
    assert_eq!(
        reason(&t),
        (
            FailReason::BudgetExceeded,
            "stack `fixer` started 3 runs in the last 24 hours, its budget (budget.maxRunsPerDay: 3)"
        )
    );
    let org_spent = Facts {
        started_by_org: Some(10),
        ..facts
    };
    let t = decide(&r, &c2, &org_spent);
    assert_eq!(
        reason(&t),
        (
            FailReason::BudgetExceeded,
            "organization `acme` started 10 runs in the last 24 hours, its budget (agentBudget.maxRunsPerDay: 10)"
        )
    );
    // A denied run is denied, whatever the budget.
    let mut elsewhere = r.clone();
    elsewhere.repository = Some("nope".into());
    assert_eq!(
        reason(&decide(&elsewhere, &c2, &Facts::default())).0,
        FailReason::PermissionDenied
    );
}

#[test]
fn the_workspace_binds_pinned_to_memory_or_fails_when_memory_is_unreadable() {
    let r = run("fixer", Phase::Pending, Step::Workspace);
    assert_eq!(
        decide(&r, &catalog(&[]), &Facts::default()),
        Transition::Bind { memory: None }
    );
    let memory = object(
        "AgentMemoryRepository",
        "notes",
        json!({ "repositoryRef": "memory", "defaultBranch": "trunk" }),
    );
    let c = catalog(&[memory]);
    assert_eq!(
        decide(&r, &c, &Facts::default()),
        Transition::Observe(Need::Memory)
    );
    // Without a reader of memory repositories, runs are not pinned.
    let no_reader = Env {
        memory: false,
        ..JOBS
    };
    assert_eq!(
        next(&r, &c, no_reader, &Facts::default()),
        Transition::Bind { memory: None }
    );
    let read = Facts {
        memory: Some(Ok("abc123".into())),
        ..Facts::default()
    };
    assert_eq!(
        decide(&r, &c, &read),
        Transition::Bind {
            memory: Some(Pinned {
                memory_repository: "notes".into(),
                requested_ref: "trunk".into(),
                commit: "abc123".into(),
            })
        }
    );
    let unreadable = Facts {
        memory: Some(Err(MemoryError::NoBranch {
            url: "http://forge/acme/notes.git".into(),
            branch: "trunk".into(),
        })),
        ..Facts::default()
    };
    assert_eq!(
        reason(&decide(&r, &c, &unreadable)),
        (
            FailReason::MemorySnapshotFailed,
            "memory repository `notes` (branch `trunk`): http://forge/acme/notes.git has no branch `trunk`"
        )
    );
}

#[test]
fn a_launch_without_a_backend_parks_the_run_in_queued() {
    let r = run("fixer", Phase::Pending, Step::Launch);
    let t = next(&r, &catalog(&[]), Env::default(), &Facts::default());
    assert!(matches!(t, Transition::Park { .. }), "{t:?}");
    // A stack without a runner pool goes to the org's gateway.
    let m = run("mux", Phase::Queued, Step::Launch);
    assert_eq!(
        next(
            &m,
            &catalog(&[gateway()]),
            Env::default(),
            &Facts::default()
        ),
        Transition::Launch {
            backend: Backend::AgentMux
        }
    );
}

#[test]
fn a_first_launch_creates_the_job_without_looking() {
    let r = run("fixer", Phase::Pending, Step::Launch);
    assert_eq!(
        decide(&r, &catalog(&[]), &Facts::default()),
        Transition::Launch {
            backend: Backend::Kubernetes
        }
    );
    // A launch that began with the token this worker made cannot
    // have a Job yet.
    let begun = Run {
        launch_begun: true,
        ..r
    };
    let fresh = Facts {
        fresh_token: true,
        ..Facts::default()
    };
    assert_eq!(
        decide(&begun, &catalog(&[]), &fresh),
        Transition::Launch {
            backend: Backend::Kubernetes
        }
    );
}

#[test]
fn a_launch_that_began_before_looks_first_and_adopts_the_job() {
    let r = Run {
        launch_begun: true,
        ..run("fixer", Phase::Queued, Step::Launch)
    };
    let c = catalog(&[]);
    assert_eq!(
        decide(&r, &c, &Facts::default()),
        Transition::Observe(Need::Job(Backend::Kubernetes))
    );
    let seen = |job| Facts {
        job: Some(job),
        ..Facts::default()
    };
    assert_eq!(
        decide(&r, &c, &seen(Ok(JobState::Active))),
        Transition::Adopt
    );
    assert_eq!(
        decide(&r, &c, &seen(Ok(JobState::Missing))),
        Transition::Launch {
            backend: Backend::Kubernetes
        }
    );
    assert_eq!(
        decide(&r, &c, &seen(Err(ExecError::Transient("503".into())))),
        Transition::Retry("503".into())
    );
    assert_eq!(
        decide(&r, &c, &seen(Err(ExecError::Refused("forbidden".into())))),
        Transition::AttemptFailed {
            code: "LaunchRefused".into(),
            message: "forbidden".into(),
            cancel: None
        }
    );
}

#[test]
fn a_launch_past_the_org_concurrency_waits() {
    let org = object(
        "Organization",
        "acme",
        json!({ "agentBudget": { "maxConcurrentRuns": 2 } }),
    );
    let c = catalog(&[org]);
    let r = run("fixer", Phase::Pending, Step::Launch);
    assert_eq!(
        decide(&r, &c, &Facts::default()),
        Transition::Observe(Need::Running)
    );
    let busy = Facts {
        running: Some(2),
        ..Facts::default()
    };
    let Transition::LaunchLater { reason, message } = decide(&r, &c, &busy) else {
        panic!()
    };
    assert_eq!(reason, "OrgConcurrencyLimit");
    assert!(message.contains("has 2 runs Running"), "{message}");
    let free = Facts {
        running: Some(1),
        ..Facts::default()
    };
    assert!(matches!(decide(&r, &c, &free), Transition::Launch { .. }));
}

#[test]
fn running_ends_by_its_job() {
    let c = catalog(&[]);
    let r = Run {
        backend: Some(Backend::Kubernetes),
        ..run("fixer", Phase::Running, Step::Watch)
    };
    assert_eq!(
        decide(&r, &c, &Facts::default()),
        Transition::Observe(Need::Job(Backend::Kubernetes))
    );
    let seen = |job| Facts {
        job: Some(job),
        ..Facts::default()
    };
    assert_eq!(
        decide(&r, &c, &seen(Ok(JobState::Active))),
        Transition::WatchAgain
    );
    let failed = |code: &str, message: &str| Transition::AttemptFailed {
        code: code.into(),
        message: message.into(),
        cancel: None,
    };
    assert_eq!(
        decide(&r, &c, &seen(Ok(JobState::Succeeded))),
        failed(
            "NoCallback",
            "Job agent-fixer-7-1 completed without calling back"
        )
    );
    assert_eq!(
        decide(&r, &c, &seen(Ok(JobState::Missing))),
        failed(
            "JobMissing",
            "Job agent-fixer-7-1 is gone (deleted outside kradle?)"
        )
    );
    let deadline = JobState::Failed {
        reason: "DeadlineExceeded".into(),
        message: "Job was active longer than specified deadline".into(),
    };
    assert_eq!(
        decide(&r, &c, &seen(Ok(deadline))),
        failed(
            "DeadlineExceeded",
            "Job was active longer than specified deadline"
        )
    );
    assert_eq!(
        decide(&r, &c, &seen(Err(ExecError::Refused("forbidden".into())))),
        failed("JobUnreadable", "forbidden")
    );
    assert_eq!(
        decide(&r, &c, &seen(Err(ExecError::Transient("reset".into())))),
        Transition::Retry("reset".into())
    );
    // Without a cluster, a Job's run is looked at again later.
    assert_eq!(
        next(&r, &c, Env::default(), &Facts::default()),
        Transition::WatchAgain
    );
}

#[test]
fn a_gateway_session_reports_its_result_and_has_kradles_deadline() {
    let c = catalog(&[gateway()]);
    let r = Run {
        backend: Some(Backend::AgentMux),
        mux_run_id: Some("m-1".into()),
        attempt_seconds: Some(10.0),
        ..run("mux", Phase::Running, Step::Watch)
    };
    // Watched on the gateway even by a server without a cluster.
    assert_eq!(
        next(&r, &c, Env::default(), &Facts::default()),
        Transition::Observe(Need::Job(Backend::AgentMux))
    );
    let outcome = Outcome {
        succeeded: true,
        message: Some("fixed".into()),
        artifacts: vec![],
        transcript: None,
    };
    let reported = Facts {
        job: Some(Ok(JobState::Reported(Box::new(outcome.clone())))),
        ..Facts::default()
    };
    assert_eq!(
        decide(&r, &c, &reported),
        Transition::Report(Box::new(outcome))
    );
    let over = Run {
        attempt_seconds: Some(601.0),
        ..r
    };
    assert_eq!(
        decide(&over, &c, &Facts::default()),
        Transition::AttemptFailed {
            code: "DeadlineExceeded".into(),
            message: "the gateway session ran past its deadline (600 s)".into(),
            cancel: Some(Backend::AgentMux)
        }
    );
}

#[test]
fn a_cancelled_run_cleans_up_on_the_backend_it_ran_on() {
    let c = catalog(&[]);
    let r = run("fixer", Phase::Cancelled, Step::Cleanup);
    assert_eq!(
        decide(&r, &c, &Facts::default()),
        Transition::Cleanup {
            backend: Some(Backend::Kubernetes)
        }
    );
    assert_eq!(
        next(&r, &c, Env::default(), &Facts::default()),
        Transition::Cleanup { backend: None }
    );
    let on_mux = Run {
        backend: Some(Backend::AgentMux),
        ..r
    };
    assert_eq!(
        next(&on_mux, &c, Env::default(), &Facts::default()),
        Transition::Cleanup {
            backend: Some(Backend::AgentMux)
        }
    );
}

#[test]
fn waiting_and_finished_runs_stay() {
    let c = catalog(&[]);
    for (phase, step) in [
        (Phase::AwaitingApproval, Step::Review),
        (Phase::Succeeded, Step::Done),
        (Phase::Failed, Step::Done),
        (Phase::Cancelled, Step::Done),
    ] {
        // Even a run whose stack is gone: nothing is left to do.
        for stack in ["fixer", "gone"] {
            assert_eq!(
                decide(&run(stack, phase, step), &c, &Facts::default()),
                Transition::Stay,
                "{phase}/{step}"
            );
        }
    }
}
