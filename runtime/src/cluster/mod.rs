//! The Kubernetes adapter: every call kradle makes to a cluster's API,
//! through kube-rs, is in this module (a layering test holds it).
//!
//! - [`jobs`]: agent Jobs, their Secrets and PVCs (dispatch's Kubernetes
//!   backend);
//! - [`secrets`]: the Secrets a plan names, read one by one;
//! - [`reviews`]: TokenReview and SubjectAccessReview for the aggregated
//!   API, and the front proxy's CA.
//!
//! The in-cluster service account is used, or `$KUBECONFIG` outside.

pub mod jobs;
pub mod reviews;
pub mod secrets;

/// No cluster to talk to.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the Kubernetes API: {0}")]
pub struct NoCluster(pub String);

/// A client of the cluster kradle runs in (or `$KUBECONFIG`'s).
pub async fn client() -> Result<kube::Client, NoCluster> {
    kube::Client::try_default()
        .await
        .map_err(|e| NoCluster(e.to_string()))
}
