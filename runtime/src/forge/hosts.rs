//! Where credentials may go: the operator's allow-list of forge and gateway
//! hosts (`--allow-host`, `KRADLE_ALLOWED_HOSTS`), outside the config
//! repository. A provider `endpoint` or a `gatewayUrl` comes from the
//! config, i.e. from pull requests; a token is sent only to a host the
//! operator listed (docs/security.md).
//!
//! - An entry is a host (`github.example.com`, `gitea.internal:3000`): it
//!   allows `https://` to it, on that port, or on any port when it names
//!   none (a host is trusted or not, whatever its port).
//! - `http://host[:port]` allows plain HTTP to it too; nothing else does
//!   (loopback and in-cluster service names included: the operator lists
//!   them).
//! - `api.github.com` is always allowed, and so is the Gitea URL the
//!   operator gives by flag or environment.
//!
//! The CLI installs the list once at start ([`install`]); [`check`] then
//! guards every client that carries a credential. Without an installed
//! list (the library in tests), nothing is refused.

use std::sync::OnceLock;

/// The hosts GitHub.com serves its API on.
pub const GITHUB_COM: &str = "api.github.com";

/// The environment variable of the list.
pub const ENV: &str = "KRADLE_ALLOWED_HOSTS";

/// Why a host or URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// An entry of the list that is not a host.
    #[error("`{0}` is not a host (`host[:port]`, or `http://host[:port]`)")]
    BadEntry(String),
    /// A URL that is not an HTTP(S) URL with a host.
    #[error("`{0}` is not an HTTP URL with a host")]
    BadUrl(String),
    /// A URL with `user:password@` in it.
    #[error("`{0}`: a URL with credentials in it is not used")]
    Credentials(String),
    /// A host the operator did not list.
    #[error(
        "{shown} is not an allowed host for credentials: list it as `{entry}` with --allow-host ({ENV})"
    )]
    NotAllowed {
        /// `scheme://host[:port]` asked for.
        shown: String,
        /// The entry that would allow it.
        entry: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    /// `None`: any port of the host.
    port: Option<u16>,
    http: bool,
}

/// The hosts credentials may be sent to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<Entry>,
}

impl AllowedHosts {
    /// The list of `text` (entries separated by commas or spaces), plus
    /// `api.github.com`. An entry that is not a host is an error, naming it.
    pub fn parse(text: &str) -> Result<AllowedHosts, HostError> {
        let mut out = AllowedHosts::default();
        out.add(GITHUB_COM)?;
        for entry in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            out.add(entry)?;
        }
        Ok(out)
    }

    /// Allows `entry` (`host[:port]`, `https://host[:port]` or
    /// `http://host[:port]`).
    pub fn add(&mut self, entry: &str) -> Result<(), HostError> {
        let bad = || HostError::BadEntry(entry.to_string());
        let (http, rest) = match entry.split_once("://") {
            Some(("http", rest)) => (true, rest),
            Some(("https", rest)) => (false, rest),
            Some(_) => return Err(bad()),
            None => (false, entry),
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return Err(bad());
        }
        let url = reqwest::Url::parse(&format!("https://{rest}")).map_err(|_| bad())?;
        let host = url.host_str().ok_or_else(bad)?.to_ascii_lowercase();
        self.entries.push(Entry {
            host,
            port: url.port(),
            http,
        });
        Ok(())
    }

    /// Allows the scheme, host and port of `url` (a URL the operator gave
    /// by flag or environment).
    pub fn add_url(&mut self, url: &str) -> Result<(), HostError> {
        let parsed = parse_url(url)?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        self.entries.push(Entry {
            host,
            port: parsed.port(),
            http: parsed.scheme() == "http",
        });
        Ok(())
    }

    /// Whether a credential may be sent to `url`; else why not.
    pub fn allows(&self, url: &str) -> Result<(), HostError> {
        let parsed = parse_url(url)?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = parsed.port();
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(HostError::Credentials(host));
        }
        let http = parsed.scheme() == "http";
        let listed = self
            .entries
            .iter()
            .any(|e| e.host == host && (e.port.is_none() || e.port == port) && (e.http || !http));
        if listed {
            return Ok(());
        }
        let at = match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Err(HostError::NotAllowed {
            shown: format!("{}://{at}", parsed.scheme()),
            // Plain HTTP is allowed only in its own form.
            entry: if http { format!("http://{at}") } else { at },
        })
    }
}

/// `url`, when it is an http(s) URL with a host.
fn parse_url(url: &str) -> Result<reqwest::Url, HostError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u),
        _ => Err(HostError::BadUrl(url.to_string())),
    }
}

static INSTALLED: OnceLock<AllowedHosts> = OnceLock::new();

/// Installs the process's list (the CLI does, once, at start); a second
/// call keeps the first.
pub fn install(hosts: AllowedHosts) {
    let _ = INSTALLED.set(hosts);
}

/// Whether a credential may be sent to `url` under the installed list;
/// everything may when none is installed.
pub fn check(url: &str) -> Result<(), HostError> {
    match INSTALLED.get() {
        Some(hosts) => hosts.allows(url),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_hosts_get_credentials_and_plain_http_only_when_said() {
        let hosts =
            AllowedHosts::parse("ghe.example.com, gitea.internal:3000 http://127.0.0.1:8080")
                .unwrap();
        assert!(hosts.allows("https://api.github.com/orgs/x").is_ok());
        assert!(hosts.allows("https://ghe.example.com/api/v3").is_ok());
        assert!(hosts.allows("https://GHE.example.com/api/v3").is_ok());
        assert!(hosts.allows("https://gitea.internal:3000/api/v1").is_ok());
        assert!(hosts.allows("http://127.0.0.1:8080/v1/sessions").is_ok());
        for refused in [
            "https://evil.example/api",
            "http://ghe.example.com/api/v3",
            "https://gitea.internal:3001/api/v1",
            "http://127.0.0.1:9090/",
            "https://api.github.com.evil.example/",
            "https://bob:pw@ghe.example.com/",
            "ftp://ghe.example.com/",
        ] {
            assert!(hosts.allows(refused).is_err(), "{refused}");
        }
        let why = hosts
            .allows("http://10.0.0.7:3000/x")
            .unwrap_err()
            .to_string();
        assert!(why.contains("`http://10.0.0.7:3000`"), "{why}");
        for bad in ["https://", "a/b", "x@y", "ftp://h"] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad}");
        }
    }
}
