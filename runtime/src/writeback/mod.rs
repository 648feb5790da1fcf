//! Outbound write-back (spec §2.2 "Outbound", ExternalWriteIntent,
//! ExternalSyncConflict): a change made in kradle to an issue kradle
//! projects, merged with what the forge has now.
//!
//! A change ([`IssueEdit`]) is recorded with the projection's values of the
//! fields it sets (its base). When it is sent, the forge's issue is read
//! first and each field is merged three ways:
//! - labels and assignees are sets, changed by adding and removing: what
//!   was added and removed is applied to the forge's current set, like a
//!   merge in git, so a label someone added on the forge meanwhile stays;
//! - title, state and workflowState are values: when the forge's value is
//!   kradle's already, nothing is sent; when it is still the base, kradle's
//!   value is sent; otherwise the field changed on both sides, and that is
//!   a conflict, which the sync policy's `conflictResolution` settles
//!   (`prefer-kradle`: send kradle's; `prefer-external`: keep the forge's;
//!   `manual`: hold the write until a person decides).
//!
//! An issue's workflowState (its kanban column) lives on the forge as one
//! label `workflow:<column>`, so that both forges carry it.
//!
//! Everything here is pure; `loops::writeback` reads and writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The label prefix that carries an issue's workflowState on the forge.
pub const WORKFLOW_LABEL: &str = "workflow:";

/// The workflowState an issue's labels carry, if one does.
pub fn workflow_state<'a>(labels: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    labels
        .into_iter()
        .find_map(|l| l.strip_prefix(WORKFLOW_LABEL))
        .filter(|s| !s.is_empty())
}

/// A change to an issue (`kradle issues set`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueEdit {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_assignees: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_assignees: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `open` or `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_state: Option<String>,
}

/// Why an edit cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "nothing to change: give at least one of --add-label, --remove-label, --add-assignee, --remove-assignee, --title, --state, --workflow-state"
    )]
    Empty,
    #[error("the state must be `open` or `closed`, not `{0}`")]
    State(String),
    #[error("`{0}` is both added and removed")]
    AddedAndRemoved(String),
    #[error(
        "labels starting with `{WORKFLOW_LABEL}` carry the workflowState: use --workflow-state"
    )]
    WorkflowLabel,
    #[error("{what} `{value}` is not allowed: {why}")]
    Value {
        what: &'static str,
        value: String,
        why: &'static str,
    },
}

impl IssueEdit {
    /// Checks the edit; a forge refuses most of what this refuses, later
    /// and less clearly.
    pub fn check(&self) -> Result<(), EditError> {
        if self == &IssueEdit::default() {
            return Err(EditError::Empty);
        }
        if let Some(s) = &self.state {
            if s != "open" && s != "closed" {
                return Err(EditError::State(s.clone()));
            }
        }
        for (added, removed) in [
            (&self.add_labels, &self.remove_labels),
            (&self.add_assignees, &self.remove_assignees),
        ] {
            if let Some(both) = added.iter().find(|a| removed.contains(a)) {
                return Err(EditError::AddedAndRemoved(both.clone()));
            }
        }
        if self
            .add_labels
            .iter()
            .chain(&self.remove_labels)
            .any(|l| l.starts_with(WORKFLOW_LABEL))
        {
            return Err(EditError::WorkflowLabel);
        }
        let short = |what: &'static str, v: &String, max: usize| {
            if v.trim().is_empty() {
                Err(EditError::Value {
                    what,
                    value: v.clone(),
                    why: "it is empty",
                })
            } else if v.chars().count() > max || v.chars().any(char::is_control) {
                Err(EditError::Value {
                    what,
                    value: v.chars().take(40).collect(),
                    why: "too long, or it holds control characters",
                })
            } else {
                Ok(())
            }
        };
        for l in self.add_labels.iter().chain(&self.remove_labels) {
            short("label", l, 50)?;
        }
        for a in self.add_assignees.iter().chain(&self.remove_assignees) {
            short("assignee", a, 39)?;
        }
        if let Some(t) = &self.title {
            short("title", t, 256)?;
        }
        if let Some(w) = &self.workflow_state {
            short("workflowState", w, 63)?;
        }
        Ok(())
    }

    /// The value fields it sets: (field, kradle's value).
    pub fn values(&self) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        if let Some(t) = &self.title {
            out.push(("title", json!(t)));
        }
        if let Some(s) = &self.state {
            out.push(("state", json!(s)));
        }
        if let Some(w) = &self.workflow_state {
            out.push(("workflowState", json!(w)));
        }
        out
    }

    /// Drops a value field from the edit (the forge's value was kept).
    pub fn drop_value(&mut self, field: &str) {
        match field {
            "title" => self.title = None,
            "state" => self.state = None,
            "workflowState" => self.workflow_state = None,
            _ => {}
        }
    }
}

/// An issue's fields, as the forge or the projection has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueFields {
    pub title: Value,
    pub state: Value,
    /// In the forge's order.
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
}

impl IssueFields {
    /// From a forge's issue (GitHub's or Gitea's shape).
    pub fn from_forge(issue: &Value) -> IssueFields {
        let names = |list: &Value, field: &str| -> Vec<String> {
            list.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i[field].as_str().or_else(|| i.as_str()))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        IssueFields {
            title: issue["title"].clone(),
            state: issue["state"].clone(),
            labels: names(&issue["labels"], "name"),
            assignees: names(&issue["assignees"], "login"),
        }
    }

    /// From an Issue projection's spec.
    pub fn from_projection(spec: &Value) -> IssueFields {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        IssueFields {
            title: spec["title"].clone(),
            state: spec["state"].clone(),
            labels: strings(&spec["labels"]),
            assignees: strings(&spec["assignees"]),
        }
    }

    /// The value of a value field (`null` when it has none).
    pub fn value(&self, field: &str) -> Value {
        match field {
            "title" => self.title.clone(),
            "state" => self.state.clone(),
            "workflowState" => workflow_state(self.labels.iter().map(String::as_str))
                .map_or(Value::Null, Value::from),
            _ => Value::Null,
        }
    }

    /// The base an edit is recorded with: the values of the fields it sets.
    pub fn base_for(&self, edit: &IssueEdit) -> Map<String, Value> {
        edit.values()
            .into_iter()
            .map(|(field, _)| (field.to_string(), self.value(field)))
            .collect()
    }
}

/// A sync policy's `conflictResolution`, or a person's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    PreferExternal,
    PreferKradle,
    Manual,
    /// A person's: keep the forge's value and mark the conflict Ignored.
    Ignore,
}

impl Resolution {
    pub fn parse(text: &str) -> Option<Resolution> {
        serde_json::from_value(Value::from(text)).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::PreferExternal => "prefer-external",
            Resolution::PreferKradle => "prefer-kradle",
            Resolution::Manual => "manual",
            Resolution::Ignore => "ignore",
        }
    }
}

/// A field changed on both sides since the edit was made.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldConflict {
    pub field: &'static str,
    pub base: Value,
    pub local: Value,
    pub external: Value,
    /// How the policy settled it; `None`: open, for a person to decide.
    pub settled: Option<Resolution>,
}

/// What to send, and what was found on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merge {
    /// The PATCH body (`title`, `state`, `labels`, `assignees`); empty when
    /// the forge has everything already.
    pub body: Map<String, Value>,
    pub conflicts: Vec<FieldConflict>,
}

impl Merge {
    /// Whether a conflict waits for a person: then nothing is sent.
    pub fn blocked(&self) -> bool {
        self.conflicts.iter().any(|c| c.settled.is_none())
    }
}

/// Merges `edit` (made on `base`) with the forge's current `external`
/// fields, settling conflicts by `policy`.
pub fn merge(
    edit: &IssueEdit,
    base: &Map<String, Value>,
    external: &IssueFields,
    policy: Resolution,
) -> Merge {
    let mut out = Merge::default();
    let mut writes: BTreeMap<&'static str, Value> = BTreeMap::new();
    for (field, local) in edit.values() {
        let now = external.value(field);
        if now == local {
            continue;
        }
        let was = base.get(field).cloned().unwrap_or(Value::Null);
        if now == was {
            writes.insert(field, local);
            continue;
        }
        let settled = match policy {
            Resolution::Manual => None,
            p => Some(p),
        };
        if settled == Some(Resolution::PreferKradle) {
            writes.insert(field, local.clone());
        }
        out.conflicts.push(FieldConflict {
            field,
            base: was,
            local,
            external: now,
            settled,
        });
    }
    if out.blocked() {
        return out;
    }
    for field in ["title", "state"] {
        if let Some(v) = writes.remove(field) {
            out.body.insert(field.to_string(), v);
        }
    }
    let mut labels = apply_delta(&external.labels, &edit.add_labels, &edit.remove_labels);
    if let Some(column) = writes
        .remove("workflowState")
        .as_ref()
        .and_then(Value::as_str)
    {
        labels.retain(|l| !l.starts_with(WORKFLOW_LABEL));
        labels.push(format!("{WORKFLOW_LABEL}{column}"));
    }
    if labels != external.labels {
        out.body.insert("labels".into(), json!(labels));
    }
    let assignees = apply_delta(
        &external.assignees,
        &edit.add_assignees,
        &edit.remove_assignees,
    );
    if assignees != external.assignees {
        out.body.insert("assignees".into(), json!(assignees));
    }
    out
}

/// `current` without `remove`, then with what `add` has that it lacks.
fn apply_delta(current: &[String], add: &[String], remove: &[String]) -> Vec<String> {
    let mut out: Vec<String> = current
        .iter()
        .filter(|c| !remove.contains(c))
        .cloned()
        .collect();
    for a in add {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forge(title: &str, state: &str, labels: &[&str], assignees: &[&str]) -> IssueFields {
        IssueFields {
            title: json!(title),
            state: json!(state),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            assignees: assignees.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn set_changes_merge_with_what_the_forge_gained_meanwhile() {
        let edit = IssueEdit {
            add_labels: strings(&["triage"]),
            remove_labels: strings(&["bug"]),
            add_assignees: strings(&["alice"]),
            ..IssueEdit::default()
        };
        // Someone added `p1` and assigned bob on the forge since.
        let now = forge("t", "open", &["bug", "p1"], &["bob"]);
        let m = merge(&edit, &Map::new(), &now, Resolution::Manual);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.body["labels"], json!(["p1", "triage"]));
        assert_eq!(m.body["assignees"], json!(["bob", "alice"]));
    }

    #[test]
    fn nothing_is_sent_when_the_forge_has_it_already() {
        let edit = IssueEdit {
            add_labels: strings(&["triage"]),
            state: Some("closed".into()),
            workflow_state: Some("done".into()),
            ..IssueEdit::default()
        };
        let base = forge("t", "open", &["workflow:doing"], &[]).base_for(&edit);
        let now = forge("t", "closed", &["triage", "workflow:done"], &[]);
        let m = merge(&edit, &base, &now, Resolution::Manual);
        assert_eq!(m, Merge::default());
    }

    #[test]
    fn a_value_changed_on_both_sides_is_settled_by_the_policy() {
        let edit = IssueEdit {
            title: Some("kradle's".into()),
            workflow_state: Some("doing".into()),
            ..IssueEdit::default()
        };
        let base = forge("old", "open", &["workflow:todo", "bug"], &[]).base_for(&edit);
        assert_eq!(base["workflowState"], json!("todo"));
        // The forge renamed it; the column did not move there.
        let now = forge("theirs", "open", &["bug", "workflow:todo"], &[]);

        let manual = merge(&edit, &base, &now, Resolution::Manual);
        assert!(manual.blocked());
        assert!(manual.body.is_empty(), "a held write sends nothing");
        assert_eq!(manual.conflicts.len(), 1);
        let c = &manual.conflicts[0];
        assert_eq!(
            (c.field, &c.base, &c.local, &c.external),
            ("title", &json!("old"), &json!("kradle's"), &json!("theirs"))
        );

        let external = merge(&edit, &base, &now, Resolution::PreferExternal);
        assert!(!external.blocked());
        assert_eq!(
            external.conflicts[0].settled,
            Some(Resolution::PreferExternal)
        );
        assert_eq!(
            Value::Object(external.body),
            json!({ "labels": ["bug", "workflow:doing"] }),
            "the title stays the forge's; the column moves"
        );

        let kradle = merge(&edit, &base, &now, Resolution::PreferKradle);
        assert_eq!(kradle.body["title"], json!("kradle's"));
    }

    #[test]
    fn edits_are_checked() {
        assert_eq!(IssueEdit::default().check(), Err(EditError::Empty));
        let bad_state = IssueEdit {
            state: Some("merged".into()),
            ..IssueEdit::default()
        };
        assert!(matches!(bad_state.check(), Err(EditError::State(_))));
        let both = IssueEdit {
            add_labels: strings(&["x"]),
            remove_labels: strings(&["x"]),
            ..IssueEdit::default()
        };
        assert!(matches!(both.check(), Err(EditError::AddedAndRemoved(_))));
        let workflow = IssueEdit {
            add_labels: strings(&["workflow:done"]),
            ..IssueEdit::default()
        };
        assert_eq!(workflow.check(), Err(EditError::WorkflowLabel));
        let control = IssueEdit {
            title: Some("a\u{7}b".into()),
            ..IssueEdit::default()
        };
        assert!(matches!(control.check(), Err(EditError::Value { .. })));
        assert_eq!(
            Resolution::parse("prefer-kradle"),
            Some(Resolution::PreferKradle)
        );
        assert_eq!(Resolution::parse("sometimes"), None);
    }
}
