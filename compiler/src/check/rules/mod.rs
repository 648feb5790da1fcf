//! The per-kind rules the spec states, beyond what the schema can say: one
//! rule per file, each opening with what it checks, why, and an example.
//!
//! [`check`] is the registry of the rules: it hands each resource's typed
//! spec to the rules of its kind. A rule only adds diagnostics.

mod capability_manifest;
mod default_backend;
mod delivery;
mod expiry;
mod namespaces;
mod policy_parameters;
mod project_columns;
mod role_binding_scope;
mod runner_pool;
mod skill_source;
mod ssh_keys;
mod subagent_task_kinds;
mod team_maintainers;
mod trigger_reach;
mod trigger_rules;
mod urls;

use crate::diagnostics::{Code, Diagnostic};
use crate::model::Spec;

use super::{Model, Options, Resource};

pub fn check(model: &Model, options: &Options, diags: &mut Vec<Diagnostic>) {
    let mut keys = ssh_keys::KeyIndex::default();
    for r in &model.resources {
        let Some(spec) = &r.spec else { continue };
        let mut d = Ctx {
            r,
            diags: &mut *diags,
        };
        match spec {
            Spec::RunnerPool(s) => runner_pool::check(&mut d, s),
            Spec::KradleProject(s) => project_columns::check(&mut d, s),
            Spec::AgentTriggerRule(s) => {
                trigger_rules::check(model, &mut d, s);
                trigger_reach::check(model, &mut d, s);
            }
            Spec::AgentSubagent(s) => subagent_task_kinds::check(&mut d, s),
            Spec::AgentSkill(s) => skill_source::check(&mut d, s),
            Spec::ExternalProviderCapabilityManifest(s) => {
                capability_manifest::check(model, &mut d, s)
            }
            Spec::SSHKey(s) => ssh_keys::check(&mut d, s, &mut keys),
            Spec::Invite(s) => expiry::invite(&mut d, s, options),
            Spec::PolicyExceptionRequest(s) => expiry::exception(&mut d, s, options),
            Spec::Team(s) => team_maintainers::check(&mut d, s),
            Spec::PolicyTemplate(s) => policy_parameters::template(&mut d, s),
            Spec::PolicyBinding(s) => policy_parameters::binding(model, &mut d, s),
            Spec::PolicyProfile(s) => policy_parameters::profile(model, &mut d, s),
            Spec::Repository(s) => {
                delivery::repository(&mut d, s);
                default_backend::repository(model, &mut d);
            }
            Spec::Application(s) => delivery::application(model, &mut d, s),
            Spec::AgentServiceAccount(s) => namespaces::service_account(&mut d, s),
            Spec::AgentSecretGrant(s) => {
                namespaces::grant(&mut d, &s.secret_ref, "/spec/secretRef/namespace")
            }
            Spec::AgentConfigGrant(s) => {
                namespaces::grant(&mut d, &s.config_map_ref, "/spec/configMapRef/namespace")
            }
            Spec::AgentRoleBinding(s) => role_binding_scope::check(&mut d, s),
            Spec::WebhookSubscription(s) => d.url("/spec/url", &s.url),
            Spec::ExternalBackendProvider(s) => d.credential_url("/spec/endpoint", &s.endpoint),
            Spec::AgentGatewayConfig(s) => d.credential_url("/spec/gatewayUrl", &s.gateway_url),
            Spec::AgentMcpServer(s) => {
                d.opt_url("/spec/endpoint", &s.endpoint);
                d.opt_url("/spec/discoveryUrl", &s.discovery_url);
            }
            Spec::AuthProvider(s) => {
                d.opt_url("/spec/authorizationUrl", &s.authorization_url);
                d.opt_url("/spec/tokenUrl", &s.token_url);
                d.opt_url("/spec/userInfoUrl", &s.user_info_url);
            }
            _ => {}
        }
    }
}

/// What a rule works on: the resource being checked and where to report.
struct Ctx<'r, 'd> {
    r: &'r Resource,
    diags: &'d mut Vec<Diagnostic>,
}

impl Ctx<'_, '_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Reports `message` at `pointer` of the resource, with `help`.
    fn err(&mut self, code: Code, pointer: &str, message: &str, help: &str) {
        self.diags.push(
            Diagnostic::new(code, message)
                .at(self.r.file, self.r.span_of(pointer))
                .help(help),
        );
    }
}
