//! `trigger-rule-unreachable` (KR524, a warning): a rule that waits for forge
//! events none of its repositories sends to kradle.
//!
//! What it checks: an enabled AgentTriggerRule with a forge event among its
//! `sources` (anything but `schedule` and `manual`) has at least one
//! repository whose events reach `kradle serve`:
//! - a repository on GitHub reaches it through its ExternalBackendBinding
//!   (the binding's webhook, `/webhooks/github/<org>/<binding>`);
//! - a repository on Gitea reaches it only through a WebhookSubscription of
//!   the organization whose `url` ends in `/webhooks/gitea/<org>/<its own
//!   name>`, on that repository or on the whole organization.
//!
//! The repositories are the rule's (`repository`, `webhookTrigger.repository`,
//! `commentTrigger.repos`), else every repository of the organization. Which
//! forge a repository is on is `Model::github_repositories`, as the forge
//! plans decide it.
//!
//! Why: Gitea sends nothing unless a hook says where. A rule on a Gitea
//! organization with no receiving subscription validates, builds, applies
//! and then never fires, and nothing says why.
//!
//! Example:
//! ```yaml
//! kind: AgentTriggerRule
//! metadata: { name: fix-on-comment }
//! spec:
//!   sources: [issue_comment]    # KR524: no WebhookSubscription sends to kradle
//!   agentStack: fixer
//!   taskKind: fix
//! ```

use std::collections::BTreeSet;

use crate::diagnostics::Code;
use crate::model::Kind;
use crate::model::agents::{AgentTriggerRuleSpec, TriggerSource};
use crate::model::repository::WebhookSubscriptionSpec;

use super::{Ctx, Model};

/// The subscriptions of `org` whose URL is kradle's receiver for them, as
/// (subscription name, repository it covers; `None`: the organization).
fn receivers<'a>(model: &'a Model, org: &'a str) -> Vec<(&'a str, Option<&'a str>)> {
    model
        .all::<WebhookSubscriptionSpec>()
        .filter(|(r, _)| r.org.as_deref() == Some(org))
        .filter(|(r, w)| {
            let path = w.url.split(['?', '#']).next().unwrap_or_default();
            path.trim_end_matches('/')
                .ends_with(&format!("/webhooks/gitea/{org}/{}", r.name))
                && w.active != Some(false)
        })
        .map(|(r, w)| (r.name.as_str(), w.repository.as_ref().map(|x| x.name())))
        .collect()
}

pub(super) fn check(model: &Model, d: &mut Ctx<'_, '_>, s: &AgentTriggerRuleSpec) {
    let Some(org) = d.r.org.clone() else {
        return;
    };
    let waits_for_events = s
        .sources
        .iter()
        .any(|x| !matches!(x, TriggerSource::Schedule | TriggerSource::Manual));
    if s.enabled == Some(false) || !waits_for_events {
        return;
    }
    // The rule's repositories, else the organization's.
    let mut repos: BTreeSet<&str> = BTreeSet::new();
    repos.extend(s.repository.iter().map(|r| r.name()));
    repos.extend(
        s.webhook_trigger
            .iter()
            .flat_map(|w| w.repository.iter())
            .map(|r| r.name()),
    );
    repos.extend(
        s.comment_trigger
            .iter()
            .flat_map(|c| c.repos.iter())
            .map(|r| r.name()),
    );
    if repos.is_empty() {
        repos.extend(model.names_in(Some(&org), Kind::Repository));
    }
    if repos.is_empty() {
        return;
    }
    // A repository on GitHub reaches kradle through its binding; one on
    // Gitea through a receiving subscription.
    let receivers = receivers(model, &org);
    let on_github = model.github_repositories(&org);
    let reached = |repo: &str| {
        on_github.contains(repo)
            || receivers
                .iter()
                .any(|(_, covers)| covers.is_none_or(|c| c == repo))
    };
    if repos.iter().any(|r| reached(r)) {
        return;
    }
    let listed = repos
        .iter()
        .take(3)
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let more = if repos.len() > 3 { ", ..." } else { "" };
    d.err(
        Code::TriggerUnreachable,
        "/spec/sources",
        &format!(
            "no forge event reaches this rule: its repositories ({listed}{more}) are on Gitea, and no WebhookSubscription of organization `{org}` sends their events to kradle"
        ),
        &format!(
            "declare a WebhookSubscription with `url: https://<kradle>/webhooks/gitea/{org}/<its name>` and a `secretRef` (docs/serve.md, \"Pointing a forge at it\"); `kradle apply` creates the hook"
        ),
    );
}
