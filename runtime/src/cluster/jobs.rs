//! Agent Jobs on a Kubernetes cluster, through kube-rs: the Kubernetes
//! execution backend of dispatch ([`Executor`]).
//!
//! Every call is idempotent, so a worker that died after sending one can
//! send it again: creating what exists is not an error (the names are
//! derived from the run and attempt), and cancelling what is gone neither.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use serde::de::DeserializeOwned;

use crate::dispatch::executor::{ExecError, Executor, JobState, Launched, Target};
use crate::dispatch::job::{Launch, RUN_WORKSPACE};

/// Agent Jobs on a Kubernetes cluster, through kube-rs.
#[derive(Clone)]
pub struct KubeJobs {
    client: kube::Client,
}

impl KubeJobs {
    pub fn new(client: kube::Client) -> KubeJobs {
        KubeJobs { client }
    }
}

impl KubeJobs {
    /// The log of the agent container of the Job's pod (the latest pod,
    /// by name), or `None` when the Job has no pod (any more).
    pub async fn logs(&self, namespace: &str, job: &str) -> Result<Option<String>, ExecError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let listed = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .map_err(|e| classify("listing the Job's pods", e))?;
        let Some(name) = listed
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .max()
        else {
            return Ok(None);
        };
        let params = LogParams {
            container: Some("agent".into()),
            ..LogParams::default()
        };
        pods.logs(&name, &params)
            .await
            .map(Some)
            .map_err(|e| classify("reading the pod's log", e))
    }
}

impl std::fmt::Debug for KubeJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeJobs")
    }
}

fn classify(what: &str, e: kube::Error) -> ExecError {
    match e {
        kube::Error::Api(r) if r.code == 429 || r.code >= 500 => {
            ExecError::Transient(format!("{what}: {} ({})", r.message, r.code))
        }
        kube::Error::Api(r) => {
            ExecError::Refused(format!("{what}: {} ({} {})", r.message, r.code, r.reason))
        }
        other => ExecError::Transient(format!("{what}: {other}")),
    }
}

fn typed<T: DeserializeOwned>(what: &str, v: serde_json::Value) -> Result<T, ExecError> {
    serde_json::from_value(v).map_err(|e| ExecError::Refused(format!("{what}: {e}")))
}

fn is_code(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(r) if r.code == code)
}

/// Whether the `kind` named `name` found at launch is this attempt's: it
/// carries the attempt's labels (org, run, attempt). Anything else is
/// refused, never used.
fn ours(
    launch: &Launch,
    kind: &str,
    name: &str,
    found: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
) -> Result<(), ExecError> {
    let want = launch.labels();
    let labels = found.and_then(|m| m.labels).unwrap_or_default();
    let matches = [
        "kradle.a5c.ai/org",
        "kradle.a5c.ai/run",
        "kradle.a5c.ai/attempt",
    ]
    .iter()
    .all(|k| labels.get(*k).map(String::as_str) == want[*k].as_str());
    if matches {
        Ok(())
    } else {
        Err(ExecError::Refused(format!(
            "{kind} {}/{name} exists and is not this attempt's (its kradle.a5c.ai/run and attempt labels differ): it is not used; delete it",
            launch.namespace
        )))
    }
}

impl Executor for KubeJobs {
    async fn launch(&self, launch: &Launch, token: &str) -> Result<Launched, ExecError> {
        let ns = &launch.namespace;
        let name = launch.job_name();
        let pp = PostParams::default();
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let secret: Secret = typed("the callback Secret", launch.secret(token))?;
        match secrets.create(&pp, &secret).await {
            Ok(_) => {}
            // A rerun of a launch that died after this call: the token
            // changed, so the Secret is replaced, if it is this attempt's.
            Err(e) if is_code(&e, 409) => {
                let found = secrets
                    .get_opt(&name)
                    .await
                    .map_err(|e| classify("reading the callback Secret", e))?;
                ours(launch, "Secret", &name, found.map(|s| s.metadata))?;
                secrets
                    .replace(&name, &pp, &secret)
                    .await
                    .map_err(|e| classify("replacing the callback Secret", e))?;
            }
            Err(e) => return Err(classify("creating the callback Secret", e)),
        }
        if let Some(pvc) = launch.pvc() {
            let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
            let pvc: PersistentVolumeClaim = typed("the workspace PVC", pvc)?;
            match pvcs.create(&pp, &pvc).await {
                Ok(_) => {}
                // Created by a launch of this run that died after the call,
                // or by someone else: only the first is mounted.
                Err(e) if is_code(&e, 409) => {
                    let found = pvcs
                        .get_opt(&launch.pvc)
                        .await
                        .map_err(|e| classify("reading the workspace PVC", e))?;
                    let annotated = found.as_ref().is_some_and(|p| {
                        p.metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(RUN_WORKSPACE))
                            == Some(&launch.pvc)
                    });
                    if !annotated {
                        return Err(ExecError::Refused(format!(
                            "PersistentVolumeClaim {ns}/{} exists and kradle did not create it for this run's workspace (no `{RUN_WORKSPACE}` annotation naming it): it is not mounted; rename or delete it",
                            launch.pvc
                        )));
                    }
                }
                Err(e) => return Err(classify("creating the workspace PVC", e)),
            }
        }
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let job: Job = typed("the agent Job", launch.job())?;
        match jobs.create(&pp, &job).await {
            Ok(_) => Ok(Launched::default()),
            // This attempt's Job, created by a launch that died after the
            // call; or someone else's, which is not taken for it.
            Err(e) if is_code(&e, 409) => {
                let found = jobs
                    .get_opt(&name)
                    .await
                    .map_err(|e| classify("reading the agent Job", e))?;
                ours(launch, "Job", &name, found.map(|j| j.metadata))?;
                Ok(Launched::default())
            }
            Err(e) => Err(classify("creating the agent Job", e)),
        }
    }

    async fn state(&self, target: Target<'_>) -> Result<JobState, ExecError> {
        let (namespace, job) = (target.namespace, target.job);
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        let Some(found) = jobs
            .get_opt(job)
            .await
            .map_err(|e| classify("reading the agent Job", e))?
        else {
            return Ok(JobState::Missing);
        };
        let conditions = found.status.and_then(|s| s.conditions).unwrap_or_default();
        for c in conditions.iter().filter(|c| c.status == "True") {
            match c.type_.as_str() {
                "Complete" => return Ok(JobState::Succeeded),
                "Failed" => {
                    return Ok(JobState::Failed {
                        reason: c.reason.clone().unwrap_or_else(|| "Failed".into()),
                        message: c.message.clone().unwrap_or_default(),
                    });
                }
                _ => {}
            }
        }
        Ok(JobState::Active)
    }

    async fn cancel(&self, target: Target<'_>) -> Result<(), ExecError> {
        let (namespace, job) = (target.namespace, target.job);
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        match jobs.delete(job, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_code(&e, 404) => {}
            Err(e) => return Err(classify("deleting the agent Job", e)),
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match secrets.delete(job, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, 404) => Ok(()),
            Err(e) => Err(classify("deleting the callback Secret", e)),
        }
    }
}
