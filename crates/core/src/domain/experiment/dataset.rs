//! Experiment datasets (API.md § Experiments, dataset `D`): the item type, its validation, and
//! the parsers for the JSONL and CSV files a dataset may come from (a workspace file or a URL).
//! Pure text in, items out; fetching the text is the caller's job.
//!
//! Parse errors name the field `dataset` and the 1-based line ("dataset: line 4: ..."); item
//! validation names the 0-based item ("dataset.items[3].input").

use crate::error::{Error, FieldErrors};
use serde_json::{Map, Value};

/// One dataset item as stored: the input text and the expected answer (any JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DatasetItem {
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
}

pub const MAX_ITEMS: usize = 1000;
pub const MAX_INPUT_CHARS: usize = 20_000;
/// At most this many item problems are reported at once.
const MAX_REPORTED: usize = 10;

/// Checks items: 1..=MAX_ITEMS, each input non-blank and at most MAX_INPUT_CHARS characters,
/// `expected` present (not null) when `needs_expected`. Every problem is named by its field,
/// up to ten at once.
pub fn validate_items(items: &[DatasetItem], needs_expected: bool) -> Result<(), Error> {
    if items.is_empty() {
        return Err(Error::invalid("dataset", "has no items"));
    }
    if items.len() > MAX_ITEMS {
        return Err(Error::invalid(
            "dataset",
            format!("has {} items; at most {MAX_ITEMS} are allowed", items.len()),
        ));
    }
    let mut problems = FieldErrors::new();
    for (i, item) in items.iter().enumerate() {
        if problems.len() >= MAX_REPORTED {
            break;
        }
        if let Err(msg) = check_input(&item.input) {
            problems.insert(format!("dataset.items[{i}].input"), msg);
        }
        if needs_expected && item.expected.as_ref().is_none_or(Value::is_null) {
            problems.insert(
                format!("dataset.items[{i}].expected"),
                "is required by this scorer".to_owned(),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_many(problems))
    }
}

fn check_input(input: &str) -> Result<(), String> {
    if input.trim().is_empty() {
        return Err("is blank".to_owned());
    }
    let chars = input.chars().count();
    if chars > MAX_INPUT_CHARS {
        return Err(format!(
            "is {chars} characters long; at most {MAX_INPUT_CHARS} are allowed"
        ));
    }
    Ok(())
}

/// A dataset file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 with a header row.
    Csv,
}

/// The format a file name, URL path or content type names: `.jsonl`/`.ndjson`,
/// `application/jsonl`, `application/x-ndjson`, ... → JSONL; `.csv`, `text/csv`, ... → CSV;
/// anything else → `None` (then [`parse`] sniffs the content).
pub fn format_of(name_or_content_type: &str) -> Option<Format> {
    let s = name_or_content_type.trim().to_ascii_lowercase();
    // A content type's parameters, a URL's query or fragment.
    let s = s.split([';', '?', '#']).next().unwrap_or_default().trim();
    if s.ends_with(".jsonl") || s.ends_with(".ndjson") {
        return Some(Format::Jsonl);
    }
    if s.ends_with(".csv") {
        return Some(Format::Csv);
    }
    match s {
        "application/jsonl"
        | "application/x-jsonl"
        | "application/jsonlines"
        | "application/x-jsonlines"
        | "application/json-lines"
        | "application/ndjson"
        | "application/x-ndjson"
        | "text/jsonl"
        | "text/x-ndjson" => Some(Format::Jsonl),
        "text/csv" | "application/csv" | "text/x-csv" | "text/comma-separated-values" => {
            Some(Format::Csv)
        }
        _ => None,
    }
}

fn at_line(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::invalid("dataset", format!("line {line}: {msg}"))
}

fn too_many() -> Error {
    Error::invalid(
        "dataset",
        format!("has more than {MAX_ITEMS} items; at most {MAX_ITEMS} are allowed"),
    )
}

/// Parses a JSONL or CSV dataset (a leading UTF-8 BOM is ignored).
///
/// - JSONL: one JSON object per non-blank line with `input` (a string; a number or bool is
///   taken as its text) and optional `expected` (any JSON; null is none); other keys ignored.
/// - CSV (RFC 4180: quoted fields, `""` escapes, CRLF or LF, newlines inside quotes): a header
///   row with an `input` column and optionally `expected` (names trimmed, any case); every row
///   has the header's number of fields; blank lines are skipped. An `expected` cell that is a
///   JSON number stays a number, else it is a string; an empty cell is none.
///
/// `format` `None` sniffs: first non-blank character `{` → JSONL, else CSV. Errors name the
/// line ("dataset: line 4: ..."); no items, a blank or too long input, or more than
/// MAX_ITEMS items are errors too.
pub fn parse(text: &str, format: Option<Format>) -> Result<Vec<DatasetItem>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = format.unwrap_or_else(|| {
        if text.trim_start().starts_with('{') {
            Format::Jsonl
        } else {
            Format::Csv
        }
    });
    let items = match format {
        Format::Jsonl => parse_jsonl(text)?,
        Format::Csv => parse_csv(text)?,
    };
    if items.is_empty() {
        return Err(Error::invalid("dataset", "has no items"));
    }
    Ok(items)
}

fn parse_jsonl(text: &str) -> Result<Vec<DatasetItem>, Error> {
    let mut items = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if items.len() == MAX_ITEMS {
            return Err(too_many());
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            let msg = e.to_string();
            let what = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m);
            at_line(
                line_no,
                format!("not valid JSON ({what} at column {})", e.column()),
            )
        })?;
        let Value::Object(mut obj) = value else {
            return Err(at_line(line_no, "is not a JSON object"));
        };
        items.push(item_from_object(&mut obj).map_err(|m| at_line(line_no, m))?);
    }
    Ok(items)
}

fn item_from_object(obj: &mut Map<String, Value>) -> Result<DatasetItem, String> {
    let input = match obj.remove("input") {
        Some(Value::String(s)) => s,
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        None | Some(Value::Null) => return Err("no \"input\"".to_owned()),
        Some(_) => return Err("\"input\" must be a string".to_owned()),
    };
    check_input(&input).map_err(|m| format!("input {m}"))?;
    let expected = obj.remove("expected").filter(|v| !v.is_null());
    Ok(DatasetItem { input, expected })
}

/// One CSV record and the line it starts on.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Splits RFC 4180 text into records (LF or CRLF line ends, also inside quotes).
fn csv_records(text: &str) -> Result<Vec<Record>, Error> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start_line = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        loop {
            // At the start of a field.
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(at_line(start_line, "a quoted field is not closed")),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',' | '\n' | '\r') => {}
                    Some(_) => {
                        return Err(at_line(line, "text after a closing quote (write \"\" for a quote inside a quoted field)"));
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if matches!(c, ',' | '\n' | '\r') {
                        break;
                    }
                    field.push(c);
                    chars.next();
                }
            }
            fields.push(std::mem::take(&mut field));
            match chars.next() {
                Some(',') => continue,
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    line += 1;
                    break;
                }
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some(c) => {
                    // A bare CR: not a line end in RFC 4180.
                    return Err(at_line(line, format!("unexpected {c:?}")));
                }
                None => break,
            }
        }
        records.push(Record {
            line: start_line,
            fields,
        });
    }
    Ok(records)
}

fn parse_csv(text: &str) -> Result<Vec<DatasetItem>, Error> {
    let records = csv_records(text)?;
    let blank = |r: &Record| r.fields.len() == 1 && r.fields[0].trim().is_empty();
    let mut rows = records.into_iter().filter(|r| !blank(r));
    let Some(header) = rows.next() else {
        return Ok(Vec::new());
    };
    let column = |name: &str| -> Result<Option<usize>, Error> {
        let mut at = header
            .fields
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim().eq_ignore_ascii_case(name))
            .map(|(i, _)| i);
        match (at.next(), at.next()) {
            (Some(_), Some(_)) => Err(at_line(
                header.line,
                format!("the header has two \"{name}\" columns"),
            )),
            (i, _) => Ok(i),
        }
    };
    let Some(input_col) = column("input")? else {
        return Err(at_line(header.line, "the header has no \"input\" column"));
    };
    let expected_col = column("expected")?;
    let width = header.fields.len();
    let mut items = Vec::new();
    for row in rows {
        if items.len() == MAX_ITEMS {
            return Err(too_many());
        }
        if row.fields.len() != width {
            return Err(at_line(
                row.line,
                format!(
                    "has {} fields but the header has {width} (quote fields that contain commas)",
                    row.fields.len()
                ),
            ));
        }
        let mut fields = row.fields;
        let input = std::mem::take(&mut fields[input_col]);
        check_input(&input).map_err(|m| at_line(row.line, format!("input {m}")))?;
        let expected = expected_col
            .map(|i| std::mem::take(&mut fields[i]))
            .filter(|cell| !cell.is_empty())
            .map(|cell| match serde_json::from_str::<Value>(cell.trim()) {
                Ok(n @ Value::Number(_)) => n,
                _ => Value::String(cell),
            });
        items.push(DatasetItem { input, expected });
    }
    Ok(items)
}

#[cfg(test)]
mod tests;
