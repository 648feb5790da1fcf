//! `--allow-host`: the operator's list of hosts kradle may send forge and
//! gateway credentials to (docs/security.md). The config repository names
//! provider endpoints and gateway URLs; this list, outside it, says which
//! of them get a token.

use kradle_runtime::forge::hosts::{self, AllowedHosts};

use super::apply::SetupError;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct HostArgs {
    /// A host forge or gateway credentials may be sent to, besides api.github.com and the
    /// --gitea-url: `host[:port]` (HTTPS only), or `http://host[:port]` to allow plain HTTP
    /// to it (loopback and in-cluster services too). Repeatable, or comma-separated in the
    /// environment variable. A provider endpoint or gateway URL of the config elsewhere is
    /// refused before any request.
    #[arg(
        long = "allow-host",
        value_name = "HOST",
        env = "KRADLE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allow_host: Vec<String>,
}

impl HostArgs {
    /// Installs the list for this process: the hosts given, api.github.com,
    /// and the operator's own URLs (`--gitea-url`).
    pub fn install(&self, operator_urls: &[Option<&str>]) -> Result<(), SetupError> {
        let mut list = AllowedHosts::parse(&self.allow_host.join(","))
            .map_err(|e| SetupError::Client(format!("--allow-host: {e}")))?;
        for url in operator_urls
            .iter()
            .flatten()
            .filter(|u| !u.trim().is_empty())
        {
            list.add_url(url.trim())
                .map_err(|e| SetupError::Client(format!("--gitea-url: {e}")))?;
        }
        hosts::install(list);
        Ok(())
    }
}
