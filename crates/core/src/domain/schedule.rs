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
        for (spec, f) in FIELDS.iter().zip(&fields) {
            check_field(spec, f)
                .map_err(|why| Error::invalid(field, format!("{} {f:?}: {why}", spec.name)))?;
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

/// One field of the expression: its name, bounds, value names, and which special forms it
/// takes.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names of `min`, `min + 1`, ... (months, weekdays), any case.
    names: &'static [&'static str],
    /// Day fields: `?` (any), and alone `L` and `NW` (day of month) or `NL` and `N#k`
    /// (day of week).
    day: bool,
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        day: false,
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        day: false,
    },
    FieldSpec {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        day: true,
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
        day: false,
    },
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
        day: true,
    },
];

/// The syntax both schedulers read alike (croner here, EventBridge Scheduler on AWS, through
/// `operator_aws::cron`): `*`, or a list of values, `a-b` ranges and `/n` steps (`*/n`,
/// `a/n`, `a-b/n`); names for months and weekdays; `?` for a day field; `L`, `NW`
/// (day-of-month) and `NL`, `N#k` (day-of-week) as the whole field. croner alone takes more
/// (`?` anywhere, names in any field, `+5`, `1-5#2`), which AWS refuses or reads otherwise.
fn check_field(spec: &FieldSpec, f: &str) -> Result<(), String> {
    let upper = f.to_ascii_uppercase();
    let value = |v: &str, max: u32| -> Result<u32, String> {
        if let Some(i) = spec.names.iter().position(|n| *n == v) {
            return Ok(spec.min + i as u32);
        }
        if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{v:?} is not a number or name"));
        }
        let n: u32 = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
        if n < spec.min || n > max {
            return Err(format!("{n} is out of range {}-{max}", spec.min));
        }
        Ok(n)
    };
    if f == "*" || (spec.day && f == "?") {
        return Ok(());
    }
    if spec.day && spec.max == 31 {
        if upper == "L" {
            return Ok(());
        }
        if let Some(d) = upper.strip_suffix('W') {
            return value(d, 31).map(|_| ());
        }
    }
    if spec.day && spec.max == 7 {
        // Only Sunday as 0 or SUN here: croner reads `7L` as never.
        if let Some((d, n)) = upper.split_once('#') {
            value(d, 6)?;
            return match n {
                "1" | "2" | "3" | "4" | "5" => Ok(()),
                _ => Err(format!("#{n}: the week must be 1-5")),
            };
        }
        if let Some(d) = upper.strip_suffix('L') {
            return value(d, 6).map(|_| ());
        }
    }
    for item in upper.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n)
                    if (1..=spec.max).contains(&n) && step.bytes().all(|b| b.is_ascii_digit()) => {}
                _ => return Err(format!("step {step:?} must be 1-{}", spec.max)),
            }
            if range == "*" {
                continue;
            }
        }
        match range.split_once('-') {
            Some((a, b)) => {
                // SUN ends a range as 7, Sunday at the end of the week: `MON-SUN`.
                let b = match b {
                    "SUN" if spec.max == 7 => 7,
                    b => value(b, spec.max)?,
                };
                let a = value(a, spec.max)?;
                if a > b {
                    return Err(format!("the range {range} runs backwards"));
                }
            }
            None => {
                value(range, spec.max)?;
            }
        }
    }
    Ok(())
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
    }

    #[test]
    fn only_what_both_schedulers_read_alike_is_accepted() {
        // Found by the `cron_parse` fuzz target: croner takes these, EventBridge Scheduler
        // refuses them (or reads them otherwise), so the automation failed on AWS.
        for bad in [
            "*/5 ? * * *",   // `?` outside the day fields
            "MON * * * *",   // a name in another field
            "+5 * * * *",    // a sign
            "0 9 * * 1-5#2", // `#` on a range
            "0 9 * * 7L",    // croner reads it as never
            "0 0 LW * *",    // croner refuses it
            "0 0 1,L * *",   // `L` in a list
            "*/60 * * * *",  // a step past the field
            "007 * * * *",   // three digits
        ] {
            match CronExpr::parse(bad) {
                Err(Error::Invalid { details, .. }) => {
                    assert!(details["cronExpression"].contains('"'), "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        for good in [
            "0 9 ? * 1",
            "0 9 * * MON-SUN",
            "0 9 * * mon-fri",
            "0 12 15W * *",
            "0 12 15w * *",
            "0 0 L * *",
            "0 9 * * 5L",
            "0 9 * * SUN#1",
            "5/15 */2 1-31/2 JAN-DEC/3 *",
        ] {
            assert!(CronExpr::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            TimeZoneName::parse("Europe/Paris").unwrap().as_str(),
            "Europe/Paris"
        );
    }
}
