//! The summary of an apply: what it created, updated, removed and left,
//! as the CLI's last line and `--json` show it.

use super::*;

/// The summary line's counts.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub removed: usize,
    pub archived: usize,
    pub adopted: usize,
    pub unchanged: usize,
    pub drift: usize,
    pub failed: usize,
    pub skipped: usize,
    pub awaiting_approval: usize,
    pub rejected: usize,
    pub retries: u64,
    pub seconds: f64,
}

impl Summary {
    pub fn of(reports: &[OrgReport], retries: u64, started: Instant) -> Summary {
        let mut s = Summary {
            retries,
            seconds: started.elapsed().as_secs_f64(),
            ..Summary::default()
        };
        for op in reports.iter().flat_map(|r| &r.operations) {
            match op.result {
                Outcome::Created | Outcome::WouldCreate => s.created += 1,
                Outcome::Updated | Outcome::WouldUpdate => s.updated += 1,
                Outcome::Removed | Outcome::WouldRemove => s.removed += 1,
                Outcome::Archived | Outcome::WouldArchive => s.archived += 1,
                Outcome::Adopted => s.adopted += 1,
                Outcome::Unchanged => s.unchanged += 1,
                Outcome::Drift => s.drift += 1,
                Outcome::Failed => s.failed += 1,
                Outcome::Skipped => s.skipped += 1,
                Outcome::AwaitingApproval => s.awaiting_approval += 1,
                Outcome::Rejected => s.rejected += 1,
            }
        }
        s
    }

    /// `N created, N updated, … in X s`.
    pub fn line(&self) -> String {
        let approvals = if self.awaiting_approval + self.rejected > 0 {
            format!(
                ", {} awaiting approval, {} rejected",
                self.awaiting_approval, self.rejected
            )
        } else {
            String::new()
        };
        format!(
            "{} created, {} updated, {} removed, {} archived, {} adopted, {} unchanged, {} drift, {} failed{approvals} ({} retries) in {:.1} s",
            self.created,
            self.updated,
            self.removed,
            self.archived,
            self.adopted,
            self.unchanged,
            self.drift,
            self.failed + self.skipped,
            self.retries,
            self.seconds
        )
    }

    /// Writes a real run would send (creates, updates, removals, archives).
    pub fn writes(&self) -> usize {
        self.created + self.updated + self.removed + self.archived
    }
}

/// Retries counted by a client so far.
pub fn retries_of(http: &Http) -> u64 {
    http.stats.retries.load(Ordering::Relaxed)
}
