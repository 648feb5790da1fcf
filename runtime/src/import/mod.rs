//! `kradle import`: read a live organization into config YAML, so a team
//! can adopt kradle on the forge it already has (docs/import.md).
//!
//! What is read becomes the kinds `kradle apply` converges: Repositories,
//! the Users that teams and collaborators name, Teams with their grants,
//! RepositoryPermissions for collaborators, deploy SSHKeys,
//! BranchProtections (and a RefPolicy where a rule requires signed
//! commits) and WebhookSubscriptions. Hooks get a `secretRef` to a Secret
//! the user fills in: no forge shows a hook's secret, and kradle never
//! writes a secret value anyway.
//!
//! The result is shaped so that `kradle apply` right after it sends nothing
//! on an organization kradle could have written. Where the forge holds
//! something the config cannot say, the import says so in its notes: those
//! are what the first apply changes, or leaves alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::names::org_namespace;
use kradle_compiler::emit::to_yaml;

mod gitea;
mod github;

pub use gitea::import_gitea;
pub use github::{Credential, import_github};

/// The files of an import (paths relative to the output directory) and
/// what the user should know.
#[derive(Debug, Default)]
pub struct Imported {
    pub files: BTreeMap<String, String>,
    pub notes: Vec<String>,
    /// Resources written.
    pub resources: usize,
}

const API_VERSION: &str = "kradle.a5c.ai/v1alpha1";

/// A resource name from a forge name: lowercase letters, digits and `-`.
pub fn resource_name(forge: &str) -> String {
    let mut out = String::new();
    for c in forge.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "x".into() } else { out }
}

/// Names given so far per kind, so two forge names that sanitize alike
/// stay apart.
#[derive(Default)]
struct Names(BTreeMap<&'static str, BTreeSet<String>>);

impl Names {
    fn unique(&mut self, kind: &'static str, wanted: &str) -> String {
        let taken = self.0.entry(kind).or_default();
        let base = resource_name(wanted);
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

fn resource(kind: &str, name: &str, spec: Value) -> Value {
    json!({ "apiVersion": API_VERSION, "kind": kind, "metadata": { "name": name }, "spec": spec })
}

fn document(header: &str, resources: &[Value]) -> String {
    let mut out = format!("# {header}\n");
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(r));
    }
    out
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// An import being written: resources per file, names given, users named.
struct Draft {
    out: Imported,
    names: Names,
    header: String,
    /// The org's namespace, where the Secrets the config names live.
    namespace: String,
    org: String,
    /// Forge login → User resource name, for everyone something names.
    users: BTreeMap<String, String>,
    files: BTreeMap<&'static str, Vec<Value>>,
}

/// The files of an organization's directory, in the order they are written.
const FILES: [&str; 8] = [
    "users.yaml",
    "repositories.yaml",
    "teams.yaml",
    "collaborators.yaml",
    "keys.yaml",
    "protections.yaml",
    "webhooks.yaml",
    "backend.yaml",
];

impl Draft {
    fn new(org: &str, source: &str) -> Draft {
        Draft {
            out: Imported::default(),
            names: Names::default(),
            header: format!("Imported from {source}, organization `{org}`, by kradle import."),
            namespace: org_namespace(org),
            org: org.to_string(),
            users: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    fn note(&mut self, note: String) {
        self.out.notes.push(note);
    }

    fn unique(&mut self, kind: &'static str, wanted: &str) -> String {
        self.names.unique(kind, wanted)
    }

    /// The User resource name of forge login `login`.
    fn user(&mut self, login: &str) -> String {
        if let Some(name) = self.users.get(login) {
            return name.clone();
        }
        let name = self.names.unique("User", login);
        self.users.insert(login.to_string(), name.clone());
        name
    }

    /// Adds a resource to `file` (one of [`FILES`]).
    fn add(&mut self, file: &'static str, kind: &str, name: &str, spec: Value) {
        debug_assert!(FILES.contains(&file));
        self.files
            .entry(file)
            .or_default()
            .push(resource(kind, name, spec));
    }

    /// The Organization resource, in `platform/`.
    fn organization(&mut self, display: &str, visibility: &str) {
        let display = if display.is_empty() {
            self.org.clone()
        } else {
            display.to_string()
        };
        let doc = resource(
            "Organization",
            &self.org,
            json!({ "displayName": display, "namespaceName": self.namespace, "visibility": visibility }),
        );
        self.out.files.insert(
            format!("platform/organization-{}.yaml", self.org),
            document(&self.header, &[doc]),
        );
        self.out.resources += 1;
    }

    /// The User resource of `login`, from what the forge shows of it.
    fn user_resource(&mut self, login: &str, display: &str, email: &str) {
        let name = self.user(login);
        let display = if display.is_empty() { login } else { display };
        let email = if email.contains('@') {
            email.to_string()
        } else {
            self.note(format!(
                "user `{login}`: the forge did not show an email; `{login}@users.invalid` stands in: fill in the real one"
            ));
            format!("{login}@users.invalid")
        };
        self.add(
            "users.yaml",
            "User",
            &name,
            json!({ "displayName": display, "email": email, "username": login }),
        );
    }

    /// A RepositoryPermission of `login` on `repo`.
    fn collaborator(&mut self, repo: &str, login: &str, permission: &str) {
        let subject = self.user(login);
        let name = self.unique("RepositoryPermission", &format!("{repo}-{login}"));
        self.add(
            "collaborators.yaml",
            "RepositoryPermission",
            &name,
            json!({ "repository": repo, "subject": subject, "permission": permission }),
        );
    }

    /// An SSHKey for deploy key `k` (`title`, `key`, `read_only`) of `repo`.
    fn deploy_key(&mut self, repo: &str, k: &Value) {
        let title = text(&k["title"]);
        let name = self.unique("SSHKey", &format!("{repo}-{title}"));
        self.add(
            "keys.yaml",
            "SSHKey",
            &name,
            json!({
                "scope": "deploy",
                "repository": repo,
                "key": text(&k["key"]).trim(),
                "title": title,
                "readOnly": k["read_only"] != Value::Bool(false),
            }),
        );
    }

    /// A `secretRef` for a hook's secret, which no forge shows: the user
    /// puts it in a Secret named after the subscription.
    fn hook_secret(&mut self, name: &str, url: &str, scope: &str) -> Value {
        self.note(format!(
            "hook {url} of `{scope}`: put its secret in Secret `{}/{name}`, key `secret` (the forge never shows it)",
            self.namespace
        ));
        json!({ "name": name, "key": "secret" })
    }

    /// A RefPolicy requiring signed commits on `repo` when some of its
    /// rules do (`signed` holds each rule's answer).
    fn signing(&mut self, repo: &str, signed: &BTreeSet<bool>) {
        if !signed.contains(&true) {
            return;
        }
        if signed.contains(&false) {
            self.note(format!(
                "`{repo}` requires signed commits on some rules only; kradle's RefPolicy requires them on all rules of the repository"
            ));
        }
        let name = self.unique("RefPolicy", &format!("{repo}-signing"));
        self.add(
            "protections.yaml",
            "RefPolicy",
            &name,
            json!({ "repository": repo, "signingPolicy": "required" }),
        );
    }

    fn finish(mut self) -> Imported {
        let dir = format!("orgs/{}", self.org);
        for file in FILES {
            let Some(docs) = self.files.remove(file) else {
                continue;
            };
            self.out.resources += docs.len();
            self.out
                .files
                .insert(format!("{dir}/{file}"), document(&self.header, &docs));
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_names_become_resource_names() {
        assert_eq!(resource_name("Ada.Lovelace"), "ada-lovelace");
        assert_eq!(resource_name("__x__"), "x");
        assert_eq!(resource_name("..."), "x");
        let mut names = Names::default();
        assert_eq!(names.unique("User", "Ada"), "ada");
        assert_eq!(names.unique("User", "ada"), "ada-2");
        assert_eq!(names.unique("Team", "ada"), "ada");
    }
}
