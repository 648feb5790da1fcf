//! Lists read to their last page, the way each forge pages: Gitea's
//! `page`/`limit` with `X-Total-Count`, GitHub's `Link: rel="next"` (only
//! within the API's own origin, and never for ever).

use serde_json::Value;

use super::{Http, HttpError, Paging};

impl Http {
    /// Every item of the list at `path`, read to its last page the way the
    /// forge pages.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, HttpError> {
        match self.paging {
            Paging::PageLimit => self.list_gitea(path).await,
            Paging::Link => self.list_github(path).await,
        }
    }

    /// Every item of a Gitea list: `page`/`limit` (50, Gitea's maximum),
    /// until a short page or `X-Total-Count`.
    async fn list_gitea(&self, path: &str) -> Result<Vec<Value>, HttpError> {
        const LIMIT: usize = 50;
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        for page in 1.. {
            let r = self
                .get(&format!("{path}{sep}page={page}&limit={LIMIT}"))
                .await?;
            let items = r.body.as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items);
            let total = r
                .headers
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let done = match total {
                Some(total) => out.len() >= total || n == 0,
                None => n < LIMIT,
            };
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// Every item of a GitHub list: `per_page=100`, following `Link:
    /// rel="next"`, but only within the API's own origin.
    async fn list_github(&self, path: &str) -> Result<Vec<Value>, HttpError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{sep}per_page=100"));
        let mut out = Vec::new();
        let mut pages = 0u32;
        while let Some(url) = next.take() {
            pages += 1;
            let r = self.get(&url).await?;
            out.extend(r.body.as_array().cloned().unwrap_or_default());
            let link = r
                .headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            next = match link {
                Some(link) if !same_origin(&self.base, &link) => {
                    return Err(HttpError::Status {
                        method: "GET".into(),
                        path: path.to_string(),
                        status: r.status,
                        message: "the next page is on another server; not followed".into(),
                    });
                }
                // A server that never stops paginating is not followed forever.
                Some(_) if pages >= MAX_PAGES => {
                    return Err(HttpError::Status {
                        method: "GET".into(),
                        path: path.to_string(),
                        status: r.status,
                        message: format!("more than {MAX_PAGES} pages"),
                    });
                }
                other => other,
            };
        }
        Ok(out)
    }
}

/// The most pages one list is read to (100,000 items on GitHub).
const MAX_PAGES: u32 = 1000;

/// Whether `url` is on the scheme, host and port of `base`.
pub(super) fn same_origin(base: &str, url: &str) -> bool {
    let origin = |u: &str| {
        let (scheme, rest) = u.split_once("://")?;
        let host = rest.split('/').next()?;
        Some((scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
    };
    if !url.contains("://") {
        return url.starts_with('/') && !url.starts_with("//");
    }
    matches!((origin(base), origin(url)), (Some(a), Some(b)) if a == b)
}

/// The `rel="next"` URL of a `Link` header.
pub(super) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}
