//! `invalid-url` (KR511): URLs the runtime will call; `plain-http-credentials`
//! (KR522): those it sends a token to, over plain HTTP.
//!
//! What it checks: webhook, provider, gateway, MCP server and auth provider
//! URLs, and a trigger's webhook URL, are absolute http(s) URLs with a host
//! and no whitespace.
//!
//! Why: the runtime dials these URLs; a relative URL or another scheme
//! fails at run time, far from the line that caused it.
//!
//! Example:
//! ```yaml
//! kind: WebhookSubscription
//! spec: { url: "hooks.example.com/in" }   # KR511: no scheme
//! ```

use crate::diagnostics::Code;

use super::Ctx;

impl Ctx<'_, '_> {
    pub(super) fn opt_url(&mut self, pointer: &str, url: &Option<String>) {
        if let Some(u) = url {
            self.url(pointer, u);
        }
    }

    /// A URL kradle sends credentials to: valid, and plain HTTP is a warning.
    pub(super) fn credential_url(&mut self, pointer: &str, url: &str) {
        self.url(pointer, url);
        if url.starts_with("http://") {
            self.err(
                Code::PlainHttpCredentials,
                pointer,
                &format!(
                    "`{}` is plain HTTP: the token kradle sends there crosses the network in the clear",
                    url.chars().take(80).collect::<String>()
                ),
                "use https://; for an in-cluster service, the runtime's operator allows it with `--allow-host http://HOST`",
            );
        }
    }

    pub(super) fn url(&mut self, pointer: &str, url: &str) {
        if !is_http_url(url) {
            self.err(
                Code::InvalidUrl,
                pointer,
                &format!(
                    "`{}` is not an absolute http(s) URL",
                    url.chars().take(80).collect::<String>()
                ),
                "use e.g. `https://host.example.com/path`",
            );
        }
    }
}

pub fn is_http_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && !u.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_http_url;

    #[test]
    fn urls() {
        assert!(is_http_url("https://a.example.com/x"));
        assert!(is_http_url("http://localhost:8080"));
        assert!(!is_http_url("ftp://a"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("https://a b"));
        assert!(!is_http_url("example.com"));
    }
}
