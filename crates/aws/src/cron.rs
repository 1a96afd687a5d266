//! Standard 5-field cron → EventBridge Scheduler `cron()` (6 fields: minutes hours
//! day-of-month month day-of-week year).
//!
//! Differences handled: AWS numbers weekdays 1-7 from Sunday (standard: 0-7, 0 and 7 =
//! Sunday, 1 = Monday); AWS requires `?` in exactly one of the two day fields; and where
//! standard cron sets both day fields it fires when *either* matches, which one AWS
//! expression cannot say — so that case becomes two schedules.

use anyhow::{bail, Context};

const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One weekday token (number 0-7 or name) → standard number 0-7, as croner (the embedded
/// scheduler) reads it: `SUN` is 7 where it ends a range (`MON-SUN`), 0 elsewhere.
fn weekday(token: &str, range_end: bool) -> anyhow::Result<u32> {
    let t = token.to_ascii_uppercase();
    if let Some(i) = DAYS.iter().position(|d| *d == t) {
        return Ok(if i == 0 && range_end { 7 } else { i as u32 });
    }
    let n: u32 = t
        .parse()
        .with_context(|| format!("day-of-week {token:?}"))?;
    if n > 7 {
        bail!("day-of-week {n} is out of range 0-7");
    }
    Ok(n)
}

/// AWS number (1 = Sunday) of a standard weekday number (0 or 7 = Sunday).
fn aws_day(std: u32) -> u32 {
    std % 7 + 1
}

/// Expands a standard day-of-week field (lists, ranges, steps, names) to the set of days,
/// over 0-7 as croner does: `*/2` is 0,2,4,6 and `1/3` is 1,4,7 (Monday, Thursday, Sunday).
fn weekday_set(field: &str) -> anyhow::Result<[bool; 7]> {
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().context("day-of-week step")?.max(1)),
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 7)
        } else if let Some((a, b)) = range.split_once('-') {
            (weekday(a, false)?, weekday(b, true)?)
        } else if item.contains('/') {
            (weekday(range, false)?, 7)
        } else {
            let d = weekday(range, false)?;
            (d, d)
        };
        if lo > hi {
            bail!("day-of-week range {range} runs backwards");
        }
        for d in (lo..=hi).step_by(step as usize) {
            days[(d % 7) as usize] = true;
        }
    }
    Ok(days)
}

/// AWS day-of-week from a standard one: a list of AWS numbers with runs as ranges.
fn aws_weekdays(field: &str) -> anyhow::Result<String> {
    // Nth weekday (`1#2`) and last weekday (`5L`) keep their suffix.
    if let Some((d, n)) = field.split_once('#') {
        return Ok(format!("{}#{n}", aws_day(weekday(d, false)?)));
    }
    if let Some(d) = field.strip_suffix('L').filter(|d| !d.is_empty()) {
        return Ok(format!("{}L", aws_day(weekday(d, false)?)));
    }
    let set = weekday_set(field)?;
    let aws: Vec<u32> = (0..7u32)
        .filter(|d| set[*d as usize])
        .map(aws_day)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if aws.len() == 7 {
        return Ok("*".into());
    }
    let mut parts: Vec<String> = vec![];
    let mut i = 0;
    while i < aws.len() {
        let start = aws[i];
        let mut end = start;
        while i + 1 < aws.len() && aws[i + 1] == end + 1 {
            i += 1;
            end = aws[i];
        }
        parts.push(match end - start {
            0 => start.to_string(),
            1 => format!("{start},{end}"),
            _ => format!("{start}-{end}"),
        });
        i += 1;
    }
    Ok(parts.join(","))
}

fn is_any(field: &str) -> bool {
    field == "*" || field == "?"
}

/// The `cron(...)` expression(s) for one standard expression: one, or two when both day
/// fields are set (fire on either).
pub fn to_aws(expr: &str) -> anyhow::Result<Vec<String>> {
    let f: Vec<&str> = expr.split_whitespace().collect();
    let [min, hour, dom, month, dow] = f.as_slice() else {
        bail!("expected 5 fields, got {}", f.len());
    };
    // AWS reads names, `L` and `W` in capitals only; croner in any case.
    let [dom, month, dow] = [dom, month, dow].map(|f| f.to_ascii_uppercase());
    let wrap = |dom: &str, dow: &str| format!("cron({min} {hour} {dom} {month} {dow} *)");
    Ok(match (is_any(&dom), is_any(&dow)) {
        (_, true) => vec![wrap(if dom == "?" { "*" } else { &dom }, "?")],
        (true, false) => vec![wrap("?", &aws_weekdays(&dow)?)],
        (false, false) => vec![wrap(&dom, "?"), wrap("?", &aws_weekdays(&dow)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::to_aws;

    #[test]
    fn conversion_table() {
        let cases: &[(&str, &[&str])] = &[
            ("* * * * *", &["cron(* * * * ? *)"]),
            ("0 9 * * *", &["cron(0 9 * * ? *)"]),
            ("*/5 * * * *", &["cron(*/5 * * * ? *)"]),
            ("0 */2 * * *", &["cron(0 */2 * * ? *)"]),
            ("15,45 8-18 * * *", &["cron(15,45 8-18 * * ? *)"]),
            ("0 0-23/3 * * *", &["cron(0 0-23/3 * * ? *)"]),
            ("0 9 * * 1-5", &["cron(0 9 ? * 2-6 *)"]),
            ("0 9 * * MON-FRI", &["cron(0 9 ? * 2-6 *)"]),
            ("0 9 * * mon-fri", &["cron(0 9 ? * 2-6 *)"]),
            ("0 9 * * 0", &["cron(0 9 ? * 1 *)"]),
            ("0 9 * * 7", &["cron(0 9 ? * 1 *)"]),
            ("0 9 * * SUN", &["cron(0 9 ? * 1 *)"]),
            ("0 9 * * 6", &["cron(0 9 ? * 7 *)"]),
            ("0 9 * * 0,6", &["cron(0 9 ? * 1,7 *)"]),
            ("0 9 * * SAT,SUN", &["cron(0 9 ? * 1,7 *)"]),
            ("0 9 * * 5-7", &["cron(0 9 ? * 1,6,7 *)"]),
            ("0 9 * * 1,3,5", &["cron(0 9 ? * 2,4,6 *)"]),
            ("0 9 * * */2", &["cron(0 9 ? * 1,3,5,7 *)"]),
            ("0 9 * * 1-5/2", &["cron(0 9 ? * 2,4,6 *)"]),
            ("0 9 * * 0-6", &["cron(0 9 ? * * *)"]),
            ("0 9 * * 2-4", &["cron(0 9 ? * 3-5 *)"]),
            ("0 9 1 * *", &["cron(0 9 1 * ? *)"]),
            ("0 0 1,15 * *", &["cron(0 0 1,15 * ? *)"]),
            ("0 0 */10 * *", &["cron(0 0 */10 * ? *)"]),
            ("30 4 1 JAN *", &["cron(30 4 1 JAN ? *)"]),
            ("0 12 * jan-mar *", &["cron(0 12 * JAN-MAR ? *)"]),
            ("0 12 * */3 *", &["cron(0 12 * */3 ? *)"]),
            ("0 0 L * *", &["cron(0 0 L * ? *)"]),
            ("0 9 * * 1#2", &["cron(0 9 ? * 2#2 *)"]),
            ("0 9 * * 5L", &["cron(0 9 ? * 6L *)"]),
            // both day fields: standard cron fires on either, so two schedules
            ("0 9 13 * 5", &["cron(0 9 13 * ? *)", "cron(0 9 ? * 6 *)"]),
            (
                "0 0 1,15 * MON",
                &["cron(0 0 1,15 * ? *)", "cron(0 0 ? * 2 *)"],
            ),
        ];
        assert!(cases.len() >= 25);
        for (input, want) in cases {
            let got = to_aws(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn weekdays_read_as_croner_reads_them() {
        // Found by the `cron_parse` fuzz target: these fired on other days on AWS than in
        // the embedded scheduler, or did not convert at all.
        let cases: &[(&str, &[&str])] = &[
            // 7 is Sunday at either end of a range (was: every day)
            ("0 9 * * 7-7", &["cron(0 9 ? * 1 *)"]),
            // a stepped start runs to 7: Monday, Thursday, Sunday (was: no Sunday)
            ("0 9 * * 1/3", &["cron(0 9 ? * 1,2,5 *)"]),
            ("0 9 * * 5/2", &["cron(0 9 ? * 1,6 *)"]),
            // SUN ends a range as 7 (was: refused as backwards)
            ("0 9 * * MON-SUN", &["cron(0 9 ? * * *)"]),
            ("0 9 * * fri-sun", &["cron(0 9 ? * 1,6,7 *)"]),
            // AWS reads `L`, `W` and names in capitals only
            ("0 0 15w * *", &["cron(0 0 15W * ? *)"]),
            ("0 0 l * *", &["cron(0 0 L * ? *)"]),
            ("0 9 * * 5l", &["cron(0 9 ? * 6L *)"]),
            ("0 9 * * fri#2", &["cron(0 9 ? * 6#2 *)"]),
        ];
        for (input, want) in cases {
            let got = to_aws(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        for bad in ["* * * *", "0 9 * * 8", "0 9 * * FOO", "0 9 * * 5-1"] {
            assert!(to_aws(bad).is_err(), "{bad}");
        }
    }
}
