//! Fuzz the loader, every check, every renderer and — when the input is
//! valid — every lowering pass and the output layout: arbitrary bytes as a
//! config file beside a valid organization. Nothing may panic, hang or blow up.
//!
//! The input may hold two files separated by a NUL byte, so cross-file checks
//! (duplicates, references, scoping) are reached too.

#![no_main]

use chrono::{DateTime, Utc};
use kradle_compiler::{Options, Sources, render, validate};
use libfuzzer_sys::fuzz_target;

const ORG: &str = "apiVersion: kradle.a5c.ai/v1alpha1\nkind: Organization\nmetadata:\n  name: acme\nspec:\n  displayName: Acme\n  namespaceName: kradle-org-acme\n";

fuzz_target!(|data: &[u8]| {
    let (first, second) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let sources = Sources::from_memory([
        ("platform/orgs.yaml", ORG.as_bytes().to_vec()),
        ("orgs/acme/a.yaml", first.to_vec()),
        ("orgs/acme/b.yaml", second.to_vec()),
    ]);
    let now = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap_or_default();
    let v = validate(sources.clone(), &Options { now });
    for d in &v.diagnostics {
        let _ = render::human(&v.sources, d, false, 100);
    }
    let summary = v.summary();
    let _ = serde_json::to_string(&render::json(&v.sources, &v.diagnostics, &summary));
    let _ = serde_json::to_string(&render::sarif(&v.sources, &v.diagnostics, "", "fuzz"));
    if !v.has_errors() {
        let options = kradle_compiler::lower::BuildOptions {
            now,
            repo_url: Some("https://git.example.com/c.git".into()),
            target_revision: None,
            path: None,
        };
        let b = kradle_compiler::build(sources, &options);
        let _ = kradle_compiler::layout::stream(&b.output);
        let diff = kradle_compiler::plan::diff(
            None,
            &b.output,
            kradle_compiler::plan::Side { source: "base".into(), compiled: true, errors: 0 },
            kradle_compiler::plan::Side { source: "head".into(), compiled: true, errors: 0 },
            25.0,
        );
        let _ = kradle_compiler::plan::markdown(&diff);
    }
});
