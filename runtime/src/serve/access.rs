//! Who may use kradle's API: a request's [`Access`] (verb, resource,
//! namespace), the [`Authenticator`] that decides it (static tokens, or the
//! cluster's TokenReview and SubjectAccessReview in `kube_auth.rs`), and the
//! answers Kubernetes gives when it says no.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::AppState;
use super::status::status;
use super::tls::RemoteUser;
use kradle_compiler::model::DATA_GROUP as GROUP;

/// What a request asks to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `get` or `list`.
    pub verb: &'static str,
    /// The plural (`issues`); `None` for discovery.
    pub resource: Option<String>,
    /// `None` across namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Access {
    pub(super) fn discovery() -> Access {
        Access {
            verb: "get",
            resource: None,
            namespace: None,
            name: None,
        }
    }
}

/// Why an [`Authenticator`] cannot decide now (the answer is then 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {reason}")]
pub struct Undecided {
    /// The review that failed (`TokenReview`, `SubjectAccessReview`).
    pub call: &'static str,
    /// The cluster's reason; never the token or a request body.
    pub reason: String,
}

/// The future an [`Authenticator`] answers with.
pub type Verdict<'a> = std::pin::Pin<Box<dyn Future<Output = Result<bool, Undecided>> + Send + 'a>>;

/// What [`Authenticator::authorize_as`] decided about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the holder's name.
    Allowed(String),
    /// The holder is known and may not do this: 403, naming them.
    Forbidden(String),
    /// Nobody known holds the token: 401.
    Unauthenticated,
}

/// The future [`Authenticator::authorize_as`] answers with.
pub type Who<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Decision, Undecided>> + Send + 'a>>;

/// Who may use the API.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Whether the holder of `token` may do `access`; `Err` when that
    /// cannot be decided now (the answer is then 503, not 401).
    fn authorize<'a>(&'a self, token: &'a str, access: &'a Access) -> Verdict<'a>;

    /// [`Authenticator::authorize`], saying who the holder is: the name an
    /// approval or a dispatch is recorded under, or the one a 403 names.
    fn authorize_as<'a>(&'a self, token: &'a str, access: &'a Access) -> Who<'a> {
        Box::pin(async move {
            Ok(if self.authorize(token, access).await? {
                Decision::Allowed("api-token".to_string())
            } else {
                Decision::Unauthenticated
            })
        })
    }

    /// Whether `user`, whom the front proxy (the Kubernetes API server)
    /// authenticated, may do `access`. Only an authenticator that asks the
    /// cluster can say; the others refuse.
    fn authorize_user<'a>(&'a self, user: &'a RemoteUser, access: &'a Access) -> Verdict<'a> {
        let _ = (user, access);
        Box::pin(async { Ok(false) })
    }
}

/// Whether `verb` only reads.
fn reads(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// Bearer tokens from files, one per line: `<token> [name]`
/// (`--api-token-file` to read, `--api-write-token-file` to act too:
/// dispatch, approve, deny, cancel). Only their sha256 is kept, and tokens
/// are compared by digest in constant time.
#[derive(Debug, Default)]
pub struct StaticTokens {
    /// (digest, name, may act).
    tokens: Vec<([u8; 32], String, bool)>,
}

impl StaticTokens {
    /// The read tokens of `text`: one per line, blank lines and `#`
    /// comments skipped.
    pub fn parse(text: &str) -> StaticTokens {
        let mut out = StaticTokens::default();
        out.add(text, false);
        out
    }

    /// Adds the tokens of `text`; `write`: they may act, not only read.
    pub fn add(&mut self, text: &str, write: bool) {
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut words = line.split_whitespace();
            let token = words.next().unwrap_or_default();
            let name = words.next().unwrap_or("api-token").to_string();
            self.tokens
                .push((Sha256::digest(token.as_bytes()).into(), name, write));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `token`'s line allows `access`, naming its holder.
    fn holder(&self, token: &str, access: &Access) -> Decision {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = Decision::Unauthenticated;
        for (known, name, write) in &self.tokens {
            let diff = known
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                if *write || reads(access.verb) {
                    found = Decision::Allowed(name.clone());
                } else if found == Decision::Unauthenticated {
                    // A read token asking to act.
                    found = Decision::Forbidden(name.clone());
                }
            }
        }
        found
    }
}

impl Authenticator for StaticTokens {
    /// A read token may read everything the API serves; a write token
    /// may act too.
    fn authorize<'a>(&'a self, token: &'a str, access: &'a Access) -> Verdict<'a> {
        let allowed = matches!(self.holder(token, access), Decision::Allowed(_));
        Box::pin(async move { Ok(allowed) })
    }

    fn authorize_as<'a>(&'a self, token: &'a str, access: &'a Access) -> Who<'a> {
        let holder = self.holder(token, access);
        Box::pin(async move { Ok(holder) })
    }
}

/// The caller's token checked, or the failure to answer.
pub(super) async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
) -> Result<(), Response> {
    authorized_as(state, headers, access).await.map(|_| ())
}

/// The caller's token checked, and who holds it; or the failure to
/// answer.
pub(super) async fn authorized_as(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
) -> Result<String, Response> {
    let Some(auth) = state.api_auth.as_ref() else {
        return Err(status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the API is not enabled: start kradle serve with --api-token-file",
        ));
    };
    // The headers survive only on the front proxy's connections
    // (`serve::believe_front_proxy`).
    if let Some(user) = state.front_proxy.as_ref().and_then(|p| p.user(headers)) {
        return match auth.authorize_user(&user, &access).await {
            Ok(true) => Ok(user.name),
            Ok(false) => Err(status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                forbidden(&user.name, &access),
            )),
            Err(why) => Err(status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("cannot check access: {why}"),
            )),
        };
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "a bearer token is required",
        ));
    };
    match auth.authorize_as(token, &access).await {
        Ok(Decision::Allowed(who)) => Ok(who),
        // As the Kubernetes API server: 403 for a known caller RBAC
        // denies, 401 only when the token names nobody.
        Ok(Decision::Forbidden(who)) => Err(status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            forbidden(&who, &access),
        )),
        Ok(Decision::Unauthenticated) => Err(status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the token is not valid",
        )),
        Err(why) => Err(status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("cannot check the token: {why}"),
        )),
    }
}

/// The message of a 403, worded as Kubernetes words it.
fn forbidden(user: &str, access: &Access) -> String {
    let what = match &access.resource {
        Some(r) => format!("{r}.{GROUP}"),
        None => "this API".to_string(),
    };
    let scope = match &access.namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".to_string(),
    };
    format!(
        "{what} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{GROUP}\"{scope}",
        access.verb,
        access.resource.as_deref().unwrap_or("")
    )
}
