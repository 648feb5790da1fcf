//! `cargo bench --bench validate`: `kradle validate`, `build` and `plan` on the generated
//! 10,000-resource repository, against the YAML parser alone reading the same
//! files with spans. Prints wall times (min and median of several runs) and
//! the ratio; peak memory is measured on the binary (see docs/benchmarks.md).
//!
//! Goals: validate <= 1.0 s, its checks within 5x the parse-only time (validate
//! also lowers, to report what build would); build <= 2 s;
//! plan from an empty base <= 3 s with the Markdown within 65,536 characters.

#![allow(clippy::expect_used)] // a benchmark program: failing loudly is right

use std::time::{Duration, Instant};

use chrono::Utc;
use kradle_compiler::{Options, Sources, validate, yaml};

fn time<F: FnMut() -> usize>(runs: usize, mut f: F) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut n = 0;
    for _ in 0..runs {
        let start = Instant::now();
        n = std::hint::black_box(f());
        times.push(start.elapsed());
    }
    times.sort();
    (times[0], times[runs / 2], n)
}

fn main() {
    let orgs = std::env::var("KRADLE_BENCH_ORGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let runs = std::env::var("KRADLE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let resources = xtask::generate(dir.path(), orgs).expect("generate");
    let options = Options { now: Utc::now() };

    let (parse_min, parse_med, docs) = time(runs, || {
        let sources = Sources::from_dir(dir.path()).expect("read");
        sources
            .files
            .iter()
            .map(|f| yaml::parse(f.text.as_deref().unwrap_or("")).0.len())
            .sum()
    });
    let (check_min, check_med, _) = time(runs, || {
        let v =
            kradle_compiler::check_sources(Sources::from_dir(dir.path()).expect("read"), &options);
        v.model.resources.len()
    });
    let (val_min, val_med, found) = time(runs, || {
        let v = validate(Sources::from_dir(dir.path()).expect("read"), &options);
        assert!(!v.has_errors(), "the generated repository must be valid");
        v.model.resources.len()
    });
    let build_options = kradle_compiler::lower::BuildOptions {
        now: options.now,
        repo_url: Some("https://git.example.com/platform/config.git".into()),
        target_revision: None,
        path: None,
        origin_repo_url: None,
    };
    let (build_min, build_med, files) = time(runs, || {
        let b =
            kradle_compiler::build(Sources::from_dir(dir.path()).expect("read"), &build_options);
        assert!(!b.has_errors(), "the generated repository must build");
        b.files.len()
    });
    let (plan_min, plan_med, md_len) = time(runs, || {
        let base = kradle_compiler::build(Sources::default(), &build_options);
        let head =
            kradle_compiler::build(Sources::from_dir(dir.path()).expect("read"), &build_options);
        let side = |s: &str| kradle_compiler::plan::Side {
            source: s.into(),
            compiled: true,
            errors: 0,
        };
        let diff = kradle_compiler::plan::diff(
            Some(&base.output),
            &head.output,
            side("empty"),
            side("head"),
            25.0,
        );
        let md = kradle_compiler::plan::markdown(&diff);
        assert!(md.len() <= kradle_compiler::plan::MARKDOWN_LIMIT);
        md.len()
    });
    assert_eq!(docs, resources);
    assert_eq!(found, resources);
    println!("generated repository: {resources} resources in {orgs} organizations");
    println!("parse only (read + YAML with spans): min {parse_min:.3?}, median {parse_med:.3?}");
    println!("checks only (library):               min {check_min:.3?}, median {check_med:.3?}");
    println!("kradle validate (checks + lowering):  min {val_min:.3?}, median {val_med:.3?}");
    println!(
        "ratio checks / parse (median):       {:.2}x",
        check_med.as_secs_f64() / parse_med.as_secs_f64()
    );
    println!(
        "ratio validate / parse (median):     {:.2}x",
        val_med.as_secs_f64() / parse_med.as_secs_f64()
    );
    println!(
        "kradle build (library, {files} files in memory): min {build_min:.3?}, median {build_med:.3?}"
    );
    println!(
        "kradle plan, empty base -> head, markdown ({md_len} chars): min {plan_min:.3?}, median {plan_med:.3?}"
    );
}
