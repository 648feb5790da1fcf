//! Schedules of `schedule` AgentTriggerRules: 5-field cron expressions,
//! evaluated in UTC (the rule has no time zone field), with the maintained
//! `croner` crate.
//!
//! A schedule fires at most once per evaluation: after downtime, the
//! missed ticks collapse into one, the latest (docs/dispatch.md, "Cron").

use chrono::{DateTime, Utc};
use croner::Cron;

/// The most occurrences walked to find the latest missed one: a year of
/// minutes. Past that, the latest found so far is taken.
const MAX_WALK: usize = 366 * 24 * 60;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
}

impl Schedule {
    /// Parses a 5-field expression; day-of-month and day-of-week match
    /// either (as cron does).
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        let cron = Cron::new(expr).parse().map_err(|e| e.to_string())?;
        Ok(Schedule {
            cron,
            text: expr.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The next occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The latest occurrence in (`last`, `now`], if any: what is due now.
    /// However many were missed, it is one.
    pub fn due(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut due = None;
        let mut at = last;
        for _ in 0..MAX_WALK {
            match self.next_after(at) {
                Some(t) if t <= now => {
                    due = Some(t);
                    at = t;
                }
                _ => break,
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    #[test]
    fn missed_ticks_collapse_into_the_latest() {
        let s = Schedule::parse("0 3 * * 1-5").unwrap();
        // Friday 2026-11-27 03:00 was the last weekday tick before Monday.
        assert_eq!(
            s.due(t("2026-11-20T12:00:00Z"), t("2026-11-29T12:00:00Z")),
            Some(t("2026-11-27T03:00:00Z"))
        );
        assert_eq!(
            s.due(t("2026-11-27T03:00:00Z"), t("2026-11-29T12:00:00Z")),
            None
        );
        assert_eq!(
            s.next_after(t("2026-11-27T03:00:00Z")),
            Some(t("2026-11-30T03:00:00Z"))
        );
        let every = Schedule::parse("* * * * *").unwrap();
        assert_eq!(
            every.due(t("2026-01-01T00:00:00Z"), t("2026-01-08T00:00:30Z")),
            Some(t("2026-01-08T00:00:00Z"))
        );
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("not cron").is_err());
    }
}
