//! The aggregated API's callers, checked by the Kubernetes API server: a
//! TokenReview says who holds the token, then (for reads of objects) a
//! SubjectAccessReview says whether that user may `get` or `list` the
//! resource in the namespace, so the cluster's RBAC decides who reads what.
//! Discovery only needs an authenticated user, as in Kubernetes.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::api::{Access, Authenticator, GROUP, VERSION, Verdict, Who};

/// Reviews tokens and access with the API server.
#[derive(Clone)]
pub struct ClusterReviewer {
    client: kube::Client,
}

impl std::fmt::Debug for ClusterReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterReviewer")
    }
}

impl ClusterReviewer {
    pub fn new(client: kube::Client) -> ClusterReviewer {
        ClusterReviewer { client }
    }

    /// The username the token is of, when it may do `access`.
    async fn review(&self, token: &str, access: &Access) -> Result<Option<String>, String> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            // The error names the API call, never the token.
            .map_err(|e| format!("TokenReview failed: {}", without_body(&e)))?;
        let Some(status) = reviewed.status.filter(|s| s.authenticated == Some(true)) else {
            return Ok(None);
        };
        let Some(user) = status.user else {
            return Ok(None);
        };
        let name = user.username.clone().unwrap_or_else(|| "unknown".into());
        let Some(resource) = &access.resource else {
            return Ok(Some(name));
        };
        let sar = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                resource_attributes: Some(ResourceAttributes {
                    group: Some(GROUP.to_string()),
                    version: Some(VERSION.to_string()),
                    resource: Some(resource.clone()),
                    namespace: access.namespace.clone(),
                    name: access.name.clone(),
                    verb: Some(access.verb.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let decided = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &sar)
            .await
            .map_err(|e| format!("SubjectAccessReview failed: {}", without_body(&e)))?;
        Ok(decided.status.is_some_and(|s| s.allowed).then_some(name))
    }
}

/// A kube error, said without echoing a request body.
fn without_body(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.reason, status.code),
        other => other.to_string(),
    }
}

impl Authenticator for ClusterReviewer {
    fn authorize<'a>(&'a self, token: &'a str, access: &'a Access) -> Verdict<'a> {
        Box::pin(async move { Ok(self.review(token, access).await?.is_some()) })
    }

    fn authorize_as<'a>(&'a self, token: &'a str, access: &'a Access) -> Who<'a> {
        Box::pin(self.review(token, access))
    }
}
