//! The aggregated API's callers, checked by the Kubernetes API server: a
//! TokenReview says who holds the token, then (for reads of objects) a
//! SubjectAccessReview says whether that user may `get` or `list` the
//! resource in the namespace, so the cluster's RBAC decides who reads what.
//! Discovery only needs an authenticated user, as in Kubernetes.
//!
//! Behind an APIService the API server has already authenticated the
//! caller and names them in headers (`serve::tls`): only the
//! SubjectAccessReview is left to do.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use crate::serve::access::Undecided;
use crate::serve::api::{Access, Authenticator, Decision, GROUP, VERSION, Verdict, Who};
use crate::serve::tls::{AUTHENTICATION_CONFIG_MAP, FrontProxy, RemoteUser, TlsError};

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

    /// Who holds the token, and whether they may do `access`.
    async fn review(&self, token: &str, access: &Access) -> Result<Decision, Undecided> {
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
            .map_err(|e| Undecided {
                call: "TokenReview",
                reason: without_body(&e),
            })?;
        let Some(status) = reviewed.status.filter(|s| s.authenticated == Some(true)) else {
            return Ok(Decision::Unauthenticated);
        };
        let Some(user) = status.user else {
            return Ok(Decision::Unauthenticated);
        };
        let name = user.username.clone().unwrap_or_else(|| "unknown".into());
        let allowed = self
            .access_review(
                SubjectAccessReviewSpec {
                    user: user.username,
                    groups: user.groups,
                    uid: user.uid,
                    extra: user.extra,
                    ..SubjectAccessReviewSpec::default()
                },
                access,
            )
            .await?;
        Ok(if allowed {
            Decision::Allowed(name)
        } else {
            Decision::Forbidden(name)
        })
    }

    /// Whether the subject of `spec` may do `access`: a
    /// SubjectAccessReview, except for discovery, which any authenticated
    /// user may read.
    async fn access_review(
        &self,
        mut spec: SubjectAccessReviewSpec,
        access: &Access,
    ) -> Result<bool, Undecided> {
        let Some(resource) = &access.resource else {
            return Ok(true);
        };
        spec.resource_attributes = Some(ResourceAttributes {
            group: Some(GROUP.to_string()),
            version: Some(VERSION.to_string()),
            resource: Some(resource.clone()),
            namespace: access.namespace.clone(),
            name: access.name.clone(),
            verb: Some(access.verb.to_string()),
            ..ResourceAttributes::default()
        });
        let sar = SubjectAccessReview {
            spec,
            ..SubjectAccessReview::default()
        };
        let decided = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &sar)
            .await
            .map_err(|e| Undecided {
                call: "SubjectAccessReview",
                reason: without_body(&e),
            })?;
        Ok(decided.status.is_some_and(|s| s.allowed))
    }

    /// The front proxy the API server describes in
    /// `kube-system/extension-apiserver-authentication` (readable through
    /// the Role `extension-apiserver-authentication-reader`).
    pub async fn front_proxy(&self) -> Result<FrontProxy, TlsError> {
        let (namespace, name) = AUTHENTICATION_CONFIG_MAP;
        let map = Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
            .get(name)
            .await
            .map_err(|e| {
                TlsError::Invalid(format!(
                    "cannot read {namespace}/{name}: {}",
                    without_body(&e)
                ))
            })?;
        let data = map.data.unwrap_or_default();
        FrontProxy::from_config_map(&data)
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
        Box::pin(async move {
            Ok(matches!(
                self.review(token, access).await?,
                Decision::Allowed(_)
            ))
        })
    }

    fn authorize_as<'a>(&'a self, token: &'a str, access: &'a Access) -> Who<'a> {
        Box::pin(self.review(token, access))
    }

    fn authorize_user<'a>(&'a self, user: &'a RemoteUser, access: &'a Access) -> Verdict<'a> {
        let spec = SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            uid: user.uid.clone(),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            ..SubjectAccessReviewSpec::default()
        };
        Box::pin(self.access_review(spec, access))
    }
}
