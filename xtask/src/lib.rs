//! A deterministic generator of a large, valid config repository, for the
//! benchmarks (`cargo bench`, `cargo run -p xtask -- gen-bench DIR`).
//!
//! Same arguments, same bytes: no randomness, no clock. With the default 50
//! organizations it writes about 10,000 resources (users, teams, repositories
//! with protections, permissions and deploy keys, agent stacks, triggers,
//! policies) that `kradle validate` accepts without a diagnostic.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

pub const USERS: usize = 50;
pub const TEAMS: usize = 8;
pub const REPOS: usize = 20;
pub const STACKS: usize = 5;
pub const TRIGGERS_PER_STACK: usize = 2;
pub const BINDINGS: usize = 5;

/// Resources written per organization (the platform adds 2 per org).
pub fn resources_per_org() -> usize {
    USERS + TEAMS + REPOS * 4 + USERS /* permissions */ - REPOS
        + 3 /* service account, adapter, role binding */
        + STACKS * (1 + TRIGGERS_PER_STACK)
        + 1 /* template */ + BINDINGS + 1 /* runner pool */
        + 1 /* webhook subscription */
}

fn head(out: &mut String, kind: &str, name: &str) {
    let _ = write!(
        out,
        "---\napiVersion: kradle.a5c.ai/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"
    );
}

/// A valid, unique ed25519 public key derived from `seed`.
pub fn ssh_key(seed: &str) -> String {
    let mut blob = Vec::with_capacity(51);
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&Sha256::digest(seed.as_bytes()));
    format!(
        "ssh-ed25519 {} {seed}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// Writes the repository into `dir` (which must be empty or absent); returns
/// the number of resources written.
pub fn generate(dir: &Path, orgs: usize) -> std::io::Result<usize> {
    let mut count = 0;
    let mut platform = String::new();
    for o in 0..orgs {
        let org = format!("org-{o:03}");
        head(&mut platform, "Organization", &org);
        let _ = writeln!(
            platform,
            "  displayName: Organization {o}\n  namespaceName: kradle-org-{org}"
        );
        head(&mut platform, "OrgNamespaceBinding", &org);
        let _ = writeln!(
            platform,
            "  organizationRef: {org}\n  namespace: kradle-org-{org}"
        );
        count += 2;

        let base = dir.join("orgs").join(&org);
        std::fs::create_dir_all(&base)?;

        let mut people = String::new();
        for u in 0..USERS {
            head(&mut people, "User", &format!("user-{u:03}"));
            let _ = writeln!(
                people,
                "  displayName: User {u}\n  email: user-{u}@{org}.example\n  teams: [team-{}]",
                u % TEAMS
            );
        }
        for t in 0..TEAMS {
            head(&mut people, "Team", &format!("team-{t}"));
            let members: Vec<String> = (0..USERS)
                .filter(|u| u % TEAMS == t)
                .map(|u| format!("user-{u:03}"))
                .collect();
            let _ = writeln!(
                people,
                "  displayName: Team {t}\n  members: [{}]\n  maintainers: [{}]\n  repositoryGrants:\n    - repository: repo-{t:03}\n      permission: write",
                members.join(", "),
                members[0]
            );
        }
        count += USERS + TEAMS;
        std::fs::write(base.join("people.yaml"), people)?;

        let mut repos = String::new();
        for r in 0..REPOS {
            let name = format!("repo-{r:03}");
            head(&mut repos, "Repository", &name);
            let _ = writeln!(
                repos,
                "  visibility: {}\n  defaultBranch: main",
                if r % 3 == 0 { "public" } else { "private" }
            );
            head(&mut repos, "BranchProtection", &format!("{name}-main"));
            let _ = writeln!(
                repos,
                "  repository: {name}\n  refs: [main, \"release/*\"]\n  requiredReviews: {}\n  statusChecks: [ci/test]",
                1 + r % 2
            );
            head(&mut repos, "SSHKey", &format!("{name}-deploy"));
            let _ = writeln!(
                repos,
                "  scope: deploy\n  repository: {name}\n  key: {}",
                ssh_key(&format!("{org}/{name}"))
            );
            head(&mut repos, "RepositoryPermission", &format!("{name}-team"));
            let _ = writeln!(
                repos,
                "  repository: {name}\n  subject: team-{}\n  subjectKind: team\n  permission: read",
                r % TEAMS
            );
        }
        // kradle's receiver for the org's Gitea events, so its trigger rules
        // can fire (KR524).
        head(&mut repos, "WebhookSubscription", "kradle-events");
        let _ = writeln!(
            repos,
            "  url: https://kradle.example/webhooks/gitea/{org}/kradle-events\n  events: [issues, issue_comment, pull_request]"
        );
        for p in 0..USERS - REPOS {
            head(&mut repos, "RepositoryPermission", &format!("perm-{p:03}"));
            let _ = writeln!(
                repos,
                "  repository: repo-{:03}\n  subject: user-{p:03}\n  permission: {}",
                p % REPOS,
                ["read", "write", "admin"][p % 3]
            );
        }
        count += REPOS * 4 + USERS - REPOS + 1;
        std::fs::write(base.join("repositories.yaml"), repos)?;

        let mut agents = String::new();
        head(&mut agents, "AgentServiceAccount", "agent-runner");
        let _ = writeln!(
            agents,
            "  namespace: kradle-org-{org}\n  serviceAccountName: kradle-agent"
        );
        head(&mut agents, "AgentAdapter", "claude-code");
        agents.push_str("  adapterType: claude-code\n  transport: stdio\n");
        head(&mut agents, "AgentRoleBinding", "agent-runner-edit");
        agents.push_str("  subject: agent-runner\n  roleRef: { kind: ClusterRole, name: edit }\n  scope: namespace\n");
        head(&mut agents, "RunnerPool", "default");
        agents.push_str("  warmReplicas: 1\n  maxReplicas: 8\n");
        for s in 0..STACKS {
            let stack = format!("stack-{s}");
            head(&mut agents, "AgentStack", &stack);
            agents.push_str("  baseAgent: claude-code\n  adapter: claude-code\n  runtimeIdentity: { serviceAccountRef: agent-runner }\n  runnerPolicy: { runnerPoolRef: default }\n  taskKind: fix\n");
            for t in 0..TRIGGERS_PER_STACK {
                head(
                    &mut agents,
                    "AgentTriggerRule",
                    &format!("{stack}-trigger-{t}"),
                );
                if t % 2 == 0 {
                    let _ = writeln!(
                        agents,
                        "  sources: [issue_comment]\n  agentStack: {stack}\n  taskKind: fix\n  repository: repo-{s:03}\n  commentTrigger: {{ pattern: \"^/fix\\\\b\" }}"
                    );
                } else {
                    let _ = writeln!(
                        agents,
                        "  sources: [schedule]\n  agentStack: {stack}\n  taskKind: fix\n  cronExpression: \"{} 3 * * 1-5\"",
                        s * 7 % 60
                    );
                }
            }
        }
        count += 4 + STACKS * (1 + TRIGGERS_PER_STACK);
        std::fs::write(base.join("agents.yaml"), agents)?;

        let mut policy = String::new();
        head(&mut policy, "PolicyTemplate", "require-labels");
        policy.push_str("  displayName: Require labels\n  targetKinds: [Deployment]\n  parameters: { label: { default: app } }\n  kyverno:\n    rules:\n      - name: check\n        match: { any: [{ resources: { kinds: [Deployment] } }] }\n        validate: { message: \"needs [[ params.label ]]\", pattern: { metadata: { labels: { \"[[ params.label ]]\": \"?*\" } } } }\n");
        for b in 0..BINDINGS {
            head(&mut policy, "PolicyBinding", &format!("labels-{b}"));
            let _ = writeln!(
                policy,
                "  templateRef: require-labels\n  mode: {}\n  scope: {{ repositories: [repo-{b:03}] }}",
                if b % 2 == 0 { "audit" } else { "enforce" }
            );
        }
        count += 1 + BINDINGS;
        std::fs::write(base.join("policy.yaml"), policy)?;
    }
    std::fs::create_dir_all(dir.join("platform"))?;
    std::fs::write(dir.join("platform/organizations.yaml"), platform)?;
    Ok(count)
}
