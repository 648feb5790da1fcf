//! Fuzz the reader and the output writer on a real file tree: the input
//! describes entries — files, folders, symbolic links (inside and outside
//! the root, dangling, looping) and FIFOs — created in a temporary folder.
//! Reading must never follow a link out of the root, never open a FIFO and
//! never panic; `build --out` checks must never accept a target that holds
//! the config.
//!
//! Each entry is one line: `f path content`, `d path`, `l path target`,
//! `p path` (FIFO).

#![no_main]

use std::path::Path;

use chrono::{DateTime, Utc};
use kradle_compiler::{Options, Sources, validate};
use libfuzzer_sys::fuzz_target;

const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

/// A relative path kept inside `root` (no `..`, no absolute paths).
fn inside(root: &Path, p: &str) -> Option<std::path::PathBuf> {
    let clean: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .take(4)
        .collect();
    (!clean.is_empty()).then(|| root.join(clean.join("/")))
}

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let outside = dir.path().join("outside.yaml");
    let _ = std::fs::write(&outside, "SECRET_OUTSIDE: 1\n");
    let root = dir.path().join("config");
    let _ = std::fs::create_dir_all(root.join("orgs/acme"));
    let _ = std::fs::write(root.join("platform.yaml"), ORG);
    for line in String::from_utf8_lossy(data).lines().take(16) {
        let mut parts = line.splitn(3, ' ');
        let (Some(kind), Some(path)) = (parts.next(), parts.next()) else { continue };
        let Some(path) = inside(&root, path) else { continue };
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let rest = parts.next().unwrap_or("");
        match kind {
            "f" => {
                let _ = std::fs::write(&path, rest);
            }
            "d" => {
                let _ = std::fs::create_dir_all(&path);
            }
            "l" => {
                // Targets may leave the root on purpose: `/etc/passwd`, `../outside.yaml`.
                let target = if rest == "OUT" { outside.to_string_lossy().into_owned() } else { rest.to_string() };
                let _ = std::os::unix::fs::symlink(target, &path);
            }
            "p" => {
                let _ = std::process::Command::new("mkfifo").arg(&path).status();
            }
            _ => {}
        }
    }
    if let Ok(sources) = Sources::from_dir(&root) {
        for f in &sources.files {
            if let Some(text) = &f.text {
                assert!(!text.contains("SECRET_OUTSIDE"), "{} was read through a link out of the root", f.path);
                assert!(!text.contains("root:x:0:0"), "{} is /etc/passwd", f.path);
            }
        }
        let now = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let _ = validate(sources, &Options { now });
    }
    for target in [root.clone(), dir.path().to_path_buf(), root.join("orgs")] {
        assert!(kradle_compiler::write::check_target(&target, &root, true).is_err());
    }
});
