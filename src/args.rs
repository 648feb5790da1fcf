//! Command-line arguments: the shared groups every command flattens, and
//! their value parsers.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use kradle_compiler::source::{ReadLimits, ReadOptions};

/// The config repository a command reads, and how it reports: shared by
/// `validate`, `build` and `plan`.
#[derive(clap::Args, Clone)]
pub struct Input {
    /// Folder of the config repository.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// "Now" for expiry decisions (RFC 3339, or `now` for the wall clock, as Argo CD's plugin
    /// renders). Default: the commit time of the revision read, else the current time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<DateTime<Utc>>,
    /// When to use colours (NO_COLOR is respected).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Read the config from a git revision instead of the working tree.
#[derive(clap::Args, Clone)]
pub struct Revision {
    /// Read the files from this git revision of the repository holding PATH (no checkout).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
}

/// Where Argo CD syncs the output from.
#[derive(clap::Args, Clone)]
pub struct Gitops {
    /// Repository URL Argo CD syncs the output from (overrides kradle.yaml gitops.repoURL).
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
}

/// How the config files are read: limits, and what to say about it.
#[derive(clap::Args, Clone)]
pub struct ReadArgs {
    /// Largest config file read (e.g. 16MiB, 512KiB, 1000000).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16MiB")]
    pub max_file_size: u64,
    /// Largest sum of all config files read.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    pub max_input_size: u64,
    /// Also say which folders were skipped (kradle output, links leaving the folder).
    #[arg(long, short)]
    pub verbose: bool,
}

impl ReadArgs {
    pub fn options(&self, output_path: Option<String>) -> ReadOptions {
        ReadOptions {
            limits: ReadLimits {
                max_file_size: self.max_file_size,
                max_input_size: self.max_input_size,
            },
            output_path,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Diagnostics for people, with source snippets.
    Human,
    /// One JSON object: {"diagnostics": [...], "summary": {...}}.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: `{s}`; e.g. 16MiB, 512KiB or 1000000"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown unit in `{s}`; use KiB, MiB or GiB")),
    };
    n.checked_mul(factor)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{s}` is not a usable size"))
}

pub fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number: `{s}`"))?;
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a percentage between 0 and 100"))
    }
}

pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if s == "now" {
        return Ok(Utc::now());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2026-11-27T12:00:00Z, or `now`"))
}

/// How a list or get command prints: a table for people, or the objects as
/// JSON or YAML for scripts (kubectl's `-o`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, ValueEnum)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

/// `-o/--output table|json|yaml`, shared by every command that lists or
/// gets records (`runs`, `approvals`, `intents`, `conflicts`).
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct ListOutput {
    /// Output format: a table, or the records as JSON or YAML.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
    /// Same as `-o json` (kept for scripts written before `-o`).
    #[arg(long, hide = true, conflicts_with = "output")]
    json: bool,
}

impl ListOutput {
    pub fn format(&self) -> ListFormat {
        if self.json {
            ListFormat::Json
        } else {
            self.output
        }
    }

    /// `value` as JSON or YAML, or `table()` when a table is asked for.
    pub fn render<T: serde::Serialize>(&self, value: &T, table: impl FnOnce() -> String) -> String {
        match self.format() {
            ListFormat::Table => table(),
            ListFormat::Json => serde_json::to_string_pretty(value).unwrap_or_default() + "\n",
            ListFormat::Yaml => {
                kradle_compiler::emit::to_yaml(&serde_json::to_value(value).unwrap_or_default())
            }
        }
    }
}
