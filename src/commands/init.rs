//! `kradle init [DIR] [--org SLUG] [--backend gitea|github]`: a new config
//! repository from the scaffold in `templates/init/`, rendered with minijinja.
//! It validates and builds as written, and never overwrites a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use kradle_compiler::model::normalize_org_slug;
use minijinja::{Environment, context};

use crate::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Gitea,
    Github,
}

#[derive(clap::Args)]
pub struct Args {
    /// The folder of the new config repository (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The organization's slug (lowercase letters, digits, `-`); default: the folder's name.
    #[arg(long, value_name = "SLUG")]
    org: Option<String>,
    /// Where the organization's repositories live.
    #[arg(long, value_enum, value_name = "BACKEND", default_value_t = Backend::Gitea)]
    backend: Backend,
}

/// The scaffold: (template, path written; `{org}` is the slug).
const FILES: &[(&str, &str, &str)] = &[
    (
        "kradle.yaml",
        "kradle.yaml",
        include_str!("../../templates/init/kradle.yaml.j2"),
    ),
    (
        "README.md",
        "README.md",
        include_str!("../../templates/init/README.md.j2"),
    ),
    (
        "platform-organizations.yaml",
        "platform/organizations.yaml",
        include_str!("../../templates/init/platform-organizations.yaml.j2"),
    ),
    (
        "org-people.yaml",
        "orgs/{org}/people.yaml",
        include_str!("../../templates/init/org-people.yaml.j2"),
    ),
    (
        "org-repositories.yaml",
        "orgs/{org}/repositories.yaml",
        include_str!("../../templates/init/org-repositories.yaml.j2"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "`{0}` is not an organization slug; use lowercase letters, digits and `-` (e.g. `{1}`)"
    )]
    BadSlug(String, String),
    #[error(
        "cannot tell the organization from the folder {}; pass --org SLUG",
        .0.display()
    )]
    NoSlug(PathBuf),
    #[error(
        "{} already exists; kradle init never overwrites a file (start in a new or empty folder)",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("the scaffold template {0} does not render: {1}")]
    Template(&'static str, String),
}

fn slug(args: &Args) -> Result<String, InitError> {
    if let Some(org) = &args.org {
        let normal = normalize_org_slug(org);
        return if &normal == org && !normal.is_empty() {
            Ok(normal)
        } else {
            Err(InitError::BadSlug(org.clone(), normal))
        };
    }
    let absolute = std::path::absolute(&args.dir).unwrap_or_else(|_| args.dir.clone());
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let normal = normalize_org_slug(&name);
    if normal.is_empty() {
        return Err(InitError::NoSlug(args.dir.clone()));
    }
    Ok(normal)
}

/// The rendered scaffold: (relative path, text).
fn render(org: &str, backend: Backend) -> Result<Vec<(String, String)>, InitError> {
    let env = Environment::new();
    let backend = match backend {
        Backend::Gitea => "gitea",
        Backend::Github => "github",
    };
    let display_name = org
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let ctx = context! { org, backend, display_name };
    FILES
        .iter()
        .map(|(name, path, source)| {
            // minijinja drops a template's last newline; a file ends with one.
            let mut text = env
                .render_str(source, &ctx)
                .map_err(|e| InitError::Template(name, e.to_string()))?;
            text.push('\n');
            Ok((path.replace("{org}", org), text))
        })
        .collect()
}

fn write_new(dir: &Path, files: &[(String, String)]) -> Result<(), Failure> {
    // Nothing is written unless every file is new.
    for (rel, _) in files {
        let path = dir.join(rel);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(InitError::Exists(path).into());
        }
    }
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // create_new: a file that appeared meanwhile is not overwritten either.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Failure::from(InitError::Exists(path.clone())),
                _ => Failure::from(e),
            })?;
        file.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// What `init` did with git.
enum Git {
    /// A new repository, with the scaffold as its first commit.
    Committed,
    /// The folder is inside an existing work tree: nothing committed.
    Inside,
}

/// Makes the new folder a git repository whose first commit is the
/// scaffold, so `kradle plan --base HEAD` works at once; inside an existing
/// work tree, it commits nothing (the user's repository, the user's
/// commits).
fn git_init(dir: &Path, files: &[(String, String)]) -> Result<Git, git2::Error> {
    if git2::Repository::discover(dir).is_ok_and(|r| r.workdir().is_some()) {
        return Ok(Git::Inside);
    }
    let repo =
        git2::Repository::init_opts(dir, git2::RepositoryInitOptions::new().initial_head("main"))?;
    let mut index = repo.index()?;
    for (rel, _) in files {
        index.add_path(Path::new(rel))?;
    }
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    // The user's own name when git knows it.
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now("kradle init", "kradle-init@localhost"))?;
    repo.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "kradle init: the scaffold",
        &tree,
        &[],
    )?;
    Ok(Git::Committed)
}

pub fn run(args: Args) -> Result<u8, Failure> {
    let org = slug(&args)?;
    let files = render(&org, args.backend)?;
    write_new(&args.dir, &files)?;
    let git = git_init(&args.dir, &files);
    let dir = args.dir.display().to_string();
    let q = if dir.contains(char::is_whitespace) {
        format!("'{dir}'")
    } else {
        dir
    };
    let mut out = std::io::stdout().lock();
    let repository = match &git {
        Ok(Git::Committed) => "a new git repository, the scaffold committed on `main`".to_string(),
        Ok(Git::Inside) => {
            "inside an existing git repository: commit the new files, then".to_string()
        }
        Err(e) => format!(
            "not a git repository ({}): `git init` and commit it, then",
            e.message()
        ),
    };
    writeln!(
        out,
        "created a kradle config repository for organization `{org}` in {q} ({} files; {repository})\n\nnext:\n  kradle validate {q}\n  kradle build {q} --out {q}/rendered\n  kradle plan {q} --base HEAD\n\nAfter an edit, the plan shows what it changes; in CI, once pushed, use `--base origin/main`.",
        files.len()
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_for_both_backends() {
        for backend in [Backend::Gitea, Backend::Github] {
            let files = render("acme-labs", backend).unwrap();
            assert_eq!(files.len(), FILES.len());
            let orgs = &files
                .iter()
                .find(|f| f.0 == "platform/organizations.yaml")
                .unwrap()
                .1;
            assert!(orgs.contains("displayName: Acme Labs"), "{orgs}");
            let repos = &files
                .iter()
                .find(|f| f.0 == "orgs/acme-labs/repositories.yaml")
                .unwrap()
                .1;
            assert_eq!(
                repos.contains("providerType: github"),
                backend == Backend::Github
            );
        }
    }
}
