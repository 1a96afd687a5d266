//! Timestamps on the wire: RFC 3339 in UTC with milliseconds (`2026-03-09T13:00:00.123Z`), the
//! precision both stores keep, the same shape whatever the backend. Written digit by digit:
//! chrono's `Serialize` goes through `core::fmt`, which was 8 % of an instance list's CPU.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format(t: &DateTime<Utc>) -> String {
    match digits(t) {
        Some(b) => ascii(&b).to_owned(),
        None => t.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// The 24 ASCII bytes for years 0–9999 (chrono writes the others).
fn digits(t: &DateTime<Utc>) -> Option<[u8; 24]> {
    // The naive UTC value once: each field read on a `DateTime` adds the (zero) offset again.
    let t = t.naive_utc();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    // a leap second (nanosecond ≥ 1e9) stays in its second, as chrono writes it
    put(17, 2, t.second());
    put(20, 3, (t.nanosecond() % 1_000_000_000) / 1_000_000);
    Some(b)
}

fn ascii(b: &[u8; 24]) -> &str {
    // only ASCII digits and separators are ever written
    std::str::from_utf8(b).unwrap_or_default()
}

pub fn ser<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match digits(t) {
        Some(b) => s.serialize_str(ascii(&b)),
        None => s.serialize_str(&format(t)),
    }
}

pub fn ser_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser(t, s),
        None => s.serialize_none(),
    }
}

pub fn ser_vec<S: Serializer>(ts: &[DateTime<Utc>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ts.iter().map(format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn written_as_chrono_writes_milliseconds() {
        let mut t = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        // a walk over seconds, minutes, days, leap years and sub-millisecond parts
        for step in 0..20_000i64 {
            t += chrono::Duration::nanoseconds(step * 987_654_321_123 + 7);
            assert_eq!(format(&t), t.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        let far = Utc.with_ymd_and_hms(12_000, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            format(&far),
            far.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
    }
}
