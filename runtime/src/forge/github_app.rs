//! GitHub App authentication (spec §2.2): an RS256 JWT signed with the
//! App's private key (`iat` 60 s in the past, `exp` 9 minutes ahead, under
//! GitHub's 10-minute limit) is exchanged at
//! `POST /app/installations/{id}/access_tokens` for an installation token,
//! which is cached until 5 minutes before it expires.
//!
//! The credentials come from the binding's `credentialRef` Secret, with the
//! keys `appId`, `privateKey` (PEM) and `installationId`. Neither the key,
//! the JWT nor the token is ever printed: they are held as [`SecretValue`]s.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use tokio::sync::Mutex;

use super::http::{Bearer, Http, HttpError, RetryPolicy, TokenSource};
use crate::secrets::SecretValue;

/// A token is renewed when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// A GitHub App installation's credentials.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    pub app_id: String,
    pub private_key: SecretValue,
    pub installation_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppAuthError {
    #[error("the GitHub App private key is not an RSA key in PEM form")]
    BadKey,
    #[error("the GitHub App installation id `{0}` is not a number")]
    BadInstallation(String),
    #[error("the GitHub App token exchange failed: {0}")]
    Exchange(#[from] HttpError),
    #[error("the GitHub App token exchange answered without a token or expiry")]
    BadAnswer,
}

/// Installation tokens of one App installation, renewed when needed.
#[derive(Debug)]
pub struct AppTokens {
    endpoint: String,
    credentials: AppCredentials,
    policy: RetryPolicy,
    cached: Mutex<Option<(SecretValue, SystemTime)>>,
    /// Exchanges done (for tests and the summary).
    pub exchanges: std::sync::atomic::AtomicU64,
}

impl TokenSource for AppTokens {
    fn bearer(&self) -> Bearer<'_> {
        Box::pin(async move { Ok(self.token().await?) })
    }
}

impl AppTokens {
    /// `endpoint` is the provider's API root, e.g. `https://api.github.com`.
    pub fn new(endpoint: &str, credentials: AppCredentials, policy: RetryPolicy) -> AppTokens {
        AppTokens {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            credentials,
            policy,
            cached: Mutex::new(None),
            exchanges: Default::default(),
        }
    }

    /// The JWT that authenticates as the App, valid from 60 s ago for 9 minutes.
    pub fn app_jwt(&self, now: SystemTime) -> Result<SecretValue, AppAuthError> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let claims = serde_json::json!({
            "iat": now.saturating_sub(60),
            "exp": now + 9 * 60,
            "iss": self.credentials.app_id,
        });
        let key = EncodingKey::from_rsa_pem(self.credentials.private_key.expose().as_bytes())
            .map_err(|_| AppAuthError::BadKey)?;
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
            .map_err(|_| AppAuthError::BadKey)?;
        Ok(SecretValue::new(jwt))
    }

    /// An installation token with at least 5 minutes left: the cached one,
    /// or a new one from the exchange. (Boxed: the exchange is itself a
    /// request of the client that asks for the token.)
    pub fn token(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<SecretValue, AppAuthError>> + Send + '_>>
    {
        Box::pin(self.fetch())
    }

    async fn fetch(&self) -> Result<SecretValue, AppAuthError> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some((token, expires)) = cached.as_ref() {
            if expires.duration_since(now).unwrap_or_default() > RENEW_BEFORE {
                return Ok(token.clone());
            }
        }
        let installation = &self.credentials.installation_id;
        if installation.is_empty() || !installation.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AppAuthError::BadInstallation(installation.clone()));
        }
        let jwt = self.app_jwt(now)?;
        let http = Http::new(
            &self.endpoint,
            Some(SecretValue::new(format!("Bearer {}", jwt.expose()))),
            self.policy,
        )
        .map_err(|_| AppAuthError::BadAnswer)?;
        let answer = http
            .send(
                reqwest::Method::POST,
                &format!("/app/installations/{installation}/access_tokens"),
                None,
            )
            .await?;
        self.exchanges
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = answer.body["token"]
            .as_str()
            .ok_or(AppAuthError::BadAnswer)?;
        let expires = expiry(&answer.body).ok_or(AppAuthError::BadAnswer)?;
        let token = SecretValue::new(token);
        *cached = Some((token.clone(), expires));
        Ok(token)
    }
}

/// `expires_at` (RFC 3339) as a time.
fn expiry(body: &Value) -> Option<SystemTime> {
    let at = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str()?).ok()?;
    let secs = u64::try_from(at.timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}
