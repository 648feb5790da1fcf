//! Removals: what kradle manages that the plan no longer has (or, with
//! `--prune`, what nobody declared), sent like any write, and archives that
//! let go of what is inside the repository.

use super::*;

/// Removals without what is inside a repository being archived: an
/// archived repository is read-only, and keeps its collaborators, keys,
/// hooks and protections as they were. kradle lets go of them (their links
/// are deleted with the archive) instead of removing them one by one.
pub(super) fn within_archived(removals: Vec<Removal>) -> Vec<Removal> {
    let archived: BTreeSet<String> = removals
        .iter()
        .filter(|r| r.change == Change::Archive)
        .map(|r| r.name.clone())
        .collect();
    let mut let_go: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut rest = Vec::new();
    for r in removals {
        match repository_of(&r).filter(|repo| archived.contains(*repo)) {
            Some(repo) if r.linked => {
                let repo = repo.to_string();
                let_go.entry(repo).or_default().push((r.kind, r.name));
            }
            Some(_) => {}
            None => rest.push(r),
        }
    }
    for archive in rest.iter_mut().filter(|r| r.change == Change::Archive) {
        archive.let_go = let_go.remove(&archive.name).unwrap_or_default();
    }
    rest
}

/// The repository an object of a link name lives in (`<repo>/<item>`, or
/// `<team>/<repo>` for a team's repository).
fn repository_of(r: &Removal) -> Option<&str> {
    let (first, second) = r.name.split_once('/')?;
    match r.kind.as_str() {
        "collaborator" | "deploy-key" | "branch-protection" | "hook" => Some(first),
        "team-repository" => Some(second),
        _ => None,
    }
}

impl Run<'_> {
    pub(super) async fn removal<F: Forge>(
        &self,
        forge: &F,
        r: &Removal,
        refusal: Option<String>,
    ) -> Result<OpReport, ApplyError> {
        let id = format!("remove:{}:{}", r.kind, r.name);
        let mut report = OpReport::new(&id, &format!("remove-{}", r.kind), Outcome::Removed);
        report.method = Some(r.request.method.to_string());
        report.path = Some(r.request.path.clone());
        if let Some(reason) = refusal {
            report.result = Outcome::Failed;
            report.error = Some(reason);
            return Ok(report);
        }
        if self.options.dry_run {
            report.result = if r.change == Change::Archive {
                Outcome::WouldArchive
            } else {
                Outcome::WouldRemove
            };
            return Ok(report);
        }
        let body = r.request.body.clone().unwrap_or(Value::Null);
        let key = format!(
            "idem-gitForge-remove-{}",
            &body_digest(&json!([id, r.request.path]))[7..23]
        );
        let approval = self.options.approve_removals;
        if approval {
            if let Some(last) = self.store.last_intent(&key).await? {
                if last.phase == Phase::Rejected {
                    report.result = Outcome::Rejected;
                    report.error = Some(format!("rejected (intent {})", last.id));
                    return Ok(report);
                }
            }
        }
        let intent = self
            .store
            .record_intent(NewIntent {
                org: self.org,
                backend: self.backend,
                operation_id: &id,
                idempotency_key: &key,
                action: &report.action,
                method: r.request.method.as_str(),
                path: &r.request.path,
                body_digest: body_digest(&body),
                needs_approval: approval,
            })
            .await?;
        if intent.phase == Phase::PendingApproval {
            report.result = Outcome::AwaitingApproval;
            report.error = Some(format!(
                "waiting for approval: kradle intents approve {}",
                intent.id
            ));
            return Ok(report);
        }
        self.store.start_intent(intent.id).await?;
        report.attempts = 1;
        match self.send(forge, std::slice::from_ref(&r.request)).await {
            Ok(_) => {
                self.store
                    .finish_intent(intent.id, Phase::Succeeded, None)
                    .await?;
                if r.linked {
                    self.store
                        .delete_link(self.org, self.backend, &r.kind, &r.name)
                        .await?;
                }
                for (kind, name) in &r.let_go {
                    self.store
                        .delete_link(self.org, self.backend, kind, name)
                        .await?;
                }
                if r.change == Change::Archive {
                    report.result = Outcome::Archived;
                }
            }
            Err(e) => {
                let message = self.redact(&e.to_string());
                self.store
                    .finish_intent(intent.id, Phase::Failed, Some(&message))
                    .await?;
                report.result = Outcome::Failed;
                report.status = e.status();
                report.error = Some(message);
            }
        }
        Ok(report)
    }
}
