//! Fuzz policy-template rendering: arbitrary text as a template string of a
//! PolicyTemplate's kyverno body, with arbitrary parameter values. Rendering
//! runs on pull-request input inside CI and the Argo CD repo-server: it must
//! end (fuel), stay small (output cap) and never panic.
//!
//! The input is `template NUL parameter-value`.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (template, param) = text.split_once('\0').unwrap_or((&text, "x"));
    let body = json!({
        "message": template,
        "pattern": { template.to_string(): "?*" },
        "whole": format!("[[ {template} ]]"),
    });
    let mut params = BTreeMap::new();
    let value = serde_json::from_str::<Value>(param).unwrap_or_else(|_| Value::String(param.into()));
    params.insert("p".to_string(), value);
    let _ = kradle_compiler::template::syntax_error(&body);
    let _ = kradle_compiler::template::referenced_params(&body);
    if let Ok(out) = kradle_compiler::template::render(&body, &params) {
        let size = serde_json::to_vec(&out).map_or(0, |b| b.len());
        assert!(size <= 4 * kradle_compiler::template::MAX_OUTPUT, "{size} bytes rendered");
    }
});
