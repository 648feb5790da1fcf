//! `capability-manifest` (KR507): an ExternalProviderCapabilityManifest.
//!
//! What it checks: the manifest lists at least one interface, names a
//! provider type, and that type is the one of the provider it describes.
//!
//! Why: sync and dispatch read the manifest to decide what a provider can
//! do; a manifest that disagrees with its provider would route issue sync
//! or CI events to an API that does not have them.
//!
//! Example:
//! ```yaml
//! kind: ExternalProviderCapabilityManifest
//! spec:
//!   providerRef: github-main          # providerType: github
//!   capabilities: { providerType: gitlab, interfaces: [gitForge] }   # KR507
//! ```

use crate::diagnostics::Code;
use crate::model::external::{ExternalBackendProviderSpec, ExternalProviderCapabilityManifestSpec};

use super::{Ctx, Model};

pub(super) fn check(
    model: &Model,
    d: &mut Ctx<'_, '_>,
    s: &ExternalProviderCapabilityManifestSpec,
) {
    if s.capabilities.interfaces.is_empty() {
        d.err(
            Code::CapabilityManifest,
            "/spec/capabilities/interfaces",
            "interfaces must not be empty",
            "list at least one of gitForge, issueTracking, cicd",
        );
    }
    let declared = &s.capabilities.provider_type;
    if declared.trim().is_empty() {
        d.err(
            Code::CapabilityManifest,
            "/spec/capabilities/providerType",
            "providerType must not be empty",
            "set the provider type, e.g. `github`",
        );
        return;
    }
    let provider =
        model.get::<ExternalBackendProviderSpec>(d.r.org.as_deref(), s.provider_ref.name());
    if let Some((_, p)) = provider {
        let actual = serde_json::to_value(p.provider_type)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        if actual != *declared {
            d.err(
                Code::CapabilityManifest,
                "/spec/capabilities/providerType",
                &format!(
                    "providerType `{declared}` disagrees with provider `{}` (`{actual}`)",
                    s.provider_ref.name()
                ),
                "the manifest describes its provider; use the provider's providerType",
            );
        }
    }
}
