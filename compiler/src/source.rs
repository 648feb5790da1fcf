//! Where config documents come from: a directory tree or a git revision.
//!
//! Both produce the same list of [`SourceFile`]s (paths relative to the root,
//! `/`-separated, sorted), so everything downstream — and its output — is the
//! same whether kradle reads the working tree or `--rev HEAD`.

use std::path::{Path, PathBuf};

/// Index of a file in a [`Sources`] list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub usize);

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the root, with `/` separators.
    pub path: String,
    /// The file's text; `None` when it is not valid UTF-8.
    pub text: Option<String>,
}

/// Every file kradle read, in path order.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

/// The optional project file at the root of a config repository.
pub const PROJECT_FILE: &str = "kradle.yaml";

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("{path} is not inside a git repository")]
    NotInRepository { path: PathBuf },
    #[error("revision {rev} has no folder {path}")]
    NoSuchPathAtRevision { rev: String, path: String },
}

impl Sources {
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn ids(&self) -> impl Iterator<Item = FileId> + '_ {
        (0..self.files.len()).map(FileId)
    }

    fn push(&mut self, path: String, bytes: Vec<u8>) {
        self.files.push(SourceFile {
            path,
            text: String::from_utf8(bytes).ok(),
        });
    }

    fn finish(mut self) -> Self {
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        self
    }

    /// Reads every `*.yaml`/`*.yml` below `root`, skipping hidden folders.
    pub fn from_dir(root: &Path) -> Result<Sources, SourceError> {
        let meta = std::fs::metadata(root).map_err(|source| SourceError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(SourceError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        let mut sources = Sources::default();
        let mut todo = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = todo.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|source| SourceError::Io {
                path: dir.clone(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| SourceError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let file_type = entry.file_type().map_err(|source| SourceError::Io {
                    path: path.clone(),
                    source,
                })?;
                let rel_path = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                if file_type.is_dir() {
                    if !name.starts_with('.') {
                        todo.push((path, rel_path));
                    }
                } else if is_yaml(&name) {
                    let bytes = std::fs::read(&path).map_err(|source| SourceError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    sources.push(rel_path, bytes);
                }
            }
        }
        Ok(sources.finish())
    }

    /// Reads the same files from `rev` of the git repository that holds `root`,
    /// without a checkout. Returns the sources and the commit time (seconds).
    pub fn from_git(root: &Path, rev: &str) -> Result<(Sources, i64), SourceError> {
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
        let commit = repo.revparse_single(rev)?.peel_to_commit()?;
        let mut tree = commit.tree()?;
        if !prefix.is_empty() {
            let joined = prefix.join("/");
            let entry = tree.get_path(Path::new(&joined)).map_err(|_| {
                SourceError::NoSuchPathAtRevision {
                    rev: rev.to_string(),
                    path: joined.clone(),
                }
            })?;
            tree = entry.to_object(&repo)?.peel_to_tree().map_err(|_| {
                SourceError::NoSuchPathAtRevision {
                    rev: rev.to_string(),
                    path: joined.clone(),
                }
            })?;
        }
        let mut sources = Sources::default();
        let mut todo = vec![(tree, String::new())];
        while let Some((tree, rel)) = todo.pop() {
            for entry in tree.iter() {
                let Some(name) = entry.name().map(str::to_string) else {
                    continue;
                };
                let rel_path = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                match entry.kind() {
                    Some(git2::ObjectType::Tree) if !name.starts_with('.') => {
                        todo.push((entry.to_object(&repo)?.peel_to_tree()?, rel_path));
                    }
                    Some(git2::ObjectType::Blob) if is_yaml(&name) => {
                        let blob = entry.to_object(&repo)?.peel_to_blob()?;
                        sources.push(rel_path, blob.content().to_vec());
                    }
                    _ => {}
                }
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
