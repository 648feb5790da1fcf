//! `ssh-key` (KR508) and `ssh-key-scope` (KR512): SSHKey material and scope.
//!
//! What it checks: the key parses as a one-line OpenSSH public key; a given
//! `fingerprint` matches it; no two active keys of an organization share key
//! material; a deploy key names its `repository` and a user key its `user`.
//!
//! Why: both forges refuse a key they cannot parse and the same public key
//! twice, which would fail the apply halfway; a key without its target has
//! nowhere to be added.
//!
//! Example:
//! ```yaml
//! kind: SSHKey
//! spec: { scope: deploy, key: "ssh-ed25519 AAAA..." }   # KR512: no repository
//! ```

use std::collections::BTreeMap;

use crate::diagnostics::{Code, Diagnostic};
use crate::model::repository::{KeyScope, SSHKeySpec};

use super::{Ctx, Resource};

/// Active SSH keys by (organization, fingerprint).
pub(super) type KeyIndex<'a> = BTreeMap<(Option<String>, String), &'a Resource>;

pub(super) fn check<'r>(d: &mut Ctx<'r, '_>, s: &SSHKeySpec, keys: &mut KeyIndex<'r>) {
    match crate::sshkey::parse(&s.key) {
        Err(e) => d.err(
            Code::SshKey,
            "/spec/key",
            &format!("SSH key does not parse: {e}"),
            "paste the one-line public key, e.g. the content of ~/.ssh/id_ed25519.pub",
        ),
        Ok(key)
            if s.fingerprint
                .as_ref()
                .is_some_and(|f| *f != key.fingerprint()) =>
        {
            d.err(
                Code::SshKey,
                "/spec/fingerprint",
                "spec.fingerprint does not match the key",
                &format!(
                    "remove it (kradle computes it) or set `{}`",
                    key.fingerprint()
                ),
            )
        }
        Ok(key) if s.revoked != Some(true) => {
            let fp = key.fingerprint();
            let r = d.r;
            match keys.get(&(r.org.clone(), fp.clone())) {
                Some(first) => d.push(
                    Diagnostic::new(
                        Code::SshKey,
                        format!("SSH key {fp} is also declared by SSHKey `{}`", first.name),
                    )
                    .at(r.file, r.span_of("/spec/key"))
                    .label("same key material")
                    .related(first.file, first.span_of("/spec/key"), "first declared here")
                    .help("forges refuse the same public key twice; use one SSHKey, or a separate key per use"),
                ),
                None => {
                    keys.insert((r.org.clone(), fp), r);
                }
            }
        }
        Ok(_) => {}
    }
    match s.scope {
        KeyScope::Deploy if s.repository.is_none() => d.err(
            Code::SshKeyScope,
            "/spec/scope",
            "a deploy key needs `repository`",
            "set `repository: <name>` (deploy keys are added to one repository)",
        ),
        KeyScope::User if s.user.is_none() => d.err(
            Code::SshKeyScope,
            "/spec/scope",
            "a user key needs `user`",
            "set `user: <user name>`: `owner` is free text, and kradle cannot add a key for it",
        ),
        _ => {}
    }
}
