//! Cron expressions: the API's parser (`CronExpr::parse`), the next fire time on a zone's
//! wall clock (`CronExpr::next_after`), and the conversion to EventBridge Scheduler
//! (`operator_aws::cron::to_aws`).
//!
//! Input: UTF-8 text, line 1 the expression, line 2 an IANA zone (default UTC), line 3 an
//! RFC 3339 instant to start from (default 2026-01-01T00:00:00Z).
//!
//! Properties:
//! - a refused expression is a 400 naming `cronExpression`, never a panic;
//! - an accepted one reads back as itself (the stored form parses to the same form);
//! - whatever the API accepts converts to AWS (else creating the automation fails on AWS),
//!   into one or two expressions that are valid for EventBridge Scheduler, and that fire on
//!   the same days as the expression does in the embedded scheduler (croner);
//! - `next_after` returns in bounded time, strictly after its start, at a wall-clock time
//!   the expression matches, and no earlier fire lies between (asking again from just
//!   before the answer gives the same answer).
#![no_main]

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use libfuzzer_sys::fuzz_target;
use operator_core::domain::{CronExpr, TimeZoneName};
use operator_core::Error;

/// The real conversion, compiled from the AWS crate's source: `operator-aws` itself would
/// bring every AWS SDK into the fuzz build, and `cron.rs` needs nothing but `anyhow`.
#[allow(dead_code)]
#[path = "../../crates/aws/src/cron.rs"]
mod aws_cron;

/// Days compared between the embedded schedule and the AWS one.
const DAYS_COMPARED: usize = 40;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let expr = lines.next().unwrap_or_default();
    let tz = lines
        .next()
        .and_then(|z| TimeZoneName::parse(z.trim()).ok())
        .unwrap_or_else(TimeZoneName::utc)
        .tz();
    let after = lines
        .next()
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (1970..=3000).contains(&t.year()))
        .unwrap_or_else(|| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());

    // The conversion never panics, whatever it is given.
    let _ = aws_cron::to_aws(expr);

    let cron = match CronExpr::parse(expr) {
        Ok(c) => c,
        Err(Error::Invalid { details, .. }) => {
            assert!(
                details.contains_key("cronExpression"),
                "{expr:?}: {details:?}"
            );
            return;
        }
        Err(e) => panic!("{expr:?}: refused with {e:?}, not as invalid input"),
    };
    let stored = cron.as_str();
    let again = CronExpr::parse(stored).unwrap_or_else(|e| panic!("{stored:?} reparsed: {e}"));
    assert_eq!(again.as_str(), stored);

    let aws = aws_cron::to_aws(stored)
        .unwrap_or_else(|e| panic!("{stored:?} is accepted but does not convert to AWS: {e:#}"));
    assert!(matches!(aws.len(), 1 | 2), "{stored:?} → {aws:?}");
    for a in &aws {
        if let Err(why) = aws_valid(a) {
            panic!("{stored:?} → {a:?} is not a valid EventBridge Scheduler expression: {why}");
        }
    }
    same_days(stored, &aws);
    next_fires(&cron, after, tz);
});

/// `next_after` from `after` on `tz`, twice in a row.
fn next_fires(cron: &CronExpr, after: DateTime<Utc>, tz: Tz) {
    let plain = Cron::new(cron.as_str()).parse().expect("croner parses it");
    let mut t = after;
    for _ in 0..2 {
        let Some(next) = cron.next_after(t, tz) else {
            return;
        };
        assert!(next > t, "{}: {next} is not after {t}", cron.as_str());
        let local = next.with_timezone(&tz);
        assert!(
            plain.is_time_matching(&local).unwrap_or(false),
            "{}: {local} does not match",
            cron.as_str()
        );
        let before = next - Duration::seconds(1);
        if before > t {
            assert_eq!(
                cron.next_after(before, tz),
                Some(next),
                "{}: from {before} on {tz}",
                cron.as_str()
            );
        }
        t = next;
    }
}

/// The days of the AWS expression(s) are the days of the standard one, as croner reads
/// both: the AWS day fields are written back in standard form (weekdays 1-7 from Sunday →
/// 0-6, `?` → `*`) and the two schedules of a split expression are merged.
fn same_days(std_expr: &str, aws: &[String]) {
    let f: Vec<&str> = std_expr.split_whitespace().collect();
    let want = fire_days(&format!("0 0 {} {} {}", f[2], f[3], f[4]));
    let mut got: Vec<NaiveDate> = vec![];
    for a in aws {
        let inner = &a["cron(".len()..a.len() - 1];
        let g: Vec<&str> = inner.split(' ').collect();
        let dom = if g[2] == "?" { "*" } else { g[2] };
        let dow = std_weekdays(g[4]);
        got.extend(fire_days(&format!("0 0 {dom} {} {dow}", g[3])));
    }
    got.sort();
    got.dedup();
    got.truncate(DAYS_COMPARED);
    assert_eq!(got, want, "{std_expr:?} → {aws:?} fires on other days");
}

/// The first days (from 2026-01-01 UTC) a day-level expression fires on.
fn fire_days(expr: &str) -> Vec<NaiveDate> {
    let cron = Cron::new(expr)
        .parse()
        .unwrap_or_else(|e| panic!("{expr:?} does not parse: {e}"));
    let mut t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() - Duration::seconds(1);
    let mut days = vec![];
    while days.len() < DAYS_COMPARED {
        match cron.find_next_occurrence(&t, false) {
            Ok(next) => {
                days.push(next.date_naive());
                t = next;
            }
            Err(_) => break,
        }
    }
    days
}

/// An AWS day-of-week field (as `to_aws` writes it) in standard numbering.
fn std_weekdays(field: &str) -> String {
    if field == "?" || field == "*" {
        return "*".into();
    }
    let day = |n: &str| -> String {
        let n: u32 = n.parse().unwrap_or_else(|_| panic!("weekday {n:?}"));
        (n - 1).to_string()
    };
    field
        .split(',')
        .map(|item| {
            if let Some((d, n)) = item.split_once('#') {
                format!("{}#{n}", day(d))
            } else if let Some(d) = item.strip_suffix('L') {
                format!("{}L", day(d))
            } else if let Some((a, b)) = item.split_once('-') {
                format!("{}-{}", day(a), day(b))
            } else {
                day(item)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks an expression against EventBridge Scheduler's cron grammar: `cron(minutes hours
/// day-of-month month day-of-week year)`, each field a `*`, or a list of values, ranges
/// and `/` steps within the field's bounds; `?` in exactly one day field; `L` and `W` in
/// day-of-month, `L` and `#` in day-of-week; no step in day-of-week.
fn aws_valid(expr: &str) -> Result<(), String> {
    let inner = expr
        .strip_prefix("cron(")
        .and_then(|e| e.strip_suffix(')'))
        .ok_or("not cron(...)")?;
    let f: Vec<&str> = inner.split(' ').collect();
    let [min, hour, dom, month, dow, year] = f.as_slice() else {
        return Err(format!("{} fields, not 6", f.len()));
    };
    field(min, 0, 59, &[], false)?;
    field(hour, 0, 23, &[], false)?;
    field(month, 1, 12, &MONTHS, false)?;
    field(year, 1970, 2199, &[], false)?;
    match (*dom == "?", *dow == "?") {
        (true, false) => field(dow, 1, 7, &DAYS, true)?,
        (false, true) => day_of_month(dom)?,
        _ => return Err("exactly one of the day fields must be ?".into()),
    }
    Ok(())
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A value of a field: a number within bounds or one of its names.
fn value(v: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| *n == v) {
        return Ok(i as u32 + lo);
    }
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{v:?} is not a value"));
    }
    match v.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("{v} is out of {lo}-{hi}")),
    }
}

/// A list of `*`, values, ranges and steps; with `weekday`, also `NL` and `N#k` and no steps.
fn field(s: &str, lo: u32, hi: u32, names: &[&str], weekday: bool) -> Result<(), String> {
    if s == "*" {
        return Ok(());
    }
    for item in s.split(',') {
        if weekday {
            if let Some((d, n)) = item.split_once('#') {
                value(d, lo, hi, names)?;
                value(n, 1, 5, &[])?;
                continue;
            }
            if let Some(d) = item.strip_suffix('L') {
                value(d, lo, hi, names)?;
                continue;
            }
        }
        let (range, step) = match item.split_once('/') {
            Some(_) if weekday => return Err(format!("{item:?}: no steps in day-of-week")),
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            if value(step, 1, u32::MAX, &[])? == 0 {
                return Err("step 0".into());
            }
        }
        if range == "*" && step.is_some() {
            continue;
        }
        match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (value(a, lo, hi, names)?, value(b, lo, hi, names)?);
                if a > b {
                    return Err(format!("{item:?} runs backwards"));
                }
            }
            None => {
                value(range, lo, hi, names)?;
            }
        }
    }
    Ok(())
}

/// Day-of-month: the common grammar plus `L`, `LW` and `NW`.
fn day_of_month(s: &str) -> Result<(), String> {
    if s == "L" || s == "LW" {
        return Ok(());
    }
    if let Some(d) = s.strip_suffix('W') {
        return value(d, 1, 31, &[]).map(|_| ());
    }
    field(s, 1, 31, &[], false)
}
