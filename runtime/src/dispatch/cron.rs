//! Schedules of `schedule` AgentTriggerRules: 5-field cron expressions,
//! evaluated in the rule's `timeZone` (UTC by default; daylight saving as
//! the zone has it), with the maintained `croner` crate. Ticks are UTC
//! instants.
//!
//! A schedule fires at most once per evaluation: after downtime, the
//! missed ticks collapse into one, the latest (docs/dispatch.md, "Cron").

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// The most occurrences walked to find the latest missed one: a year of
/// minutes. Past that, the latest found so far is taken.
const MAX_WALK: usize = 366 * 24 * 60;

/// Why a schedule cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not a cron expression (the parser's reason).
    #[error("{0}")]
    Expression(String),
    #[error("unknown time zone `{0}`")]
    Zone(String),
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
    zone: Option<Tz>,
}

impl Schedule {
    /// Parses a 5-field expression; day-of-month and day-of-week match
    /// either (as cron does).
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let cron = Cron::new(expr)
            .parse()
            .map_err(|e| ScheduleError::Expression(e.to_string()))?;
        Ok(Schedule {
            cron,
            text: expr.to_string(),
            zone: None,
        })
    }

    /// Reads the expression in the IANA zone `zone` (`Europe/Paris`).
    pub fn in_zone(self, zone: &str) -> Result<Schedule, ScheduleError> {
        let zone: Tz = zone
            .parse()
            .map_err(|_| ScheduleError::Zone(zone.to_string()))?;
        Ok(Schedule {
            zone: Some(zone),
            ..self
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The next occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            None => self.cron.find_next_occurrence(&after, false).ok(),
            Some(zone) => self
                .cron
                .find_next_occurrence(&after.with_timezone(&zone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
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
        // 09:00 in Paris: 08:00 UTC in winter, 07:00 in summer.
        let paris = Schedule::parse("0 9 * * *")
            .unwrap()
            .in_zone("Europe/Paris")
            .unwrap();
        assert_eq!(
            paris.next_after(t("2026-11-27T12:00:00Z")),
            Some(t("2026-11-28T08:00:00Z"))
        );
        assert_eq!(
            paris.next_after(t("2026-07-01T12:00:00Z")),
            Some(t("2026-07-02T07:00:00Z"))
        );
        assert_eq!(
            paris.due(t("2026-11-20T00:00:00Z"), t("2026-11-28T08:30:00Z")),
            Some(t("2026-11-28T08:00:00Z"))
        );
        assert!(
            Schedule::parse("0 9 * * *")
                .unwrap()
                .in_zone("Mars/Olympus")
                .is_err()
        );
        // Daylight saving: 02:30 does not exist in Paris on 2026-03-29, and
        // happens twice on 2026-10-25.
        let night = Schedule::parse("30 2 * * *")
            .unwrap()
            .in_zone("Europe/Paris")
            .unwrap();
        assert_eq!(
            night.next_after(t("2026-03-28T12:00:00Z")),
            Some(t("2026-03-29T01:00:00Z")),
            "skipped: at the next time that exists, 03:00 CEST"
        );
        assert_eq!(
            night.next_after(t("2026-10-24T12:00:00Z")),
            Some(t("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            night.next_after(t("2026-10-25T00:30:00Z")),
            Some(t("2026-10-26T01:30:00Z")),
            "repeated: once"
        );
        assert!(Schedule::parse("not cron").is_err());
    }
}
