//! Which files of a config folder are not kradle's (docs/config-layout.md,
//! "Files kradle skips").
//!
//! A config repository also holds the files of the tools around it: a
//! `.pre-commit-config.yaml`, a `.gitlab-ci.yml`, a `docker-compose.yml`.
//! They are YAML without an `apiVersion`, and reading them as config would
//! refuse every commit. So, before anything is read:
//! - hidden files and folders (a name starting with `.`) are skipped;
//! - so are the well-known files of CI systems and tools ([`TOOL_FILES`]);
//! - and whatever `.kradleignore` at the config root names, with the
//!   patterns of `.gitignore`: `#` comments, `*`, `?`, `**`, a trailing `/`
//!   for folders only, a `/` elsewhere anchoring the pattern at the root,
//!   and `!` taking a path back (the last matching line decides).
//!
//! Every skipped path is listed with its reason (`--verbose`).

/// The file at the config root holding ignore patterns.
pub const IGNORE_FILE: &str = ".kradleignore";

/// Files of other tools, skipped wherever they are. Hidden ones
/// (`.gitlab-ci.yml`, `.pre-commit-config.yaml`, `.travis.yml`) are skipped
/// as hidden files.
pub const TOOL_FILES: &[&str] = &[
    "action.yaml",
    "action.yml",
    "appveyor.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    "buf.gen.yaml",
    "buf.yaml",
    "cloudbuild.yaml",
    "codecov.yml",
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
    "mkdocs.yml",
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    "Taskfile.yaml",
    "Taskfile.yml",
];

/// One line of `.kradleignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// The pattern's segments (`**` is a segment of its own).
    segments: Vec<String>,
    /// Matched from the root only (the pattern held a `/` before its end).
    anchored: bool,
    /// Matches folders only (a trailing `/`).
    folders_only: bool,
    /// `!`: takes a path back.
    negated: bool,
    /// The line as written, for the reason.
    text: String,
}

/// The rules a config folder is read with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    /// The rules of a `.kradleignore` (`None`: there is none).
    pub fn new(kradleignore: Option<&str>) -> Ignore {
        let rules = kradleignore
            .unwrap_or_default()
            .lines()
            .filter_map(rule)
            .collect();
        Ignore { rules }
    }

    /// Why `path` (relative to the root, `/`-separated) is not read; `None`
    /// when it is. `name` is its last segment.
    pub fn skips(&self, path: &str, folder: bool) -> Option<String> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let mut decided: Option<&Rule> = None;
        for r in &self.rules {
            if (!r.folders_only || folder) && r.matches(path) {
                decided = Some(r);
            }
        }
        match decided {
            Some(r) if !r.negated => {
                return Some(format!("{IGNORE_FILE}: `{}`", r.text));
            }
            // Taken back explicitly: read even if hidden or a tool's.
            Some(_) => return None,
            None => {}
        }
        if name.starts_with('.') {
            return Some(if folder {
                "a hidden folder".into()
            } else {
                "a hidden file (not kradle's)".into()
            });
        }
        if !folder && TOOL_FILES.contains(&name) {
            return Some("another tool's file (not kradle's)".into());
        }
        None
    }
}

/// A `.kradleignore` line as a rule; `None` for blanks and comments.
fn rule(line: &str) -> Option<Rule> {
    let text = line.trim_end();
    let trimmed = text.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let (negated, pattern) = match trimmed.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let (folders_only, pattern) = match pattern.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let anchored = pattern.contains('/');
    let pattern = pattern.trim_start_matches('/');
    if pattern.is_empty() {
        return None;
    }
    Some(Rule {
        segments: pattern.split('/').map(str::to_string).collect(),
        anchored,
        folders_only,
        negated,
        text: trimmed.to_string(),
    })
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let segments: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        if self.anchored {
            return match_segments(&segments, &parts);
        }
        // Not anchored: the pattern (one segment) matches any name.
        parts
            .last()
            .is_some_and(|name| match_segments(&segments, &[name]))
    }
}

/// Whether the pattern segments match the path segments (`**` spans any
/// number of them).
fn match_segments(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_segments(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((name, more)) => glob(first, name) && match_segments(rest, more),
            None => false,
        },
    }
}

/// `*` and `?` within one segment.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_tool_files_are_skipped_and_kradle_files_are_not() {
        let none = Ignore::new(None);
        assert!(none.skips(".pre-commit-config.yaml", false).is_some());
        assert!(none.skips(".gitlab-ci.yml", false).is_some());
        assert!(none.skips("ci/.hidden.yaml", false).is_some());
        assert!(none.skips(".github", true).is_some());
        assert!(none.skips("docker-compose.yml", false).is_some());
        assert!(none.skips("tools/mkdocs.yml", false).is_some());
        assert_eq!(none.skips("orgs/acme/users.yaml", false), None);
        assert_eq!(none.skips("kradle.yaml", false), None);
        assert_eq!(none.skips("orgs", true), None);
    }

    #[test]
    fn kradleignore_patterns_follow_gitignore() {
        let ignore = Ignore::new(Some(
            "# not config\n\nhelm/\n*.draft.yaml\n/top.yaml\ndocs/**/examples/*.yaml\n!keep.draft.yaml\n!.special.yaml\n",
        ));
        assert!(ignore.skips("helm", true).is_some());
        assert_eq!(ignore.skips("helm", false), None, "folders only");
        assert!(ignore.skips("orgs/acme/x.draft.yaml", false).is_some());
        assert_eq!(ignore.skips("orgs/acme/keep.draft.yaml", false), None);
        assert!(ignore.skips("top.yaml", false).is_some());
        assert_eq!(ignore.skips("orgs/top.yaml", false), None, "anchored");
        assert!(ignore.skips("docs/examples/a.yaml", false).is_some());
        assert!(ignore.skips("docs/a/b/examples/a.yaml", false).is_some());
        assert_eq!(ignore.skips("docs/examples/sub/a.yaml", false), None);
        assert_eq!(
            ignore.skips("orgs/.special.yaml", false),
            None,
            "taken back"
        );
        assert_eq!(
            ignore.skips("x.draft.yaml", false).as_deref(),
            Some(".kradleignore: `*.draft.yaml`")
        );
    }

    #[test]
    fn globs_match_within_a_segment() {
        assert!(glob("*.yaml", "a.yaml"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("*.yaml", "a.yml"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }
}
