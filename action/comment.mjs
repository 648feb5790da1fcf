// Posts the kradle plan as one pull-request comment, or updates the one posted before:
// never a second one. Used by the composite action (action.yml); no dependencies
// (Node 20's fetch).
//
// Environment:
//   GITHUB_TOKEN          token that may write pull-request comments
//   GITHUB_API_URL        default https://api.github.com (GitHub Enterprise: its API URL)
//   GITHUB_REPOSITORY     owner/repo
//   KRADLE_PR             the pull request's number
//   KRADLE_COMMENT_FILE   the Markdown of `kradle plan --format markdown`
//   KRADLE_COMMENT_AUTHOR login whose comments are ours (default: any bot account, as
//                         github-actions[bot] is with the workflow's GITHUB_TOKEN)
//
// The comment is found by its first line, the marker `kradle plan` writes. Comments of
// other authors are never edited, even when they start with the marker. Extra copies
// (left by two runs racing) are deleted. The body is never longer than 65,536
// characters, GitHub's limit and the one `kradle plan` keeps.

import { readFileSync } from "node:fs";

const MARKER = "<!-- kradle-plan -->";
const LIMIT = 65536;
const NOTICE = "\n\n> [!NOTE]\n> The plan was cut to fit GitHub's 65,536 characters; run `kradle plan` for all of it.\n";

function need(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`comment.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const token = need("GITHUB_TOKEN");
const api = (process.env.GITHUB_API_URL || "https://api.github.com").replace(/\/+$/, "");
const repository = need("GITHUB_REPOSITORY");
const pr = need("KRADLE_PR");
const author = process.env.KRADLE_COMMENT_AUTHOR || "";
if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository) || !/^[0-9]+$/.test(pr)) {
  console.error("comment.mjs: GITHUB_REPOSITORY must be owner/repo and KRADLE_PR a number");
  process.exit(2);
}

/** The body to post: starts with the marker, at most LIMIT characters (code points). */
function commentBody(text) {
  let body = text.startsWith(MARKER) ? text : `${MARKER}\n${text}`;
  const chars = Array.from(body);
  if (chars.length > LIMIT) {
    body = chars.slice(0, LIMIT - Array.from(NOTICE).length).join("") + NOTICE;
  }
  return body;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One API call; 429, 5xx and connection failures are retried (Retry-After is honoured). */
async function call(method, url, body) {
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: "application/vnd.github+json",
          "X-GitHub-Api-Version": "2022-11-28",
          "User-Agent": "kradle-action",
          ...(body ? { "Content-Type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      if (attempt >= 4) throw new Error(`${method} ${url}: ${error.message}`);
      await sleep(250 * 2 ** attempt);
      continue;
    }
    if ((response.status === 429 || response.status >= 500) && attempt < 4) {
      const after = Number(response.headers.get("retry-after"));
      await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 60) * 1000 : 250 * 2 ** attempt);
      continue;
    }
    if (!response.ok) {
      // The answer's message only: never the token, never the request.
      let message = "";
      try {
        message = (await response.json()).message || "";
      } catch {}
      const error = new Error(`${method} ${new URL(url).pathname}: ${response.status} ${message}`.trim());
      error.status = response.status;
      throw error;
    }
    return response;
  }
}

function nextLink(response) {
  const link = response.headers.get("link") || "";
  const match = link.split(",").map((part) => part.match(/<([^>]+)>\s*;\s*rel="next"/)).find(Boolean);
  if (!match) return null;
  const next = new URL(match[1]);
  // Follow pages of the same API only.
  return next.origin === new URL(api).origin ? next.toString() : null;
}

function ours(comment) {
  if (typeof comment.body !== "string" || !comment.body.startsWith(MARKER)) return false;
  const user = comment.user || {};
  return author ? user.login === author : user.type === "Bot";
}

async function main() {
  const body = commentBody(readFileSync(need("KRADLE_COMMENT_FILE"), "utf8"));
  const base = `${api}/repos/${repository}/issues`;
  const found = [];
  let url = `${base}/${pr}/comments?per_page=100`;
  for (let pages = 0; url && pages < 100; pages++) {
    const response = await call("GET", url);
    const comments = await response.json();
    if (!Array.isArray(comments)) throw new Error("the comments listing is not a list");
    found.push(...comments.filter(ours));
    url = nextLink(response);
  }
  found.sort((a, b) => a.id - b.id);
  const [keep, ...extra] = found;
  if (keep) {
    if (keep.body !== body) {
      await call("PATCH", `${base}/comments/${keep.id}`, { body });
      console.log(`updated comment ${keep.id}`);
    } else {
      console.log(`comment ${keep.id} is up to date`);
    }
  } else {
    const created = await (await call("POST", `${base}/${pr}/comments`, { body })).json();
    console.log(`created comment ${created.id}`);
  }
  for (const comment of extra) {
    await call("DELETE", `${base}/comments/${comment.id}`);
    console.log(`deleted duplicate comment ${comment.id}`);
  }
}

main().catch((error) => {
  if (error.status === 403) {
    // A pull request from a fork runs with a read-only token: the plan cannot be
    // posted, and that is not the change's fault. Say so, and how to get it.
    console.log(
      `::warning::kradle could not post the plan comment (${error.message}): the token cannot ` +
        "write pull-request comments. Pull requests from forks get a read-only GITHUB_TOKEN; " +
        "grant `pull-requests: write` to the job, or post from a `pull_request_target` or " +
        "`workflow_run` workflow. The plan is in the step log above.",
    );
    process.exit(0);
  }
  console.error(`comment.mjs: ${error.message}`);
  process.exit(1);
});
