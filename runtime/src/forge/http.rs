//! HTTP to a forge: retries, rate limits and pagination, on reqwest.
//!
//! - 429, a 403 that says the rate limit is spent, and 503 are the server
//!   declining: every method waits (`Retry-After`, `x-ratelimit-reset`,
//!   else a jittered backoff) and retries.
//! - Other 5xx, timeouts and connection resets are retried for idempotent
//!   methods only. A POST that may have reached the server is never re-sent
//!   blindly (Gitea accepts the same hook twice): it fails as
//!   [`HttpError::Ambiguous`], and the caller reads the forge before deciding
//!   again.
//! - Tries and the total wait are bounded by a [`RetryPolicy`].
//! - GitHub reads are conditional: each answer's `ETag` is kept, and a
//!   `304 Not Modified` is answered from it (and costs no rate limit).
//! - A list's `Link: rel="next"` is followed only to the API's own origin:
//!   a forge answer cannot send the token elsewhere.
//! - Redirects are never followed by the HTTP library: a GET redirected
//!   within the API's own origin (GitHub's renamed repository, 301) is
//!   asked again there, at most [`MAX_REDIRECTS`] times; any other redirect
//!   (another origin, or a write, whose body would be sent again) fails the
//!   request, naming where it pointed.
//! - Answers are read streamed, up to [`Http::max_body`] bytes
//!   (`DEFAULT_MAX_BODY`): a bigger one fails the request, naming it, before
//!   it is held in memory. A body that cannot be read is a transport error
//!   (retried as one). A 2xx whose body is not JSON fails the request
//!   ([`HttpError::Invalid`]); an empty one is `null`.

mod paging;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::hosts::HostError;
use crate::secrets::SecretValue;
use paging::same_origin;

/// The most bytes of one forge answer, by default (`KRADLE_MAX_FORGE_RESPONSE` changes it).
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// The most bytes of an error answer read for its message.
const MAX_ERROR_BODY: usize = 64 << 10;

/// How many same-origin redirects one GET follows.
pub const MAX_REDIRECTS: u32 = 3;

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries of one request, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled each try, with jitter.
    pub base: Duration,
    /// Longest single wait (also caps `Retry-After`).
    pub max_wait: Duration,
    /// Longest total wait for one request.
    pub max_total: Duration,
    /// Timeout of one try.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(250),
            max_wait: Duration::from_secs(20),
            max_total: Duration::from_secs(90),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of one client, for the summary line.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub writes: AtomicU64,
    pub retries: AtomicU64,
    /// Reads answered `304 Not Modified` from a kept ETag.
    pub not_modified: AtomicU64,
}

/// A response, its body parsed as JSON (`null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    /// The forge answered with an error status.
    #[error("{method} {path}: HTTP {status}{}", message_suffix(.message))]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// A write may or may not have been applied: read the forge before
    /// deciding again.
    #[error(
        "{method} {path}: no clear answer ({reason}); the forge is read again before any retry"
    )]
    Ambiguous {
        method: String,
        path: String,
        reason: String,
    },
    /// No credentials to send (a GitHub App token exchange failed).
    #[error("{method} {path}: {reason}")]
    Auth {
        method: String,
        path: String,
        reason: String,
    },
    /// Retries ran out.
    #[error("{method} {path}: gave up after {attempts} tries: {reason}")]
    Exhausted {
        method: String,
        path: String,
        attempts: u32,
        reason: String,
    },
    /// The answer is not what a forge answers: not JSON, too big, or a
    /// redirect kradle does not follow. Not retried.
    #[error("{method} {path}: {reason}")]
    Invalid {
        method: String,
        path: String,
        reason: String,
    },
}

/// `KRADLE_MAX_FORGE_RESPONSE` (bytes, or `KiB`/`MiB`/`GiB`), else
/// [`DEFAULT_MAX_BODY`].
fn max_body_from_env() -> usize {
    std::env::var("KRADLE_MAX_FORGE_RESPONSE")
        .ok()
        .and_then(|v| parse_size(&v))
        .unwrap_or(DEFAULT_MAX_BODY)
}

/// `1048576`, `512KiB`, `64MiB`, `1GiB`.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let n: usize = digits.parse().ok()?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor).filter(|n| *n > 0)
}

/// Why an answer's body was not read.
enum Read {
    TooLarge,
    Transport(String),
}

/// The body of `resp`, read chunk by chunk, refused once it passes `max`
/// bytes (or announces more).
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, Read> {
    if resp
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > max))
    {
        return Err(Read::TooLarge);
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > max {
                    return Err(Read::TooLarge);
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(Read::Transport(format!(
                    "reading the answer: {}",
                    transport_reason(&e)
                )));
            }
        }
    }
}

/// `scheme://host:port` of a URL, for messages.
fn origin_of(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(|_| url.to_string(), |u| u.origin().ascii_serialization())
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What a request is authenticated with.
#[derive(Clone)]
enum Auth {
    None,
    /// The `Authorization` header value.
    Header(SecretValue),
    /// `Bearer` and a GitHub App installation token, renewed as needed.
    App(Arc<dyn TokenSource>),
    /// Credentials that may not go where the client points.
    Refused(HostError),
}

/// Where a client gets a bearer token that expires and is renewed (a
/// GitHub App installation, `super::github_app::AppTokens`).
pub trait TokenSource: Send + Sync {
    /// A token valid now.
    fn bearer(&self) -> Bearer<'_>;
}

/// What [`TokenSource::bearer`] answers with.
pub type Bearer<'a> = std::pin::Pin<
    Box<
        dyn Future<Output = Result<SecretValue, Box<dyn std::error::Error + Send + Sync>>>
            + Send
            + 'a,
    >,
>;

/// Why a client cannot be made, or cannot authenticate a request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Credentials may not go to this host ([`super::hosts`]).
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The token exchange failed (a GitHub App's).
    #[error("{0}")]
    Token(Box<dyn std::error::Error + Send + Sync>),
    #[error("the credentials are not a valid header value")]
    BadHeader,
}

/// How a forge's lists page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Paging {
    /// `page` and `limit`, `X-Total-Count` (Gitea).
    PageLimit,
    /// `per_page` and `Link: rel="next"` (GitHub).
    Link,
}

/// The last answer to a GET and its ETag.
type Etags = Arc<Mutex<HashMap<String, (HeaderValue, Response)>>>;

/// A forge's REST API.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    auth: Auth,
    headers: HeaderMap,
    /// Kept for conditional reads (GitHub), else `None`.
    etags: Option<Etags>,
    /// How its lists page.
    paging: Paging,
    policy: RetryPolicy,
    /// The most bytes of one answer.
    max_body: usize,
    pub stats: Arc<Stats>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").field("base", &self.base).finish()
    }
}

impl Http {
    /// A client of the API at `base` (e.g. `https://gitea.example/api/v1`),
    /// sending `auth` as the `Authorization` header value.
    pub fn new(
        base: &str,
        auth: Option<SecretValue>,
        policy: RetryPolicy,
    ) -> Result<Http, ClientError> {
        Http::with_credentials_to(base, auth.is_some())?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("kradle/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_string(),
            auth: auth.map_or(Auth::None, Auth::Header),
            headers: HeaderMap::new(),
            etags: None,
            paging: Paging::PageLimit,
            policy,
            max_body: max_body_from_env(),
            stats: Arc::default(),
        })
    }

    /// Answers over `bytes` fail their request.
    pub fn with_max_body(mut self, bytes: usize) -> Http {
        self.max_body = bytes.max(1);
        self
    }

    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// GitHub's REST API: its media type and API version on every request,
    /// and conditional reads.
    pub fn github(mut self) -> Http {
        self.headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        self.headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        self.etags = Some(Etags::default());
        self.paging = Paging::Link;
        self
    }

    /// Refuses a client that would carry credentials to a host the
    /// operator did not allow ([`super::hosts`]).
    fn with_credentials_to(base: &str, credentials: bool) -> Result<(), HostError> {
        if credentials {
            super::hosts::check(base)?;
        }
        Ok(())
    }

    /// Authenticates as a GitHub App installation.
    pub fn with_app(mut self, tokens: Arc<dyn TokenSource>) -> Http {
        if let Err(why) = Http::with_credentials_to(&self.base, true) {
            // Never sent: every request fails with the reason.
            self.auth = Auth::Refused(why);
            return self;
        }
        self.auth = Auth::App(tokens);
        self
    }

    async fn authorization(&self) -> Result<Option<HeaderValue>, ClientError> {
        let value = match &self.auth {
            Auth::None => return Ok(None),
            Auth::Header(v) => HeaderValue::from_str(v.expose()),
            Auth::Refused(why) => return Err(why.clone().into()),
            Auth::App(tokens) => {
                let token = tokens.bearer().await.map_err(ClientError::Token)?;
                HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            }
        };
        let mut value = value.map_err(|_| ClientError::BadHeader)?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request to `path` (relative to the base, or absolute),
    /// retrying as the module says.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, HttpError> {
        let idempotent = method != Method::POST && method != Method::PATCH;
        let mut url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut redirects = 0u32;
        let shown_path = path.split('?').next().unwrap_or(path).to_string();
        let err_ctx = |reason: String| (method.to_string(), shown_path.clone(), reason);
        let invalid = |reason: String| {
            let (method, path, reason) = err_ctx(reason);
            Err(HttpError::Invalid {
                method,
                path,
                reason,
            })
        };
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        'tries: loop {
            attempt += 1;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            if method != Method::GET {
                self.stats.writes.fetch_add(1, Ordering::Relaxed);
            }
            let mut req = self
                .client
                .request(method.clone(), &url)
                .headers(self.headers.clone());
            match self.authorization().await {
                Ok(Some(v)) => req = req.header(AUTHORIZATION, v),
                Ok(None) => {}
                Err(reason) => {
                    let (m, p, r) = err_ctx(reason.to_string());
                    return Err(HttpError::Auth {
                        method: m,
                        path: p,
                        reason: r,
                    });
                }
            }
            let kept = match (&self.etags, method == Method::GET) {
                (Some(etags), true) => etags.lock().ok().and_then(|e| e.get(&url).cloned()),
                _ => None,
            };
            if let Some((etag, _)) = &kept {
                req = req.header(IF_NONE_MATCH, etag.clone());
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let (retry_after, reason) = match req.send().await {
                Ok(resp) => 'answer: {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    if status == StatusCode::NOT_MODIFIED {
                        if let Some((_, kept)) = kept {
                            self.stats.not_modified.fetch_add(1, Ordering::Relaxed);
                            return Ok(kept);
                        }
                    }
                    if status.is_redirection() {
                        let target = headers
                            .get(reqwest::header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|l| reqwest::Url::parse(&url).ok()?.join(l).ok());
                        match target {
                            Some(to)
                                if method == Method::GET
                                    && redirects < MAX_REDIRECTS
                                    && same_origin(&self.base, to.as_str()) =>
                            {
                                redirects += 1;
                                url = to.to_string();
                                continue 'tries;
                            }
                            target => {
                                let to = target.map_or_else(
                                    || "nowhere".to_string(),
                                    |t| format!("{}{}", t.origin().ascii_serialization(), t.path()),
                                );
                                return invalid(format!(
                                    "HTTP {}: redirected to {to}, not followed (kradle follows only a GET redirected within {})",
                                    status.as_u16(),
                                    origin_of(&self.base)
                                ));
                            }
                        }
                    }
                    let declined = status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE
                        || (status == StatusCode::FORBIDDEN && rate_limited(&headers));
                    if declined {
                        (wait_hint(&headers), format!("HTTP {}", status.as_u16()))
                    } else if status.is_server_error() {
                        if !idempotent {
                            let (m, p, r) = err_ctx(format!("HTTP {}", status.as_u16()));
                            return Err(HttpError::Ambiguous {
                                method: m,
                                path: p,
                                reason: r,
                            });
                        }
                        (None, format!("HTTP {}", status.as_u16()))
                    } else if status.is_client_error() {
                        // The message only: a bounded read, and no message
                        // when it cannot be read.
                        let body = match read_capped(resp, MAX_ERROR_BODY).await {
                            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                            Err(_) => Value::Null,
                        };
                        return Err(HttpError::Status {
                            method: method.to_string(),
                            path: shown_path,
                            status: status.as_u16(),
                            message: forge_message(&body),
                        });
                    } else {
                        let bytes = match read_capped(resp, self.max_body).await {
                            Ok(bytes) => bytes,
                            Err(Read::TooLarge) => {
                                return invalid(format!(
                                    "the answer is larger than {} bytes (KRADLE_MAX_FORGE_RESPONSE); not read",
                                    self.max_body
                                ));
                            }
                            // Cut off, or too slow: as a transport error.
                            Err(Read::Transport(reason)) if !idempotent => {
                                let (m, p, r) = err_ctx(reason);
                                return Err(HttpError::Ambiguous {
                                    method: m,
                                    path: p,
                                    reason: r,
                                });
                            }
                            Err(Read::Transport(reason)) => break 'answer (None, reason),
                        };
                        let body: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
                            Value::Null
                        } else {
                            match serde_json::from_slice(&bytes) {
                                Ok(body) => body,
                                Err(e) => {
                                    return invalid(format!(
                                        "HTTP {} with a body that is not JSON ({e})",
                                        status.as_u16()
                                    ));
                                }
                            }
                        };
                        let response = Response {
                            status: status.as_u16(),
                            headers,
                            body,
                        };
                        if let (Some(etags), Some(etag)) =
                            (&self.etags, response.headers.get(ETAG).cloned())
                        {
                            if method == Method::GET {
                                if let Ok(mut e) = etags.lock() {
                                    e.insert(url.clone(), (etag, response.clone()));
                                }
                            }
                        }
                        return Ok(response);
                    }
                }
                Err(e) => {
                    let reason = transport_reason(&e);
                    // A request that never connected was never sent.
                    if !idempotent && !e.is_connect() {
                        let (m, p, r) = err_ctx(reason);
                        return Err(HttpError::Ambiguous {
                            method: m,
                            path: p,
                            reason: r,
                        });
                    }
                    (None, reason)
                }
            };
            let backoff = self.backoff(attempt);
            let wait = retry_after.unwrap_or(backoff).min(self.policy.max_wait);
            let out_of_time = started.elapsed() + wait > self.policy.max_total
                || waited + wait > self.policy.max_total;
            if attempt >= self.policy.max_attempts || out_of_time {
                let (m, p, r) = err_ctx(reason);
                return Err(HttpError::Exhausted {
                    method: m,
                    path: p,
                    attempts: attempt,
                    reason: r,
                });
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            waited += wait;
            tokio::time::sleep(wait).await;
        }
    }

    pub async fn get(&self, path: &str) -> Result<Response, HttpError> {
        self.send(Method::GET, path, None).await
    }

    /// `GET path`, or `None` on 404.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>, HttpError> {
        match self.get(path).await {
            Ok(r) => Ok(Some(r.body)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .policy
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        // Full jitter: anywhere between half and all of the exponential wait.
        let half = exp / 2;
        half + half.mul_f64(jitter())
    }
}

/// GitHub's "rate limit exceeded" 403: no requests left in the window.
fn rate_limited(headers: &HeaderMap) -> bool {
    headers
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        == Some("0")
        || headers.contains_key("retry-after")
}

/// How long the server asks us to wait: `Retry-After` seconds, else
/// GitHub's `x-ratelimit-reset` epoch.
fn wait_hint(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(secs) = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    let reset = header("x-ratelimit-reset")?.trim().parse::<u64>().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now) + 1))
}

/// The forge's own error message, cut and made terminal-safe: a response is
/// hostile input. GitHub's "Validation Failed" says what failed in
/// `errors` (a `message`, or a `field` and `code`): those follow it.
fn forge_message(body: &Value) -> String {
    let mut text = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let details: Vec<String> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .take(5)
        .filter_map(|e| {
            match (
                e["message"].as_str(),
                e["field"].as_str(),
                e["code"].as_str(),
            ) {
                (Some(m), _, _) => Some(m.to_string()),
                (None, Some(f), Some(c)) => Some(format!("{f} {c}")),
                _ => None,
            }
        })
        .collect();
    if !details.is_empty() {
        text = format!("{text}: {}", details.join("; "));
    }
    let cut: String = text.chars().take(200).collect();
    kradle_compiler::text::escape_controls(&cut).into_owned()
}

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the connection broke".into()
    }
}

/// A number in [0, 1), different on each call; jitter needs no more.
fn jitter() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()) << 32
                | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests;
