//! What the client prints: the API's JSON (`--json`), or aligned tables and sentences. Every
//! string that came from the server (names, model text, error messages, file listings) goes
//! through [`clean`] before it reaches a terminal, so an escape sequence a model or an
//! instance wrote is shown, not executed.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::io::Write;

/// Text safe to print: control characters (other than newline and tab) and the invisible
/// bidirectional overrides are written as `\u{..}` escapes.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`clean`] for one table cell or line: newlines and tabs become spaces too.
pub fn clean_line(s: &str) -> String {
    clean(s).replace(['\n', '\t'], " ")
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// The API's JSON, pretty-printed.
pub fn print_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    println!("{text}");
}

/// A string field, cleaned for a cell; `-` when absent or null.
/// `yes` for `true`, else `no`.
pub fn yes_no(v: &Value) -> String {
    if *v == true { "yes" } else { "no" }.to_owned()
}

pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => clean_line(s),
        other => clean_line(&other.to_string()),
    }
}

/// Columns padded to the widest cell (the last column is not padded).
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: vec![],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: Vec<&str>| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    l.push_str(c);
                } else {
                    l.push_str(c);
                    l.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(self.headers.clone());
        for r in &self.rows {
            line(r.iter().map(String::as_str).collect());
        }
        out
    }

    /// Prints the table, or `empty` (a sentence saying what to do) when it has no rows.
    pub fn print_or(&self, empty: &str) {
        if self.is_empty() {
            println!("{empty}");
        } else {
            print!("{}", self.render());
            let _ = std::io::stdout().flush();
        }
    }
}

/// `"2026-11-28T09:00:00Z"` → `3h ago` / `in 5m`; `-` for null, the text itself if unparsable.
pub fn ago(v: &Value) -> String {
    match v.as_str() {
        None => "-".to_owned(),
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => relative(t.with_timezone(&Utc), Utc::now()),
            Err(_) => clean_line(s),
        },
    }
}

pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (n, future) = if secs < 0 {
        (-secs, true)
    } else {
        (secs, false)
    };
    let span = match n {
        0..=4 => return "just now".to_owned(),
        5..=59 => format!("{n}s"),
        60..=3599 => format!("{}m", n / 60),
        3600..=86_399 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// `key: value` lines, aligned, for one object.
pub fn print_fields(fields: &[(&str, String)]) {
    let w = fields
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in fields {
        println!("{k}:{}{v}", " ".repeat(w - k.chars().count() + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escape_sequences_and_bidi_overrides_are_shown_not_run() {
        assert_eq!(clean("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(clean("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(clean("line 1\nline 2\tend"), "line 1\nline 2\tend");
        assert_eq!(clean_line("a\nb"), "a b");
        assert_eq!(clean("\u{7}bell\r"), "\\u{7}bell\\u{d}");
    }

    #[test]
    fn tables_align_columns_and_leave_the_last_unpadded() {
        let mut t = Table::new(&["NAME", "STATUS"]);
        t.row(vec!["a-long-name".into(), "active".into()]);
        t.row(vec!["b".into(), "provisioning".into()]);
        assert_eq!(
            t.render(),
            "NAME         STATUS\na-long-name  active\nb            provisioning\n"
        );
    }

    #[test]
    fn times_are_relative_both_ways() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - chrono::Duration::seconds(90), now), "1m ago");
        assert_eq!(relative(now - chrono::Duration::hours(5), now), "5h ago");
        assert_eq!(relative(now + chrono::Duration::days(2), now), "in 2d");
        assert_eq!(ago(&Value::Null), "-");
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(true)), "true");
    }
}
