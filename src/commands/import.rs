//! `kradle import`: read a live organization into config YAML
//! (docs/import.md), then check that the result compiles.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::ValueEnum;
use kradle_compiler::source::Sources;

use kradle_runtime::forge::github::GitHub;
use kradle_runtime::forge::http::{Http, RetryPolicy};
use kradle_runtime::secrets::SecretValue;

use kradle_compiler::forge_plan::{PlanCredentialRef, Provider};
use kradle_compiler::model::org_namespace;
use kradle_runtime::import::Credential;

use super::apply::{SetupError, compile, load_secrets};
use super::render_diagnostics;
use crate::Failure;
use crate::args::Format;
use kradle_runtime::forge::clients;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ImportBackend {
    Gitea,
    Github,
}

#[derive(clap::Args)]
pub struct Args {
    /// The organization to read.
    #[arg(long, value_name = "SLUG")]
    org: String,
    /// The forge it is on.
    #[arg(long, value_enum, default_value_t = ImportBackend::Gitea)]
    backend: ImportBackend,
    /// Where to write the config (a new directory, or one without these files).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Gitea base URL (default: $KRADLE_GITEA_HTTP_URL). The token comes from $KRADLE_GITEA_TOKEN.
    #[arg(long, value_name = "URL", env = "KRADLE_GITEA_HTTP_URL")]
    gitea_url: Option<String>,
    /// GitHub API URL (GitHub Enterprise: `https://HOST/api/v3`).
    #[arg(
        long,
        value_name = "URL",
        env = "KRADLE_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    github_url: String,
    /// The Secret (of the org's namespace) holding the GitHub credential, as
    /// `NAME:KEY` for a token or `NAME` for a GitHub App. The binding import writes
    /// names it, and import reads with it from --secrets or --kube-secrets, as apply will.
    /// Without either, the token comes from $KRADLE_GITHUB_TOKEN.
    #[arg(long, value_name = "NAME[:KEY]", default_value = "github-token:token")]
    credential: String,
    /// YAML file of secret values, as for apply: `"<namespace>/<name>": {<key>: <value>}`.
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
    /// Read the credential's Secret from the cluster (in-cluster service account, or
    /// $KUBECONFIG); a --secrets file wins.
    #[arg(long)]
    kube_secrets: bool,
}

/// The environment variable holding the GitHub token `import` reads with.
const GITHUB_TOKEN_ENV: &str = "KRADLE_GITHUB_TOKEN";

pub fn run(args: Args) -> Result<u8, Failure> {
    crate::block_on(import(args))
}

async fn import(args: Args) -> Result<u8, Failure> {
    let mut err = std::io::stderr();
    let org = kradle_runtime::import::resource_name(&args.org);
    if args.backend == ImportBackend::Gitea && org != args.org {
        let _ = writeln!(
            err,
            "kradle import: `{}` is not an organization slug kradle can name (lowercase letters, digits and `-`)",
            args.org
        );
        return Ok(2);
    }
    let imported = match args.backend {
        ImportBackend::Gitea => {
            let url = args
                .gitea_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .ok_or(clients::NoClient::NoGiteaUrl)
                .map_err(SetupError::from)?;
            let gitea = clients::gitea(Some(&url)).map_err(SetupError::from)?;
            kradle_runtime::import::import_gitea(&gitea, &args.org, &url).await
        }
        ImportBackend::Github => {
            let endpoint = args.github_url.trim().trim_end_matches('/');
            let credential = match args.credential.split_once(':') {
                Some((name, key)) => Credential {
                    name: name.to_string(),
                    key: Some(key.to_string()),
                },
                None => Credential {
                    name: args.credential.clone(),
                    key: None,
                },
            };
            let github = if args.secrets.is_some() || args.kube_secrets {
                // The Secret the binding will name: the same for import and apply.
                let provider = Provider {
                    name: "github".into(),
                    endpoint: endpoint.to_string(),
                    owner: args.org.clone(),
                    credential_ref: Some(PlanCredentialRef {
                        namespace: org_namespace(&org),
                        name: credential.name.clone(),
                        key: credential.key.clone(),
                    }),
                    app_id: None,
                    installation_id: None,
                };
                let wanted = || {
                    std::collections::BTreeSet::from([(
                        org_namespace(&org),
                        credential.name.clone(),
                    )])
                };
                let secrets =
                    load_secrets(args.secrets.as_deref(), args.kube_secrets, wanted).await?;
                clients::github_for(&org, &provider, &secrets)?
            } else {
                let token = std::env::var(GITHUB_TOKEN_ENV)
                    .ok()
                    .filter(|t| !t.trim().is_empty())
                    .ok_or_else(|| {
                        SetupError::Client(format!(
                            "no GitHub credential: give --secrets (or --kube-secrets) holding Secret `{}/{}`, or set {GITHUB_TOKEN_ENV}",
                            org_namespace(&org),
                            credential.name
                        ))
                    })?;
                let http = Http::new(
                    endpoint,
                    Some(SecretValue::new(format!("Bearer {}", token.trim()))),
                    RetryPolicy::default(),
                )
                .map_err(|e| SetupError::Client(e.to_string()))?
                .github();
                GitHub::new(http)
            };
            kradle_runtime::import::import_github(&github, &args.org, endpoint, &credential).await
        }
    }
    .map_err(|e| SetupError::Forge(format!("{}: {e}", args.org)))?;

    // Never overwrite: a file already there is the user's.
    for file in imported.files.keys() {
        let path = args.out.join(file);
        if path.exists() {
            let _ = writeln!(
                err,
                "kradle import: {} exists; nothing was written (import into a new directory)",
                path.display()
            );
            return Ok(1);
        }
    }
    for (file, text) in &imported.files {
        write_new(&args.out.join(file), text)?;
    }
    for note in &imported.notes {
        let _ = writeln!(err, "note: {note}");
    }
    let _ = writeln!(
        err,
        "wrote {} resources in {} files to {}",
        imported.resources,
        imported.files.len(),
        args.out.display()
    );

    // The result must compile; if it does not, that is a bug to report.
    let sources = Sources::from_dir(&args.out)?;
    let build = compile(sources, Utc::now());
    if build.has_errors() {
        let text = render_diagnostics(&build.validation, Format::Human, false, &args.out);
        let _ = err.write_all(text.as_bytes());
        let _ = writeln!(
            err,
            "kradle import: the imported config does not validate (please report this)"
        );
        return Ok(1);
    }
    let _ = writeln!(
        err,
        "kradle build: ok. Next: `kradle apply {} --org {} --dry-run` should send nothing but what the notes say.",
        args.out.display(),
        org
    );
    Ok(0)
}

fn write_new(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
