//! Secret values from the cluster: the Secrets a plan names, read with
//! kube-rs (the in-cluster service account, or `$KUBECONFIG` outside).
//!
//! Only the Secrets named are read, each with one `GET` by name: the
//! service account needs `get` on those Secrets, never `list`. A Secret
//! that is not there is left out (the operations that need it fail with a
//! message naming it); a Secret kradle may not read stops the run. Values
//! go straight into [`SecretValue`]s; errors name the Secret, never a value.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::secrets::{SecretValue, Secrets};

#[derive(Debug, thiserror::Error)]
pub enum ClusterSecretError {
    #[error(transparent)]
    NoCluster(#[from] super::NoCluster),
    #[error(
        "not allowed to read Secret `{namespace}/{name}` (HTTP {code}): give kradle's service account `get` on it"
    )]
    Forbidden {
        namespace: String,
        name: String,
        code: u16,
    },
    #[error("reading Secret `{namespace}/{name}` failed: {reason}")]
    Read {
        namespace: String,
        name: String,
        reason: String,
    },
    #[error("Secret `{namespace}/{name}` key `{key}` is not UTF-8 text")]
    NotText {
        namespace: String,
        name: String,
        key: String,
    },
}

/// Reads the Secrets `wanted` (namespace, name).
pub async fn from_cluster(
    client: &kube::Client,
    wanted: &BTreeSet<(String, String)>,
) -> Result<Secrets, ClusterSecretError> {
    let mut out = Secrets::default();
    for (namespace, name) in wanted {
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = match api.get_opt(name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => continue,
            Err(kube::Error::Api(status)) if status.code == 401 || status.code == 403 => {
                return Err(ClusterSecretError::Forbidden {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    code: status.code,
                });
            }
            Err(e) => {
                return Err(ClusterSecretError::Read {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    reason: short(&e),
                });
            }
        };
        for (key, bytes) in secret.data.unwrap_or_default() {
            let value = String::from_utf8(bytes.0).map_err(|_| ClusterSecretError::NotText {
                namespace: namespace.clone(),
                name: name.clone(),
                key: key.clone(),
            })?;
            out.insert(namespace, name, &key, SecretValue::new(value));
        }
    }
    Ok(out)
}

/// What went wrong, without any body the server sent back.
fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("HTTP {}: {}", status.code, status.reason),
        kube::Error::SerdeError(_) => "the answer is not a Secret".into(),
        _ => "the connection failed".into(),
    }
}
