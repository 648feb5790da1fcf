//! Saved plans: `kradle plan --out FILE` writes what a reviewer approved,
//! `kradle apply FILE` applies exactly that (docs/apply.md, "Saved plans").
//!
//! The file holds the compiled forge plans of the head, and, per
//! organization and backend, the digest of the base's plan: the plan the
//! reviewer compared against, which should be what the forge was last
//! converged to. `apply FILE` refuses, before any request:
//! - a file changed after it was saved (its digest);
//! - a file of another kradle version (plans may differ between versions);
//! - a stale plan: an organization the database says was last converged to
//!   a plan that is neither the base the reviewer saw nor this plan (someone
//!   applied another change since, which this plan would undo).
//!
//! An organization never converged through this database (no record) is
//! applied: there is nothing to be stale against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kradle_compiler::forge_plan::Plan;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `kind` of a saved plan file.
pub const KIND: &str = "KradleSavedPlan";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    pub kradle_version: String,
    /// The revisions compared, as `kradle plan` named them.
    pub base: String,
    pub head: String,
    /// `forges.approveRemovals` of the head's kradle.yaml.
    pub approve_removals: bool,
    /// `forges.gitea.url` of the head's kradle.yaml (not secret).
    pub gitea_url: Option<String>,
    /// `<org>/<backend>` → the digest of the base's plan; `None` when the
    /// base had no plan for it (new) or did not compile.
    pub expects: BTreeMap<String, Option<String>>,
    /// The head's compiled forge plans: what `apply FILE` applies.
    pub plans: Vec<Plan>,
    /// sha256 of the file's content with this field empty.
    pub digest: String,
}

/// The digest of one compiled plan, as recorded when it is applied.
pub fn plan_digest(plan: &Plan) -> String {
    let bytes = serde_json::to_vec(plan).unwrap_or_default();
    format!("sha256:{}", hex(&Sha256::digest(&bytes)))
}

/// The key of a plan in [`SavedPlan::expects`].
pub fn key(plan: &Plan) -> String {
    format!("{}/{}", plan.org, plan.backend)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SavedPlan {
    /// A saved plan of `head`'s plans, expecting `base`'s (none when the
    /// base did not compile).
    pub fn new(
        base_name: &str,
        head_name: &str,
        base: Option<&[Plan]>,
        head: &[Plan],
        approve_removals: bool,
        gitea_url: Option<String>,
    ) -> SavedPlan {
        let base_digests: BTreeMap<String, String> = base
            .unwrap_or_default()
            .iter()
            .map(|p| (key(p), plan_digest(p)))
            .collect();
        let mut saved = SavedPlan {
            kind: KIND.into(),
            format_version: 1,
            kradle_version: env!("CARGO_PKG_VERSION").into(),
            base: base_name.into(),
            head: head_name.into(),
            approve_removals,
            gitea_url,
            expects: head
                .iter()
                .map(|p| (key(p), base_digests.get(&key(p)).cloned()))
                .collect(),
            plans: head.to_vec(),
            digest: String::new(),
        };
        saved.digest = saved.content_digest();
        saved
    }

    fn content_digest(&self) -> String {
        let mut unsigned = self.clone();
        unsigned.digest = String::new();
        let bytes = serde_json::to_vec(&unsigned).unwrap_or_default();
        format!("sha256:{}", hex(&Sha256::digest(&bytes)))
    }

    /// Writes the file whole or not at all.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)? + "\n";
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Reads and checks a saved plan: `Err` says why it cannot be applied.
    pub fn read(path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let file = path.to_path_buf();
        let text = std::fs::read_to_string(path).map_err(|e| SavedPlanError::Read {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let saved: SavedPlan =
            serde_json::from_str(&text).map_err(|e| SavedPlanError::NotAPlan {
                file: file.clone(),
                reason: e.to_string(),
            })?;
        if saved.kind != KIND || saved.format_version != 1 {
            return Err(SavedPlanError::NotAPlan {
                file,
                reason: format!(
                    "kind {}, formatVersion {}",
                    saved.kind, saved.format_version
                ),
            });
        }
        if saved.digest != saved.content_digest() {
            return Err(SavedPlanError::Changed(file));
        }
        let version = env!("CARGO_PKG_VERSION");
        if saved.kradle_version != version {
            return Err(SavedPlanError::OtherVersion {
                file,
                saved_by: saved.kradle_version,
            });
        }
        Ok(saved)
    }
}

/// Why a saved plan cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the saved plan {}: {reason}", .file.display())]
    Read { file: PathBuf, reason: String },
    #[error("{} is not a plan saved by `kradle plan --out`: {reason}", .file.display())]
    NotAPlan { file: PathBuf, reason: String },
    #[error("{} was changed after it was saved (its digest does not match): make a new plan", .0.display())]
    Changed(PathBuf),
    #[error(
        "{} was saved by kradle {saved_by}, this is kradle {}: make a new plan with this version",
        .file.display(),
        env!("CARGO_PKG_VERSION")
    )]
    OtherVersion { file: PathBuf, saved_by: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_plan_round_trips_and_a_change_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let saved = SavedPlan::new("base", "head", None, &[], false, None);
        saved.write(&path).unwrap();
        assert_eq!(SavedPlan::read(&path).unwrap(), saved);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"head\": \"head\"", "\"head\": \"other\""),
        )
        .unwrap();
        let why = SavedPlan::read(&path).unwrap_err().to_string();
        assert!(why.contains("changed after it was saved"), "{why}");
        std::fs::write(&path, "{}").unwrap();
        let why = SavedPlan::read(&path).unwrap_err().to_string();
        assert!(why.contains("not a plan saved"), "{why}");
    }
}
