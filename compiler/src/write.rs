//! Writing output folders: the one place kradle replaces files on disk.
//!
//! `kradle build --out DIR` replaces DIR whole, so a wrong DIR must never
//! cost the user data. [`check_target`] refuses, before anything is touched:
//! - a DIR that is not a folder (or is a symbolic link);
//! - a DIR that is, or contains, the config folder being compiled;
//! - a DIR that is the root of a git work tree (it holds `.git`);
//! - a DIR that exists, is not empty and is not kradle output (it has no
//!   [`OUTPUT_MARKER`]), unless the caller forces it — and never when DIR is
//!   inside the config folder, where such a folder holds config.
//!
//! A build into a folder that already holds kradle output is incremental
//! ([`write_output`]): only the files whose bytes changed are written, each
//! into a temporary file beside it that is renamed over it, and files no
//! longer produced are removed. A reader never sees a half-written file; while
//! the update runs it may see some files of the old build beside some of the
//! new. When more than half of the files change, the folder is replaced whole
//! instead, as a first build is: everything goes into a uniquely named
//! temporary sibling folder that is renamed into place, so readers see the old
//! tree or the new one, never a mix, and several writers at once (four
//! `kradle schema --out` in parallel) do not trip over each other. Temporary
//! folders and files left by a killed run are removed by the next one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::source::OUTPUT_MARKER;

/// Why an output folder was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{} is not a folder; give --out a folder (it is replaced whole)", .0.display())]
    NotAFolder(PathBuf),
    #[error(
        "{} is a symbolic link; give --out the real folder (it is replaced whole)",
        .0.display()
    )]
    Link(PathBuf),
    #[error(
        "refusing to write to {}: it holds the config folder {}, which would be deleted; write the output somewhere else (e.g. {}/rendered)",
        .out.display(), .config.display(), .config.display()
    )]
    HoldsConfig { out: PathBuf, config: PathBuf },
    #[error(
        "refusing to write to {}: it is a folder of the config {} and holds files kradle did not write, which would be deleted (even with --force); write the output into a new or empty folder",
        .out.display(), .config.display()
    )]
    InsideConfig { out: PathBuf, config: PathBuf },
    #[error(
        "refusing to write to {}: it is the root of a git work tree, which would be deleted; write the output into a folder of it",
        .0.display()
    )]
    RepositoryRoot(PathBuf),
    #[error(
        "refusing to write to {}: it is not empty and was not written by kradle (no `{OUTPUT_MARKER}` file); its content would be deleted. Pass --force to replace it anyway",
        .0.display()
    )]
    NotKradleOutput(PathBuf),
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `kradle build` writes into [`OUTPUT_MARKER`].
const MARKER_TEXT: &str = "This folder is the output of `kradle build`: the next build replaces what it holds.\nkradle never reads a folder holding this file as config.\n";

/// What a build did to its output folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Files written (new or changed).
    pub written: usize,
    /// Files left as they were: their bytes did not change.
    pub unchanged: usize,
    /// Files removed: no longer produced.
    pub removed: usize,
    /// Whether the folder was replaced whole (a first build, or most files changed).
    pub replaced: bool,
}

/// Whether `dir` holds kradle output: the marker, or the `report.json` of a
/// kradle from before the marker.
pub fn is_kradle_output(dir: &Path) -> bool {
    if dir.join(OUTPUT_MARKER).is_file() {
        return true;
    }
    std::fs::read(dir.join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| {
            ["inputs", "outputs", "digests"]
                .iter()
                .all(|k| v.get(k).is_some())
        })
}

/// `path` made absolute and free of links, for the part that exists.
fn real_path(path: &Path) -> Result<PathBuf, WriteError> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(io(path))?.join(path)
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => {
                let mut out = real;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => return Ok(abs),
            },
        }
    }
}

/// Refuses an output folder whose replacement would lose data (see the module docs).
pub fn check_target(dir: &Path, config: &Path, force: bool) -> Result<(), WriteError> {
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if meta.file_type().is_symlink() {
            return Err(WriteError::Link(dir.to_path_buf()));
        }
        if !meta.is_dir() {
            return Err(WriteError::NotAFolder(dir.to_path_buf()));
        }
    }
    let out = real_path(dir)?;
    let config_real = real_path(config)?;
    if config_real.starts_with(&out) {
        return Err(WriteError::HoldsConfig {
            out: dir.to_path_buf(),
            config: config.to_path_buf(),
        });
    }
    if !dir.exists() {
        return Ok(());
    }
    if dir.join(".git").exists() {
        return Err(WriteError::RepositoryRoot(dir.to_path_buf()));
    }
    let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
    if !empty && !is_kradle_output(dir) {
        // Inside the config folder, a foreign folder holds config: never, even forced.
        if out.starts_with(&config_real) {
            return Err(WriteError::InsideConfig {
                out: dir.to_path_buf(),
                config: config.to_path_buf(),
            });
        }
        if !force {
            return Err(WriteError::NotKradleOutput(dir.to_path_buf()));
        }
    }
    Ok(())
}

/// Makes `dir` hold exactly `files` (relative path → content) plus the
/// output marker, after [`check_target`]: in place when `dir` is kradle
/// output and at most half of the files change, else by replacing it whole.
pub fn write_output(
    dir: &Path,
    files: &BTreeMap<String, String>,
    config: &Path,
    force: bool,
) -> Result<WriteStats, WriteError> {
    check_target(dir, config, force)?;
    let (parent, stem) = split(dir);
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    remove_stale(&parent, &stem);
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) && is_kradle_output(dir) {
        let mut all = files.clone();
        all.insert(OUTPUT_MARKER.to_string(), MARKER_TEXT.to_string());
        if let Some(plan) = plan_update(dir, &all) {
            if 2 * (plan.write.len() + plan.remove.len()) <= all.len() {
                return apply_update(dir, &all, &plan);
            }
        }
    }
    let tmp = fill_temporary(&parent, &stem, files, Some((OUTPUT_MARKER, MARKER_TEXT)))?;
    swap_into_place(&tmp, dir, &parent, &stem)?;
    Ok(WriteStats {
        written: files.len() + 1,
        replaced: true,
        ..WriteStats::default()
    })
}

/// What an in-place update of an output folder does.
struct UpdatePlan {
    /// Files to write (new or changed).
    write: Vec<String>,
    /// Files to remove.
    remove: Vec<PathBuf>,
    unchanged: usize,
}

/// Compares `dir` with `files`, reading each existing file. None when the
/// folder cannot be updated in place (a folder where a file goes, a link or
/// anything else that is neither file nor folder, an unreadable entry): it
/// is then replaced whole, and nothing is ever written through a link.
fn plan_update(dir: &Path, files: &BTreeMap<String, String>) -> Option<UpdatePlan> {
    let mut existing = Vec::new();
    collect_files(dir, dir, &mut existing).ok()?;
    let mut plan = UpdatePlan {
        write: Vec::new(),
        remove: Vec::new(),
        unchanged: 0,
    };
    for (rel, contents) in files {
        let path = dir.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                let same = m.len() == contents.len() as u64
                    && std::fs::read(&path).ok()? == contents.as_bytes();
                if same {
                    plan.unchanged += 1;
                } else {
                    plan.write.push(rel.clone());
                }
            }
            Ok(_) => return None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => plan.write.push(rel.clone()),
            Err(_) => return None,
        }
    }
    for (rel, path) in existing {
        if !files.contains_key(&rel) {
            plan.remove.push(path);
        }
    }
    Some(plan)
}

/// Every file below `dir` (not following links), as (`a/b.yaml`, path).
/// Temporary files of dead runs are removed on the way and not listed.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
            continue;
        }
        // kradle writes only files and folders. A link (or a pipe, a device) in
        // the output was put there by someone else: a write below a linked
        // folder would land outside the output, so the folder is replaced whole.
        if !kind.is_file() {
            return Err(std::io::Error::other("not a file or folder"));
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = temporary_file_pid(&name) {
            if !process_alive(pid) {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .map_err(std::io::Error::other)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        out.push((rel, path));
    }
    Ok(())
}

/// The pid in the name of a temporary file `.<name>.kradle-tmp-<pid>-<n>`.
fn temporary_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.split(".kradle-tmp-").nth(1)?;
    rest.split('-').next()?.parse().ok()
}

fn apply_update(
    dir: &Path,
    files: &BTreeMap<String, String>,
    plan: &UpdatePlan,
) -> Result<WriteStats, WriteError> {
    for rel in &plan.write {
        let path = dir.join(rel);
        let folder = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(folder).map_err(io(folder))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = folder.join(format!(".{name}.kradle-tmp-{}-{n}", std::process::id()));
        let written = std::fs::write(&tmp, &files[rel]).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(source) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(WriteError::Io { path, source });
        }
    }
    let mut emptied = std::collections::BTreeSet::new();
    for path in &plan.remove {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(WriteError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
        let mut folder = path.parent();
        while let Some(f) = folder.filter(|f| *f != dir) {
            emptied.insert(f.to_path_buf());
            folder = f.parent();
        }
    }
    // Folders left empty go too, the deepest first (remove_dir refuses a non-empty one).
    for folder in emptied.iter().rev() {
        let _ = std::fs::remove_dir(folder);
    }
    Ok(WriteStats {
        written: plan.write.len(),
        unchanged: plan.unchanged,
        removed: plan.remove.len(),
        replaced: false,
    })
}

/// Replaces the subfolders of `dir` that `files` write into (e.g. `json/`,
/// `crds/`), each atomically, leaving the rest of `dir` alone.
pub fn replace_subfolders(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), WriteError> {
    if let Ok(meta) = std::fs::metadata(dir) {
        if !meta.is_dir() {
            return Err(WriteError::NotAFolder(dir.to_path_buf()));
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut by_sub: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (rel, text) in files {
        let (sub, rest) = rel.split_once('/').unwrap_or(("", rel));
        by_sub
            .entry(sub)
            .or_default()
            .insert(rest.to_string(), text.clone());
    }
    for (sub, files) in by_sub {
        if sub.is_empty() {
            for (name, text) in files {
                let path = dir.join(&name);
                std::fs::write(&path, text).map_err(io(&path))?;
            }
            continue;
        }
        let target = dir.join(sub);
        remove_stale(dir, sub);
        let tmp = fill_temporary(dir, sub, &files, None)?;
        swap_into_place(&tmp, &target, dir, sub)?;
    }
    Ok(())
}

/// The parent folder of `dir` and its last component.
fn split(dir: &Path) -> (PathBuf, String) {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let stem = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    (parent, stem)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Creates a fresh folder `.<stem>.kradle-<what>-<pid>-<n>` in `parent`.
fn unique_folder(parent: &Path, stem: &str, what: &str, create: bool) -> std::io::Result<PathBuf> {
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!(".{stem}.kradle-{what}-{}-{n}", std::process::id()));
        if !create {
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(path);
            }
            continue;
        }
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn fill_temporary(
    parent: &Path,
    stem: &str,
    files: &BTreeMap<String, String>,
    marker: Option<(&str, &str)>,
) -> Result<PathBuf, WriteError> {
    let tmp = unique_folder(parent, stem, "new", true).map_err(io(parent))?;
    let all: Vec<(&str, &str)> = files
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(marker)
        .collect();
    if let Err(e) = write_files(&tmp, &all) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(WriteError::Io {
            path: tmp,
            source: e,
        });
    }
    Ok(tmp)
}

/// Writes `files` below the fresh folder `root`: every folder first, then
/// the files, split over a few threads in path order (creating a file is
/// most of a clean build's time, and each thread keeps to its own folders).
fn write_files(root: &Path, files: &[(&str, &str)]) -> std::io::Result<()> {
    let folders: std::collections::BTreeSet<&Path> = files
        .iter()
        .filter_map(|(rel, _)| Path::new(rel).parent())
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    for folder in folders {
        std::fs::create_dir_all(root.join(folder))?;
    }
    let write = |chunk: &[(&str, &str)]| -> std::io::Result<()> {
        for (rel, contents) in chunk {
            std::fs::write(root.join(rel), contents)?;
        }
        Ok(())
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || files.len() < 512 {
        return write(files);
    }
    std::thread::scope(|s| {
        let workers: Vec<_> = files
            .chunks(files.len().div_ceil(threads))
            .map(|chunk| s.spawn(move || write(chunk)))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| std::io::Error::other("a writer thread panicked"))?
        })
    })
}

/// Renames `tmp` to `dest`, moving whatever is at `dest` aside first. Another
/// writer may put its own tree at `dest` between the two renames; then that
/// tree is moved aside too and the rename tried again.
fn swap_into_place(tmp: &Path, dest: &Path, parent: &Path, stem: &str) -> Result<(), WriteError> {
    let mut old = Vec::new();
    let mut result = Ok(());
    for _ in 0..16 {
        match std::fs::rename(tmp, dest) {
            Ok(()) => {
                result = Ok(());
                break;
            }
            Err(e) if std::fs::symlink_metadata(dest).is_ok() => {
                result = Err(e);
                let aside = match unique_folder(parent, stem, "old", false) {
                    Ok(p) => p,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                };
                match std::fs::rename(dest, &aside) {
                    Ok(()) => old.push(aside),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    for o in &old {
        let _ = std::fs::remove_dir_all(o);
    }
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(tmp);
        return Err(WriteError::Io {
            path: dest.to_path_buf(),
            source: e,
        });
    }
    Ok(())
}

/// Removes temporary folders of `stem` left by runs that no longer exist.
fn remove_stale(parent: &Path, stem: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = ["new", "old"]
            .iter()
            .find_map(|w| name.strip_prefix(&format!(".{stem}.kradle-{w}-")))
        else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !process_alive(p)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process with this id runs. Only Linux can tell (through
/// `/proc`); elsewhere every writer is assumed alive and nothing is removed.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn output_is_marked_and_replaced_whole() {
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("config");
        std::fs::create_dir(&config).unwrap();
        let out = root.path().join("out");
        write_output(
            &out,
            &files(&[("a/x.yaml", "1"), ("b.yaml", "2")]),
            &config,
            false,
        )
        .unwrap();
        assert!(out.join(OUTPUT_MARKER).is_file());
        write_output(&out, &files(&[("c.yaml", "3")]), &config, false).unwrap();
        assert!(!out.join("a").exists() && out.join("c.yaml").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("kradle-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[cfg(unix)]
    fn inode(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().ino()
    }

    #[cfg(unix)]
    #[test]
    fn a_rebuild_writes_only_what_changed_and_removes_what_is_gone() {
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("config");
        std::fs::create_dir(&config).unwrap();
        let out = root.path().join("out");
        let mut first: BTreeMap<String, String> = (0..10)
            .map(|i| (format!("orgs/o{}/f{i}.yaml", i % 3), format!("v: {i}\n")))
            .collect();
        first.insert("gone/only.yaml".into(), "x\n".into());
        let stats = write_output(&out, &first, &config, false).unwrap();
        assert!(stats.replaced);
        let kept = out.join("orgs/o2/f2.yaml");
        let before = inode(&kept);
        // A temporary file of a dead run, left inside the tree.
        std::fs::write(out.join("orgs/o1/.f1.yaml.kradle-tmp-0-7"), "half").unwrap();

        let mut second = first.clone();
        second.insert("orgs/o0/f0.yaml".into(), "v: changed\n".into());
        second.insert("orgs/o3/new.yaml".into(), "v: new\n".into());
        second.remove("gone/only.yaml");
        let stats = write_output(&out, &second, &config, false).unwrap();
        assert_eq!(
            stats,
            WriteStats {
                written: 2,
                unchanged: 10,
                removed: 1,
                replaced: false
            }
        );
        assert_eq!(inode(&kept), before, "an unchanged file is not rewritten");
        assert_eq!(
            std::fs::read_to_string(out.join("orgs/o0/f0.yaml")).unwrap(),
            "v: changed\n"
        );
        assert!(out.join("orgs/o3/new.yaml").is_file());
        assert!(!out.join("gone").exists(), "a folder left empty is removed");
        assert!(!out.join("orgs/o1/.f1.yaml.kradle-tmp-0-7").exists());
        let mut names = Vec::new();
        collect_files(&out, &out, &mut names).unwrap();
        assert_eq!(names.len(), second.len() + 1, "{names:?}");

        // The same files again: nothing is written.
        let stats = write_output(&out, &second, &config, false).unwrap();
        assert_eq!(
            (stats.written, stats.removed, stats.replaced),
            (0, 0, false)
        );

        // Most files changing: the folder is replaced whole.
        let third: BTreeMap<String, String> = second
            .keys()
            .map(|k| (k.clone(), "other\n".to_string()))
            .collect();
        assert!(write_output(&out, &third, &config, false).unwrap().replaced);
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "other\n");

        // A folder where a file now goes cannot be updated in place.
        let mut fourth = third.clone();
        fourth.remove("orgs/o3/new.yaml");
        fourth.insert("orgs/o3".into(), "now a file\n".into());
        assert!(
            write_output(&out, &fourth, &config, false)
                .unwrap()
                .replaced
        );
        assert_eq!(
            std::fs::read_to_string(out.join("orgs/o3")).unwrap(),
            "now a file\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_in_the_output_is_never_written_through() {
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("config");
        std::fs::create_dir(&config).unwrap();
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let out = root.path().join("out");
        let files: BTreeMap<String, String> = (0..10)
            .map(|i| (format!("orgs/f{i}.yaml"), format!("v: {i}\n")))
            .chain([("platform/p.yaml".to_string(), "p\n".to_string())])
            .collect();
        write_output(&out, &files, &config, false).unwrap();
        // A pull request that commits the output could turn a folder into a link.
        std::fs::remove_dir_all(out.join("platform")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("platform")).unwrap();
        let stats = write_output(&out, &files, &config, false).unwrap();
        assert!(stats.replaced);
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        assert!(
            std::fs::symlink_metadata(out.join("platform"))
                .unwrap()
                .is_dir()
        );
        assert_eq!(
            std::fs::read_to_string(out.join("platform/p.yaml")).unwrap(),
            "p\n"
        );
    }

    #[test]
    fn stale_temporaries_of_dead_runs_are_removed_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("config");
        std::fs::create_dir(&config).unwrap();
        // pid 0 never names a user process; ours is alive.
        let dead = root.path().join(".out.kradle-new-0");
        let dead_old = root.path().join(".out.kradle-old-0-3");
        let live = root
            .path()
            .join(format!(".out.kradle-new-{}-999", std::process::id()));
        for d in [&dead, &dead_old, &live] {
            std::fs::create_dir(d).unwrap();
        }
        write_output(
            &root.path().join("out"),
            &files(&[("x.yaml", "1")]),
            &config,
            false,
        )
        .unwrap();
        assert!(!dead.exists() && !dead_old.exists());
        assert!(live.exists());
    }

    #[test]
    fn legacy_output_is_recognised_by_its_report() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("report.json"),
            r#"{"inputs":{},"outputs":{},"digests":{}}"#,
        )
        .unwrap();
        assert!(is_kradle_output(dir.path()));
        std::fs::write(dir.path().join("report.json"), r#"{"something":"else"}"#).unwrap();
        assert!(!is_kradle_output(dir.path()));
    }
}
