//! GitHub App authentication against a fake token endpoint that verifies
//! the JWT with the App's public key, as GitHub does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kradle_test_support as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kradle_runtime::forge::github_app::{AppAuthError, AppCredentials, AppTokens};
use kradle_runtime::forge::http::RetryPolicy;
use kradle_runtime::secrets::SecretValue;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use serde_json::json;
use support::upstream::Api;

const APP_ID: &str = "123456";

struct Github {
    public_pem: String,
    /// Lifetime of the tokens it hands out.
    lifetime: Mutex<Duration>,
    issued: AtomicU64,
    problems: Mutex<Vec<String>>,
    api: Api,
}

async fn access_tokens(
    State(gh): State<Arc<Github>>,
    Path(installation): Path<String>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let path = format!("/app/installations/{installation}/access_tokens");
    if let Err(e) = gh.api.check("POST", &path, None) {
        gh.problems.lock().unwrap().push(e);
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(jwt) = auth.strip_prefix("Bearer ") else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "message": "no JWT" })),
        );
    };
    let key = DecodingKey::from_rsa_pem(gh.public_pem.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[APP_ID]);
    let claims = match jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            gh.problems
                .lock()
                .unwrap()
                .push(format!("JWT refused: {e}"));
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "message": "bad JWT" })),
            );
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    if !(iat <= now - 59 && exp - iat <= 600 && exp > now) {
        gh.problems
            .lock()
            .unwrap()
            .push(format!("iat {iat} exp {exp} now {now}"));
    }
    let n = gh.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let lifetime = *gh.lifetime.lock().unwrap();
    let expires = chrono::Utc::now() + chrono::Duration::from_std(lifetime).unwrap();
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "token": format!("ghs_installation_token_{n}"),
            "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })),
    )
}

struct Env {
    gh: Arc<Github>,
    url: String,
    private_pem: String,
}

async fn env() -> Env {
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let private_pem = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let public_pem = rsa::RsaPublicKey::from(&key)
        .to_pkcs1_pem(LineEnding::LF)
        .unwrap();
    let gh = Arc::new(Github {
        public_pem,
        lifetime: Mutex::new(Duration::from_secs(3600)),
        issued: AtomicU64::new(0),
        problems: Mutex::default(),
        api: Api::github(),
    });
    let app = Router::new()
        .route(
            "/app/installations/{installation}/access_tokens",
            axum::routing::post(access_tokens),
        )
        .with_state(gh.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Env {
        gh,
        url,
        private_pem,
    }
}

fn tokens(env: &Env, key: &str, installation: &str) -> AppTokens {
    AppTokens::new(
        &env.url,
        AppCredentials {
            app_id: APP_ID.into(),
            private_key: SecretValue::new(key),
            installation_id: installation.into(),
        },
        RetryPolicy::default(),
    )
}

#[tokio::test]
async fn the_app_jwt_is_exchanged_once_and_the_token_cached() {
    let env = env().await;
    let app = tokens(&env, &env.private_pem, "42");
    let first = app.token().await.unwrap();
    let second = app.token().await.unwrap();
    assert_eq!(first.expose(), "ghs_installation_token_1");
    assert_eq!(
        second.expose(),
        first.expose(),
        "cached until near its expiry"
    );
    assert_eq!(env.gh.issued.load(Ordering::SeqCst), 1);
    assert!(
        env.gh.problems.lock().unwrap().is_empty(),
        "{:?}",
        env.gh.problems
    );
    assert_eq!(format!("{first:?}"), "***");
}

#[tokio::test]
async fn a_token_near_its_expiry_is_renewed() {
    let env = env().await;
    // Tokens that live 4 minutes are always inside the 5-minute margin.
    *env.gh.lifetime.lock().unwrap() = Duration::from_secs(240);
    let app = tokens(&env, &env.private_pem, "42");
    let first = app.token().await.unwrap();
    let second = app.token().await.unwrap();
    assert_ne!(first.expose(), second.expose());
    assert_eq!(env.gh.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bad_credentials_are_refused_without_printing_them() {
    let env = env().await;
    let app = tokens(
        &env,
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n",
        "42",
    );
    let err = app.token().await.unwrap_err();
    assert!(matches!(err, AppAuthError::BadKey), "{err}");
    assert!(!err.to_string().contains("bm90IGEga2V5"));
    let app = tokens(&env, &env.private_pem, "42/../../x");
    assert!(matches!(
        app.token().await.unwrap_err(),
        AppAuthError::BadInstallation(_)
    ));
    assert_eq!(env.gh.issued.load(Ordering::SeqCst), 0);
}
