//! Execution backends: where an attempt runs. The Kubernetes Job backend
//! is `cluster::jobs::KubeJobs`, the Agent Mux gateway backend
//! [`super::mux::AgentMux`]; tests and benchmarks bring their own.
//!
//! Every call is idempotent, so a worker that died after sending one can
//! send it again: creating what exists is not an error (the names are
//! derived from the run and attempt), and cancelling what is gone neither.

use std::future::Future;

use super::catalog::Gateway;
use super::job::Launch;
use super::outcome::Outcome;

/// Why a call did not work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// Worth trying again (unreachable, 5xx, 429).
    #[error("{0}")]
    Transient(String),
    /// Refused for good (forbidden, invalid): the attempt fails.
    #[error("{0}")]
    Refused(String),
}

/// What became of an attempt's Job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// There is no such Job.
    Missing,
    Active,
    Succeeded,
    /// `reason` is Kubernetes' (`DeadlineExceeded`, `BackoffLimitExceeded`)
    /// or the gateway's (`GatewayStreamLost`, ...).
    Failed {
        reason: String,
        message: String,
    },
    /// The backend brought the agent's result itself (a gateway's
    /// `result` event), as a callback would.
    Reported(Box<Outcome>),
}

/// The attempt a call is about.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub namespace: &'a str,
    /// `agent-<run>-<attempt>`: the Job, its Secret, the gateway
    /// session's idempotency key.
    pub job: &'a str,
    /// The org's gateway, for an attempt that runs on one.
    pub gateway: Option<&'a Gateway>,
    /// The gateway's run id, once a launch returned it.
    pub session: Option<&'a str>,
}

/// What a launch started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launched {
    /// The gateway's (run id, session id); `None` for a Job.
    pub session: Option<(String, String)>,
}

/// Where attempts run.
pub trait Executor: Send + Sync + 'static {
    /// Creates the attempt's Secret (holding `token`), its PVC when the
    /// workspace is new, and its Job.
    fn launch(
        &self,
        launch: &Launch,
        token: &str,
    ) -> impl Future<Output = Result<Launched, ExecError>> + Send;

    /// The state of the attempt.
    fn state(&self, target: Target<'_>)
    -> impl Future<Output = Result<JobState, ExecError>> + Send;

    /// Stops the attempt: deletes the Job (and its pods) and its Secret.
    fn cancel(&self, target: Target<'_>) -> impl Future<Output = Result<(), ExecError>> + Send;
}
