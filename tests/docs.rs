//! The documentation a user reads links only to what the repository ships:
//! every relative link of README.md and docs/ names a file that exists, and
//! none leaves the repository (the behaviour spec beside it in development
//! is not shipped).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Component, Path, PathBuf};

/// The Markdown files a user reads.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join("README.md"), root.join("action/README.md")];
    let mut stack = vec![root.join("docs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.retain(|p| p.exists());
    out.sort();
    out
}

/// The targets of the inline links `[text](target)` of `text`, outside
/// fenced code blocks, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n + 1, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// `path` with `.` and `..` folded, without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn documentation_links_resolve_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages(root) {
        let text = std::fs::read_to_string(&page).unwrap();
        for (line, target) in links(&text) {
            let target = target.split_whitespace().next().unwrap_or_default();
            if target.is_empty()
                || target.starts_with('#')
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let file = target.split('#').next().unwrap_or_default();
            let resolved = normalize(&page.parent().unwrap().join(file));
            let at = format!(
                "{}:{line}: {target}",
                page.strip_prefix(root).unwrap().display()
            );
            if !resolved.starts_with(root) {
                broken.push(format!("{at} (leaves the repository)"));
            } else if !resolved.exists() {
                broken.push(format!("{at} (no such file)"));
            }
        }
    }
    assert!(checked > 20, "the link reader found only {checked} links");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn a_link_that_leaves_the_repository_is_found() {
    let found = links("See [the spec](../../shared/spec/x.md) and [a](b.md#c).\n```\n[no](x)\n```");
    assert_eq!(
        found,
        [
            (1, "../../shared/spec/x.md".to_string()),
            (1, "b.md#c".to_string())
        ]
    );
    let root = Path::new("/repo");
    assert!(!normalize(&root.join("docs/../../shared/x.md")).starts_with(root));
}
