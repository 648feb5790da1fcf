//! Where config documents come from: a directory tree or a git revision.
//!
//! Both produce the same list of [`SourceFile`]s (paths relative to the root,
//! `/`-separated, sorted), so everything downstream — and its output — is the
//! same whether kradle reads the working tree or `--rev HEAD`.
//!
//! The config folder comes from a pull request, so reading it is hostile
//! ground (docs/security.md):
//! - symbolic links are followed only when they stay inside the root, so a
//!   link to `/etc/passwd` or `/proc/self/environ` is never read (its content
//!   would otherwise land in a CI log inside a diagnostic snippet);
//! - anything that is not a regular file (a FIFO, a device, a socket) is
//!   reported, never opened for reading, so it cannot hang kradle;
//! - files are read up to a size limit, and the whole input up to another;
//! - folders holding kradle's own output (the [`OUTPUT_MARKER`] file, or the
//!   `gitops.path` folder of `kradle.yaml`) are skipped and listed in
//!   [`Sources::skipped`], so a `rendered/` tree is never read back as config.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::ignore::{IGNORE_FILE, Ignore};

/// Index of a file in a [`Sources`] list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub usize);

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the root, with `/` separators.
    pub path: String,
    /// The file's text; `None` when it could not be read as text (see `problem`).
    pub text: Option<String>,
    /// Why `text` is `None`.
    pub problem: Option<FileProblem>,
}

/// Why a file's text was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// A symbolic link whose target is outside the config root (or dangling).
    LinkLeavesRoot,
    /// A FIFO, device, socket or other non-regular file.
    NotARegularFile(&'static str),
    /// Larger than the per-file limit.
    TooLarge { limit: u64 },
    /// Reading it would exceed the limit on the whole input.
    InputTooLarge { limit: u64 },
}

/// A path below the root that was deliberately not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
    /// A folder (nothing below it was read), not a file.
    pub folder: bool,
}

/// Every file kradle read, in path order.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
    /// Folders and YAML files not read, and why (printed with `--verbose`).
    pub skipped: Vec<Skipped>,
}

/// The optional project file at the root of a config repository.
pub const PROJECT_FILE: &str = "kradle.yaml";

/// The file `kradle build --out` writes at the top of its output folder.
pub const OUTPUT_MARKER: &str = ".kradle-output";

/// The default output folder inside the config repository (`gitops.path`).
pub const DEFAULT_OUTPUT_PATH: &str = "rendered";

/// Size limits on what is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest file read, in bytes.
    pub max_file_size: u64,
    /// Largest sum of all files read, in bytes.
    pub max_input_size: u64,
}

impl ReadLimits {
    /// 16 MiB per file.
    pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 << 20;
    /// 64 MiB in all.
    pub const DEFAULT_MAX_INPUT_SIZE: u64 = 64 << 20;
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_file_size: Self::DEFAULT_MAX_FILE_SIZE,
            max_input_size: Self::DEFAULT_MAX_INPUT_SIZE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("git: {}", git_message(.0))]
    Git(#[from] git2::Error),
    #[error("{path} is not inside a git repository")]
    NotInRepository { path: PathBuf },
    #[error("revision {rev} has no folder {path}")]
    NoSuchPathAtRevision { rev: String, path: String },
    #[error(
        "revision `{rev}` is not in this repository{}",
        if *.shallow {
            ": the clone is shallow, so older history is missing; fetch more (`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
        } else {
            "; check the name, or fetch it first (`git fetch origin`)"
        }
    )]
    UnknownRevision { rev: String, shallow: bool },
}

/// libgit2's message without its `; class=Reference (4); code=...` suffix.
fn git_message(e: &git2::Error) -> String {
    e.message().trim_end_matches('.').to_string()
}

/// How to read a config repository.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub limits: ReadLimits,
    /// The output folder to skip, relative to the root; default: `gitops.path`
    /// of `kradle.yaml`, else [`DEFAULT_OUTPUT_PATH`].
    pub output_path: Option<String>,
}

/// What the walk found at a path, before reading.
enum Candidate {
    Read(PathBuf),
    Problem(FileProblem),
}

impl Sources {
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn ids(&self) -> impl Iterator<Item = FileId> + '_ {
        (0..self.files.len()).map(FileId)
    }

    fn push(&mut self, path: String, bytes: Vec<u8>) {
        match String::from_utf8(bytes) {
            Ok(text) => self.files.push(SourceFile {
                path,
                text: Some(text),
                problem: None,
            }),
            Err(_) => self.push_problem(path, FileProblem::NotUtf8),
        }
    }

    fn push_problem(&mut self, path: String, problem: FileProblem) {
        self.files.push(SourceFile {
            path,
            text: None,
            problem: Some(problem),
        });
    }

    fn skip(&mut self, path: String, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            path,
            reason: reason.into(),
            folder: true,
        });
    }

    /// Records that `path` is not read because `ignore` says so; only
    /// folders (but `.git`) and YAML files are worth a line.
    fn ignored(&mut self, path: String, reason: String, folder: bool) {
        let name = path.rsplit('/').next().unwrap_or(&path);
        if (folder && name != ".git") || (!folder && is_yaml(name)) {
            self.skipped.push(Skipped {
                path,
                reason,
                folder,
            });
        }
    }

    fn finish(mut self) -> Self {
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.skipped.sort_by(|a, b| a.path.cmp(&b.path));
        self
    }

    /// Reads every `*.yaml`/`*.yml` below `root` with the default limits.
    pub fn from_dir(root: &Path) -> Result<Sources, SourceError> {
        Self::from_dir_with(root, &ReadOptions::default())
    }

    /// Reads every `*.yaml`/`*.yml` below `root`, skipping hidden folders and
    /// output folders, never leaving `root` through a symbolic link.
    pub fn from_dir_with(root: &Path, options: &ReadOptions) -> Result<Sources, SourceError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SourceError::Io { path, source }
        };
        let meta = std::fs::metadata(root).map_err(io(root))?;
        if !meta.is_dir() {
            return Err(SourceError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        let real_root = root.canonicalize().map_err(io(root))?;
        let output_path = match &options.output_path {
            Some(p) => normalize_output_path(p),
            None => {
                let project = read_small(&real_root.join(PROJECT_FILE));
                output_path_of(project.as_deref())
            }
        };

        let ignore = Ignore::new(read_small(&real_root.join(IGNORE_FILE)).as_deref());
        let mut sources = Sources::default();
        let mut candidates: Vec<(String, Candidate)> = Vec::new();
        let mut visited: BTreeSet<PathBuf> = BTreeSet::from([real_root.clone()]);
        let mut todo = vec![(real_root.clone(), String::new())];
        while let Some((dir, rel)) = todo.pop() {
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let rel_path = join_rel(&rel, &name);
                let file_type = entry.file_type().map_err(io(&path))?;
                if !file_type.is_symlink() {
                    if let Some(reason) = ignore.skips(&rel_path, file_type.is_dir()) {
                        sources.ignored(rel_path, reason, file_type.is_dir());
                        continue;
                    }
                }
                // A link is judged by where it really points; it never leaves the root.
                let (real, meta) = if file_type.is_symlink() {
                    match path.canonicalize() {
                        Ok(target) if target.starts_with(&real_root) => {
                            let meta = std::fs::metadata(&target).map_err(io(&path))?;
                            if let Some(reason) = ignore.skips(&rel_path, meta.is_dir()) {
                                sources.ignored(rel_path, reason, meta.is_dir());
                                continue;
                            }
                            (target, meta)
                        }
                        _ => {
                            if let Some(reason) = ignore.skips(&rel_path, false) {
                                sources.ignored(rel_path, reason, false);
                            } else if is_yaml(&name) {
                                candidates.push((
                                    rel_path,
                                    Candidate::Problem(FileProblem::LinkLeavesRoot),
                                ));
                            } else {
                                sources.skip(
                                    rel_path,
                                    "a symbolic link that leaves the config folder (not followed)",
                                );
                            }
                            continue;
                        }
                    }
                } else {
                    let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
                    (path, meta)
                };
                if meta.is_dir() {
                    if let Some(reason) = output_reason(&rel_path, output_path.as_deref(), || {
                        real.join(OUTPUT_MARKER).exists()
                    }) {
                        sources.skip(rel_path, reason);
                        continue;
                    }
                    // A link back to a folder already walked is walked once.
                    if visited.insert(real.clone()) {
                        todo.push((real, rel_path));
                    }
                } else if is_yaml(&name) {
                    let candidate = if meta.is_file() {
                        Candidate::Read(real)
                    } else {
                        Candidate::Problem(FileProblem::NotARegularFile(file_type_name(&meta)))
                    };
                    candidates.push((rel_path, candidate));
                }
            }
        }
        // Read in path order so the input limit cuts at the same file every time.
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        let mut budget = Budget::new(options.limits);
        for (rel, candidate) in candidates {
            let read = match candidate {
                Candidate::Problem(p) => Err(p),
                Candidate::Read(path) => {
                    read_regular(&path, options.limits.max_file_size).map_err(io(&path))?
                }
            };
            if !budget.admit(&mut sources, rel, read) {
                break;
            }
        }
        Ok(sources.finish())
    }

    /// Reads the same files from `rev` of the git repository that holds `root`,
    /// without a checkout, with the default limits.
    pub fn from_git(root: &Path, rev: &str) -> Result<(Sources, i64), SourceError> {
        Self::from_git_with(root, rev, &ReadOptions::default())
    }

    /// Reads the same files from `rev` of the git repository that holds `root`,
    /// without a checkout. Returns the sources and the commit time (seconds).
    pub fn from_git_with(
        root: &Path,
        rev: &str,
        options: &ReadOptions,
    ) -> Result<(Sources, i64), SourceError> {
        let abs = root.canonicalize().map_err(|source| SourceError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let repo = git2::Repository::discover(&abs).map_err(|_| SourceError::NotInRepository {
            path: root.to_path_buf(),
        })?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| SourceError::NotInRepository {
                path: root.to_path_buf(),
            })?
            .canonicalize()
            .map_err(|source| SourceError::Io {
                path: root.to_path_buf(),
                source,
            })?;
        let prefix = abs.strip_prefix(&workdir).unwrap_or(Path::new(""));
        let prefix: Vec<String> = prefix
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let commit = resolve_commit(&repo, rev)?;
        let mut tree = commit.tree()?;
        if !prefix.is_empty() {
            let joined = prefix.join("/");
            let missing = || SourceError::NoSuchPathAtRevision {
                rev: rev.to_string(),
                path: joined.clone(),
            };
            let entry = tree.get_path(Path::new(&joined)).map_err(|_| missing())?;
            tree = entry
                .to_object(&repo)?
                .peel_to_tree()
                .map_err(|_| missing())?;
        }
        let output_path = match &options.output_path {
            Some(p) => normalize_output_path(p),
            None => {
                let project = tree
                    .get_name(PROJECT_FILE)
                    .and_then(|e| e.to_object(&repo).ok())
                    .and_then(|o| o.peel_to_blob().ok())
                    .filter(|b| b.size() <= SMALL_FILE)
                    .and_then(|b| String::from_utf8(b.content().to_vec()).ok());
                output_path_of(project.as_deref())
            }
        };
        let ignore = Ignore::new(
            tree.get_name(IGNORE_FILE)
                .and_then(|e| e.to_object(&repo).ok())
                .and_then(|o| o.peel_to_blob().ok())
                .filter(|b| b.size() <= SMALL_FILE)
                .and_then(|b| String::from_utf8(b.content().to_vec()).ok())
                .as_deref(),
        );
        let root_tree = tree.clone();
        let mut sources = Sources::default();
        let mut visited: BTreeSet<git2::Oid> = BTreeSet::from([tree.id()]);
        let mut candidates: Vec<(String, Result<git2::Oid, FileProblem>)> = Vec::new();
        let mut todo = vec![(tree, String::new())];
        while let Some((tree, rel)) = todo.pop() {
            for entry in tree.iter() {
                let Some(name) = entry.name().map(str::to_string) else {
                    continue;
                };
                let rel_path = join_rel(&rel, &name);
                if entry.filemode() != LINK_MODE {
                    let folder = entry.kind() == Some(git2::ObjectType::Tree);
                    if let Some(reason) = ignore.skips(&rel_path, folder) {
                        sources.ignored(rel_path, reason, folder);
                        continue;
                    }
                }
                // A link is resolved inside the tree of the root, once.
                let entry = if entry.filemode() == LINK_MODE {
                    let blob = entry.to_object(&repo)?.peel_to_blob()?;
                    let target = String::from_utf8_lossy(blob.content()).into_owned();
                    match resolve_link(&rel, &target)
                        .and_then(|t| root_tree.get_path(Path::new(&t)).ok())
                    {
                        Some(e) if e.filemode() != LINK_MODE => {
                            let folder = e.kind() == Some(git2::ObjectType::Tree);
                            if let Some(reason) = ignore.skips(&rel_path, folder) {
                                sources.ignored(rel_path, reason, folder);
                                continue;
                            }
                            e
                        }
                        _ => {
                            if let Some(reason) = ignore.skips(&rel_path, false) {
                                sources.ignored(rel_path, reason, false);
                            } else if is_yaml(&name) {
                                candidates.push((rel_path, Err(FileProblem::LinkLeavesRoot)));
                            } else {
                                sources.skip(
                                    rel_path,
                                    "a symbolic link that leaves the config folder (not followed)",
                                );
                            }
                            continue;
                        }
                    }
                } else {
                    entry
                };
                match entry.kind() {
                    Some(git2::ObjectType::Tree) => {
                        let sub = entry.to_object(&repo)?.peel_to_tree()?;
                        if let Some(reason) =
                            output_reason(&rel_path, output_path.as_deref(), || {
                                sub.get_name(OUTPUT_MARKER).is_some()
                            })
                        {
                            sources.skip(rel_path, reason);
                            continue;
                        }
                        if visited.insert(sub.id()) {
                            todo.push((sub, rel_path));
                        }
                    }
                    Some(git2::ObjectType::Blob) if is_yaml(&name) => {
                        candidates.push((rel_path, Ok(entry.id())));
                    }
                    _ => {}
                }
            }
        }
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        let mut budget = Budget::new(options.limits);
        for (rel, candidate) in candidates {
            let read = match candidate {
                Ok(oid) => {
                    let blob = repo.find_blob(oid)?;
                    if blob.size() as u64 > options.limits.max_file_size {
                        Err(FileProblem::TooLarge {
                            limit: options.limits.max_file_size,
                        })
                    } else {
                        Ok(blob.content().to_vec())
                    }
                }
                Err(p) => Err(p),
            };
            if !budget.admit(&mut sources, rel, read) {
                break;
            }
        }
        Ok((sources.finish(), commit.time().seconds()))
    }

    /// Sources from in-memory files (tests, fuzzing).
    pub fn from_memory<I, P, T>(files: I) -> Sources
    where
        I: IntoIterator<Item = (P, T)>,
        P: Into<String>,
        T: Into<Vec<u8>>,
    {
        let mut sources = Sources::default();
        for (path, text) in files {
            sources.push(path.into(), text.into());
        }
        sources.finish()
    }
}

/// The limit on the whole input, as files are read in path order.
struct Budget {
    total: u64,
    limit: u64,
}

impl Budget {
    fn new(limits: ReadLimits) -> Self {
        Budget {
            total: 0,
            limit: limits.max_input_size,
        }
    }

    /// Adds a file (or its problem); `false` once the input limit is passed,
    /// when nothing more is read.
    fn admit(
        &mut self,
        sources: &mut Sources,
        rel: String,
        read: Result<Vec<u8>, FileProblem>,
    ) -> bool {
        match read {
            Err(problem) => sources.push_problem(rel, problem),
            Ok(bytes) => {
                self.total = self.total.saturating_add(bytes.len() as u64);
                if self.total > self.limit {
                    let limit = self.limit;
                    sources.push_problem(rel, FileProblem::InputTooLarge { limit });
                    return false;
                }
                sources.push(rel, bytes);
            }
        }
        true
    }
}

/// Git's file mode of a symbolic link.
const LINK_MODE: i32 = 0o120000;

/// `kradle.yaml` is read ahead of the walk only when it is small.
const SMALL_FILE: usize = 1 << 20;

/// The commit `rev` names, with an error a user can act on when it is missing.
fn resolve_commit<'r>(
    repo: &'r git2::Repository,
    rev: &str,
) -> Result<git2::Commit<'r>, SourceError> {
    let object = match repo.revparse_single(rev) {
        Ok(o) => o,
        // In a shallow clone any missing history ("parent 0 does not exist")
        // has one cause and one fix.
        Err(_) if repo.is_shallow() => {
            return Err(SourceError::UnknownRevision {
                rev: rev.to_string(),
                shallow: true,
            });
        }
        Err(e)
            if e.code() == git2::ErrorCode::NotFound
                || e.class() == git2::ErrorClass::Reference =>
        {
            return Err(SourceError::UnknownRevision {
                rev: rev.to_string(),
                shallow: false,
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(object.peel_to_commit()?)
}

fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// Why a folder is kradle output and must not be read as config.
fn output_reason(
    rel: &str,
    output_path: Option<&str>,
    has_marker: impl FnOnce() -> bool,
) -> Option<String> {
    if output_path == Some(rel) {
        return Some("the output folder (`gitops.path`); kradle never reads its own output".into());
    }
    has_marker().then(|| format!("holds `{OUTPUT_MARKER}`: the output of `kradle build`"))
}

/// `gitops.path` of a `kradle.yaml` text, else the default output folder.
fn output_path_of(project: Option<&str>) -> Option<String> {
    let configured = project.and_then(|text| {
        let (docs, _) = crate::yaml::parse(text);
        docs.first()?
            .root
            .get("gitops")?
            .get("path")?
            .as_str()
            .map(str::to_string)
    });
    normalize_output_path(configured.as_deref().unwrap_or(DEFAULT_OUTPUT_PATH))
}

/// `./rendered/` → `rendered`; nothing for the root itself or a path leaving it.
fn normalize_output_path(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The path a git link at `dir` pointing at `target` names, relative to the
/// root; `None` when it leaves the root.
fn resolve_link(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A small file's text, if it is a regular file.
fn read_small(path: &Path) -> Option<String> {
    let bytes = read_regular(path, SMALL_FILE as u64).ok()?.ok()?;
    String::from_utf8(bytes).ok()
}

/// Reads a regular file of at most `limit` bytes. Opened without following a
/// link and without blocking, then checked on the open handle, so a file
/// swapped for a FIFO after the walk is reported, not waited on.
fn read_regular(path: &Path, limit: u64) -> std::io::Result<Result<Vec<u8>, FileProblem>> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = open.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Err(FileProblem::NotARegularFile(file_type_name(&meta))));
    }
    if meta.len() > limit {
        return Ok(Err(FileProblem::TooLarge { limit }));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Err(FileProblem::TooLarge { limit }));
    }
    Ok(Ok(bytes))
}

fn file_type_name(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if meta.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// The organization a file's folder implies: `orgs/<slug>/...` → `slug`.
pub fn folder_org(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("orgs/")?;
    let (slug, tail) = rest.split_once('/')?;
    (!slug.is_empty() && !tail.is_empty()).then_some(slug)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_org_reads_the_slug() {
        assert_eq!(folder_org("orgs/acme/users.yaml"), Some("acme"));
        assert_eq!(folder_org("orgs/acme/team/a.yaml"), Some("acme"));
        assert_eq!(folder_org("orgs/users.yaml"), None);
        assert_eq!(folder_org("platform/orgs.yaml"), None);
    }

    #[test]
    fn directory_walk_skips_hidden_folders_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join("b/x.yml"), "a: 1").unwrap();
        std::fs::write(dir.path().join("a.yaml"), "a: 1").unwrap();
        std::fs::write(dir.path().join(".git/c.yaml"), "a: 1").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let s = Sources::from_dir(dir.path()).unwrap();
        let paths: Vec<_> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.yaml", "b/x.yml"]);
    }
}
