//! Cron schedules: a 5-field expression plus an IANA time zone, and the next fire time.
//!
//! Daylight-saving semantics follow EventBridge Scheduler, so the embedded scheduler and the
//! AWS one agree: a local time that does not exist (spring forward) is skipped, and a local
//! time that happens twice (fall back) fires once, at its first occurrence.

use crate::error::Error;
use chrono::{DateTime, LocalResult, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A parsed standard 5-field cron expression (minute hour day-of-month month day-of-week).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CronExpr {
    source: String,
    cron: Cron,
}

impl From<CronExpr> for String {
    fn from(c: CronExpr) -> String {
        c.source
    }
}

impl TryFrom<String> for CronExpr {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        CronExpr::parse(&s)
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl CronExpr {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let field = "cronExpression";
        let fields: Vec<&str> = s.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(Error::invalid(
                field,
                format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), got {}",
                    fields.len()
                ),
            ));
        }
        let normalized = fields.join(" ");
        let cron = Cron::new(&normalized)
            .parse()
            .map_err(|e| Error::invalid(field, format!("invalid cron expression: {e}")))?;
        let expr = Self {
            source: normalized,
            cron,
        };
        // A pattern such as `0 0 31 2 *` parses but never fires: refuse it up front.
        if expr.next_after(Utc::now(), Tz::UTC).is_none() {
            return Err(Error::invalid(
                field,
                "the expression never matches a real date",
            ));
        }
        Ok(expr)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `after`, evaluated on `tz`'s wall clock.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // croner works on the naive wall clock; feed it local time dressed as UTC so that no
        // conversion happens inside it, then map each candidate back through the zone.
        let mut cursor = Utc.from_utc_datetime(&after.with_timezone(&tz).naive_local());
        for _ in 0..2_000 {
            let candidate = self.cron.find_next_occurrence(&cursor, false).ok()?;
            let fire = match tz.from_local_datetime(&candidate.naive_utc()) {
                LocalResult::Single(t) => Some(t),
                // Repeated wall-clock time: only its first occurrence fires.
                LocalResult::Ambiguous(first, _) => Some(first),
                // Skipped wall-clock time: no fire.
                LocalResult::None => None,
            };
            if let Some(t) = fire.map(|t| t.with_timezone(&Utc)) {
                if t > after {
                    return Some(t);
                }
            }
            cursor = candidate;
        }
        None
    }
}

/// An IANA time zone name such as `America/New_York`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct TimeZoneName(Tz);

impl From<TimeZoneName> for String {
    fn from(t: TimeZoneName) -> String {
        t.as_str().to_owned()
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        TimeZoneName::parse(&s)
    }
}

impl TimeZoneName {
    pub fn parse(s: &str) -> Result<Self, Error> {
        s.parse::<Tz>().map(Self).map_err(|_| {
            Error::invalid(
                "timezone",
                format!("unknown time zone {s:?}; use an IANA name such as America/New_York"),
            )
        })
    }

    pub fn utc() -> Self {
        Self(Tz::UTC)
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    pub fn as_str(&self) -> &'static str {
        self.0.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ny() -> Tz {
        TimeZoneName::parse("America/New_York").unwrap().tz()
    }

    #[test]
    fn weekday_mornings_in_new_york_follow_spring_forward() {
        // GIVEN 9:00 on weekdays in New York, and DST starting Sunday 2026-03-08
        let cron = CronExpr::parse("0 9 * * 1-5").unwrap();
        // WHEN Friday's run has passed (Fri 2026-03-06 09:00 EST = 14:00 UTC)
        let fri = cron.next_after(utc("2026-03-06T13:00:00Z"), ny()).unwrap();
        assert_eq!(fri, utc("2026-03-06T14:00:00Z"));
        // THEN the next run is Monday 09:00 EDT = 13:00 UTC (an hour earlier in UTC)
        let mon = cron.next_after(fri, ny()).unwrap();
        assert_eq!(mon, utc("2026-03-09T13:00:00Z"));
    }

    #[test]
    fn weekday_mornings_in_new_york_follow_fall_back() {
        // DST ends Sunday 2026-11-01: Friday 09:00 EDT = 13:00 UTC, Monday 09:00 EST = 14:00 UTC
        let cron = CronExpr::parse("0 9 * * 1-5").unwrap();
        let fri = cron.next_after(utc("2026-10-30T12:00:00Z"), ny()).unwrap();
        assert_eq!(fri, utc("2026-10-30T13:00:00Z"));
        assert_eq!(
            cron.next_after(fri, ny()).unwrap(),
            utc("2026-11-02T14:00:00Z")
        );
    }

    #[test]
    fn a_skipped_local_time_is_skipped() {
        // 02:30 does not exist in New York on 2026-03-08: the next fire is 2026-03-09 02:30 EDT.
        let cron = CronExpr::parse("30 2 * * *").unwrap();
        let next = cron.next_after(utc("2026-03-08T05:00:00Z"), ny()).unwrap();
        assert_eq!(next, utc("2026-03-09T06:30:00Z"));
    }

    #[test]
    fn a_repeated_local_time_runs_once() {
        // 01:30 happens twice in New York on 2026-11-01 (EDT 05:30Z, then EST 06:30Z).
        let cron = CronExpr::parse("30 1 * * *").unwrap();
        let first = cron.next_after(utc("2026-11-01T04:00:00Z"), ny()).unwrap();
        assert_eq!(first, utc("2026-11-01T05:30:00Z"));
        // After the first occurrence the next fire is the following day, not the repeat.
        let next = cron.next_after(first, ny()).unwrap();
        assert_eq!(next, utc("2026-11-02T06:30:00Z"));
        // Even when asked from inside the repeated hour.
        let next = cron.next_after(utc("2026-11-01T06:10:00Z"), ny()).unwrap();
        assert_eq!(next, utc("2026-11-02T06:30:00Z"));
    }

    #[test]
    fn hourly_schedules_through_fall_back_fire_for_each_distinct_hour() {
        let cron = CronExpr::parse("0 * * * *").unwrap();
        let mut t = utc("2026-11-01T04:30:00Z"); // 00:30 EDT
        let mut fires = vec![];
        for _ in 0..4 {
            t = cron.next_after(t, ny()).unwrap();
            fires.push(t);
        }
        // 01:00 EDT (05Z); 01:00 EST (06Z) is the repeat and is skipped; 02:00 EST (07Z) ...
        assert_eq!(
            fires,
            vec![
                utc("2026-11-01T05:00:00Z"),
                utc("2026-11-01T07:00:00Z"),
                utc("2026-11-01T08:00:00Z"),
                utc("2026-11-01T09:00:00Z"),
            ]
        );
    }

    #[test]
    fn invalid_expressions_name_the_problem() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "61 * * * *",
            "a b c d e",
            "0 0 31 2 *",
        ] {
            match CronExpr::parse(bad) {
                Err(Error::Invalid { details, .. }) => {
                    assert!(details.contains_key("cronExpression"), "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert_eq!(
            TimeZoneName::parse("Europe/Paris").unwrap().as_str(),
            "Europe/Paris"
        );
    }
}
