//! Forge clients made from a plan and the secrets: how `apply`, `serve`
//! and `import` reach Gitea and GitHub. The credential is read here and
//! nowhere else; what cannot be read is a typed [`NoClient`] that names the
//! provider and the Secret, never a value.

use std::sync::Arc;

use kradle_compiler::forge_plan::{Plan, Provider};

use super::gitea::Gitea;
use super::github::GitHub;
use super::github_app::{AppCredentials, AppTokens};
use super::http::{ClientError, Http, RetryPolicy};
use crate::secrets::{SecretError, SecretValue, Secrets};

/// The environment variable holding the Gitea token.
pub const GITEA_TOKEN_ENV: &str = "KRADLE_GITEA_TOKEN";

/// Why there is no client for a forge.
#[derive(Debug, thiserror::Error)]
pub enum NoClient {
    #[error(
        "no Gitea URL: give --gitea-url, set KRADLE_GITEA_HTTP_URL, or set forges.gitea.url in kradle.yaml"
    )]
    NoGiteaUrl,
    #[error("no Gitea token: set {GITEA_TOKEN_ENV}")]
    NoGiteaToken,
    #[error("the Gitea client: {0}")]
    Gitea(Box<ClientError>),
    #[error(
        "organization `{org}`: its GitHub plan names no provider credentials; bind the provider with an ExternalBackendBinding that has a credentialRef"
    )]
    NoGitHubCredentials { org: String },
    #[error(
        "organization `{org}`: the GitHub App credentials in Secret `{secret}` lack `{key}` (give it in --secrets, or appId/installationId in the provider's authConfig)"
    )]
    IncompleteApp {
        org: String,
        secret: String,
        key: &'static str,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The provider's endpoint cannot be used with its credentials.
    #[error(
        "organization `{org}`: ExternalBackendProvider `{provider}` (endpoint {endpoint}): {source}"
    )]
    Provider {
        org: String,
        provider: String,
        endpoint: String,
        source: Box<ClientError>,
    },
}

/// A Gitea client of the server at `url`, with the token of
/// `KRADLE_GITEA_TOKEN`.
pub fn gitea(url: Option<&str>) -> Result<Gitea, NoClient> {
    let url = url.ok_or(NoClient::NoGiteaUrl)?;
    let from_env = std::env::var(GITEA_TOKEN_ENV).ok();
    let token = from_env
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(NoClient::NoGiteaToken)?;
    let http = Http::new(
        &format!("{}/api/v1", url.trim_end_matches('/')),
        Some(SecretValue::new(format!("token {token}"))),
        RetryPolicy::default(),
    )
    .map_err(|e| NoClient::Gitea(Box::new(e)))?;
    Ok(Gitea::new(http))
}

/// The GitHub client of a plan: the provider's endpoint, and its binding's
/// credentials from the secrets.
pub fn github(plan: &Plan, secrets: &Secrets) -> Result<GitHub, NoClient> {
    let provider = plan
        .provider
        .as_ref()
        .ok_or_else(|| NoClient::NoGitHubCredentials {
            org: plan.org.clone(),
        })?;
    github_for(&plan.org, provider, secrets)
}

/// The GitHub client of `provider`, with the credential its `credentialRef`
/// names read from `secrets`: a token under its `key`, else a GitHub App
/// (`appId`, `installationId`, `privateKey`).
pub fn github_for(org: &str, provider: &Provider, secrets: &Secrets) -> Result<GitHub, NoClient> {
    let refused = |source: ClientError| NoClient::Provider {
        org: org.to_string(),
        provider: provider.name.clone(),
        endpoint: provider.endpoint.clone(),
        source: Box::new(source),
    };
    let credential =
        provider
            .credential_ref
            .as_ref()
            .ok_or_else(|| NoClient::NoGitHubCredentials {
                org: org.to_string(),
            })?;
    let endpoint = provider.endpoint.trim_end_matches('/');
    let policy = RetryPolicy::default();
    let (ns, name) = (credential.namespace.as_str(), credential.name.as_str());
    let http = match &credential.key {
        Some(key) => {
            let token = secrets.get(ns, name, key)?;
            let bearer = SecretValue::new(format!("Bearer {}", token.expose().trim()));
            Http::new(endpoint, Some(bearer), policy)
                .map_err(refused)?
                .github()
        }
        None => {
            let field = |key: &'static str, fallback: &Option<String>| {
                secrets
                    .get(ns, name, key)
                    .ok()
                    .map(|v| v.expose().trim().to_string())
                    .or_else(|| fallback.clone())
                    .ok_or_else(|| NoClient::IncompleteApp {
                        org: org.to_string(),
                        secret: format!("{ns}/{name}"),
                        key,
                    })
            };
            let credentials = AppCredentials {
                app_id: field("appId", &provider.app_id)?,
                installation_id: field("installationId", &provider.installation_id)?,
                private_key: secrets.get(ns, name, "privateKey")?.clone(),
            };
            super::hosts::check(endpoint).map_err(|e| refused(e.into()))?;
            let tokens = Arc::new(AppTokens::new(endpoint, credentials, policy));
            Http::new(endpoint, None, policy)
                .map_err(refused)?
                .github()
                .with_app(tokens)
        }
    };
    Ok(GitHub::new(http))
}
