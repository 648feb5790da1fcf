//! The Kubernetes objects of one attempt (spec §1.2.1, §3.1 phase 4;
//! docs/dispatch.md, "The Job"): the callback Secret, the workspace PVC
//! (when the workspace is new) and the `batch/v1` Job.
//!
//! Pure: the executor sends what these return.

use serde_json::{Value, json};

use super::bundle::{PROVIDER_BASE_ENV, PROVIDER_KEY_ENV};
use super::catalog::Stack;
use crate::names::job_name;

/// Where the workspace is mounted in the agent's container.
pub const WORKSPACE_PATH: &str = "/workspace";

/// The codec of the transport between the agent and Agent Mux.
pub const TRANSPORT_CODEC: &str = "jsonl";

/// Where the context bundle is mounted (from the attempt's Secret).
pub const CONTEXT_DIR: &str = "/var/run/kradle";

/// The annotation naming a run workspace's PVC on the PVC itself: a PVC
/// found under that name without it is not kradle's to mount.
pub const RUN_WORKSPACE: &str = "kradle.a5c.ai/run-workspace";

/// Where the `kradle` binary is, in every container of an agent's pod
/// that has the tools (docs/dispatch.md, "The pod").
pub const TOOLS_DIR: &str = "/kradle/bin";

/// How long a finished Job is kept for `kubectl logs`.
const TTL_AFTER_FINISHED: i64 = 24 * 3600;

/// One attempt, as its Job sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub org: String,
    pub namespace: String,
    pub run: String,
    pub attempt: i32,
    pub stack: String,
    pub task_kind: String,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    pub service_account: String,
    pub image: String,
    pub resources: Value,
    pub transport: String,
    pub deadline_seconds: i32,
    /// The PVC mounted at `/workspace`.
    pub pvc: String,
    /// The PVC to create first (a new workspace): (storage class, capacity).
    pub new_pvc: Option<(Option<String>, String)>,
    /// Where the agent POSTs its result.
    pub callback_url: String,
    /// The run's context bundle (JSON) and its digest.
    pub context: Option<(String, String)>,
    /// The stack's spec (a gateway session gets it).
    pub stack_spec: Value,
    /// The org's Agent Mux gateway: the attempt runs there, not as a Job.
    pub gateway: Option<super::catalog::Gateway>,
    /// The stack's model provider: its key reaches the pod by reference.
    pub provider: Option<super::catalog::Provider>,
    /// kradle's own image: an init container copies its static binary to
    /// [`TOOLS_DIR`] for the agent (`kradle agent …`) and the checkout.
    pub tools_image: Option<String>,
    /// Where the checkout clones from (with the tools only).
    pub clone_url: Option<String>,
}

impl Launch {
    /// The Job's (and its Secret's) name: `agent-<run>-<attempt>`.
    pub fn job_name(&self) -> String {
        job_name(&self.run, self.attempt)
    }

    /// What every object of the attempt is labelled with.
    pub fn labels(&self) -> Value {
        json!({
            "app.kubernetes.io/managed-by": "kradle",
            "app.kubernetes.io/component": "agent",
            "kradle.a5c.ai/org": self.org,
            "kradle.a5c.ai/run": self.run,
            "kradle.a5c.ai/stack": self.stack,
            "kradle.a5c.ai/attempt": self.attempt.to_string(),
        })
    }

    /// The Secret that carries the callback token to the Job: the token is
    /// shown once, here, and kradle keeps only its hash.
    pub fn secret(&self, token: &str) -> Value {
        let mut data = json!({ "token": token });
        if let Some((context, _)) = &self.context {
            data["context.json"] = json!(context);
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": self.job_name(), "namespace": self.namespace, "labels": self.labels() },
            "type": "Opaque",
            "stringData": data,
        })
    }

    /// The workspace's PVC, when this attempt creates it.
    pub fn pvc(&self) -> Option<Value> {
        let (class, capacity) = self.new_pvc.as_ref()?;
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": { "requests": { "storage": capacity } },
        });
        if let Some(class) = class {
            spec["storageClassName"] = json!(class);
        }
        Some(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": self.pvc,
                "namespace": self.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "kradle",
                    "app.kubernetes.io/component": "workspace",
                    "kradle.a5c.ai/org": self.org,
                },
                "annotations": { RUN_WORKSPACE: self.pvc },
            },
            "spec": spec,
        }))
    }

    /// The `batch/v1` Job: one pod, never restarted (kradle retries as a
    /// new attempt), ended by Kubernetes at the deadline.
    pub fn job(&self) -> Value {
        let name = self.job_name();
        let env_value = |name: &str, value: &str| json!({ "name": name, "value": value });
        let mut env = vec![
            env_value("KRADLE_ORG", &self.org),
            env_value("KRADLE_RUN_ID", &self.run),
            env_value("KRADLE_ATTEMPT", &self.attempt.to_string()),
            env_value("KRADLE_STACK", &self.stack),
            env_value("KRADLE_TASK_KIND", &self.task_kind),
            env_value("KRADLE_WORKSPACE_PATH", WORKSPACE_PATH),
            env_value("KRADLE_CALLBACK_URL", &self.callback_url),
            json!({ "name": "KRADLE_CALLBACK_TOKEN",
                    "valueFrom": { "secretKeyRef": { "name": name, "key": "token" } } }),
            env_value("AGENT_MUX_TRANSPORT", &self.transport),
            env_value("TRANSPORT_MUX_CODEC", TRANSPORT_CODEC),
        ];
        if let Some(p) = &self.provider {
            if let Some((secret, key)) = &p.secret {
                env.push(json!({ "name": PROVIDER_KEY_ENV,
                    "valueFrom": { "secretKeyRef": { "name": secret, "key": key } } }));
            }
            if let Some(base) = &p.api_base {
                env.push(env_value(PROVIDER_BASE_ENV, base));
            }
        }
        if let Some(repo) = &self.repository {
            env.push(env_value("KRADLE_REPOSITORY", repo));
        }
        if let Some(r) = &self.git_ref {
            env.push(env_value("KRADLE_REF", r));
        }
        let mut mounts = vec![json!({ "name": "workspace", "mountPath": WORKSPACE_PATH })];
        let mut volumes = vec![
            json!({ "name": "workspace", "persistentVolumeClaim": { "claimName": self.pvc } }),
        ];
        if let Some((_, digest)) = &self.context {
            env.push(env_value(
                "KRADLE_CONTEXT_PATH",
                &format!("{CONTEXT_DIR}/context.json"),
            ));
            env.push(env_value("KRADLE_CONTEXT_DIGEST", digest));
            mounts.push(json!({ "name": "context", "mountPath": CONTEXT_DIR, "readOnly": true }));
            // Only the bundle: the token reaches the agent as its env var.
            volumes.push(json!({ "name": "context", "secret": {
                "secretName": name, "items": [{ "key": "context.json", "path": "context.json" }] } }));
        }
        let security = json!({
            "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"] },
        });
        let mut init = Vec::new();
        if let Some(tools) = &self.tools_image {
            let bin = json!({ "name": "kradle-bin", "mountPath": TOOLS_DIR });
            volumes.push(json!({ "name": "kradle-bin", "emptyDir": {} }));
            // The image's entrypoint is kradle.
            init.push(json!({
                "name": "kradle-tools",
                "image": tools,
                "args": ["agent", "install", TOOLS_DIR],
                "volumeMounts": [bin.clone()],
                "securityContext": security.clone(),
            }));
            if let (Some(url), Some(git_ref)) = (&self.clone_url, &self.git_ref) {
                // In the agent's image (its git), before the agent starts.
                init.push(json!({
                    "name": "checkout",
                    "image": self.image,
                    "command": [format!("{TOOLS_DIR}/kradle"), "agent", "checkout"],
                    "env": [
                        env_value("KRADLE_CHECKOUT_URL", url),
                        env_value("KRADLE_REF", git_ref),
                        env_value("KRADLE_WORKSPACE_PATH", WORKSPACE_PATH),
                    ],
                    "volumeMounts": [
                        json!({ "name": "workspace", "mountPath": WORKSPACE_PATH }),
                        bin.clone(),
                    ],
                    "securityContext": security.clone(),
                }));
            }
            mounts.push(bin);
            env.push(env_value("KRADLE_BIN", &format!("{TOOLS_DIR}/kradle")));
        }
        let mut container = json!({
            "name": "agent",
            "image": self.image,
            "env": env,
            "volumeMounts": mounts,
            "securityContext": security,
        });
        if self.resources.as_object().is_some_and(|r| !r.is_empty()) {
            container["resources"] = self.resources.clone();
        }
        let mut job = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": { "name": name, "namespace": self.namespace, "labels": self.labels() },
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": self.deadline_seconds,
                "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
                "template": {
                    "metadata": { "labels": self.labels() },
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": self.service_account,
                        "securityContext": { "seccompProfile": { "type": "RuntimeDefault" } },
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
            },
        });
        if !init.is_empty() {
            job["spec"]["template"]["spec"]["initContainers"] = json!(init);
        }
        job
    }
}

/// The Launch of an attempt of `stack`.
#[allow(clippy::too_many_arguments)]
pub fn launch_of(
    stack: &Stack,
    run: &str,
    attempt: i32,
    task_kind: &str,
    repository: Option<&str>,
    git_ref: Option<&str>,
    pvc: &str,
    new_pvc: bool,
    callback_base: &str,
) -> Launch {
    Launch {
        org: stack.org.clone(),
        namespace: stack.namespace.clone(),
        run: run.to_string(),
        attempt,
        stack: stack.name.clone(),
        task_kind: task_kind.to_string(),
        repository: repository.map(str::to_string),
        git_ref: git_ref.map(str::to_string),
        service_account: stack.service_account.clone(),
        image: stack.image.clone(),
        resources: stack.resources.clone(),
        transport: stack.transport.clone(),
        deadline_seconds: stack.deadline_seconds,
        pvc: pvc.to_string(),
        new_pvc: new_pvc.then(|| (stack.storage_class.clone(), stack.capacity.clone())),
        callback_url: format!(
            "{}/api/orgs/{}/agents/runs/{run}/callback",
            callback_base.trim_end_matches('/'),
            stack.org
        ),
        context: None,
        stack_spec: stack.spec.clone(),
        gateway: None,
        provider: stack.provider.clone(),
        tools_image: None,
        clone_url: None,
    }
}
