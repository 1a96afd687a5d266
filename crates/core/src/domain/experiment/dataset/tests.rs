//! Unit tests of dataset validation and the JSONL/CSV parsers.

use super::*;
use serde_json::json;

fn item(input: &str, expected: Option<Value>) -> DatasetItem {
    DatasetItem {
        input: input.into(),
        expected,
    }
}

/// The error's field → message map.
fn details(e: Error) -> FieldErrors {
    match e {
        Error::Invalid { details, .. } => details,
        other => panic!("not Invalid: {other:?}"),
    }
}

/// The message of a `dataset` error.
fn dataset_error(r: Result<Vec<DatasetItem>, Error>) -> String {
    let e = r.expect_err("an error");
    let msg = e.to_string();
    assert!(details(e).contains_key("dataset"), "{msg}");
    msg
}

// ---- the item type and validation ----

#[test]
fn items_read_and_write_the_documented_json() {
    let wire = json!([{"input": "a", "expected": {"x": [1]}}, {"input": "b"}]);
    let items: Vec<DatasetItem> = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(items, [item("a", Some(json!({"x": [1]}))), item("b", None)]);
    assert_eq!(serde_json::to_value(&items).unwrap(), wire);
}

#[test]
fn validate_accepts_one_to_a_thousand_items() {
    assert!(validate_items(&[item("q", Some(json!(1)))], true).is_ok());
    assert!(validate_items(&[item("q", None)], false).is_ok());
    let many = vec![item("q", Some(json!("a"))); MAX_ITEMS];
    assert!(validate_items(&many, true).is_ok());
}

#[test]
fn validate_rejects_an_empty_or_oversized_dataset() {
    let d = details(validate_items(&[], true).unwrap_err());
    assert_eq!(d["dataset"], "has no items");
    let too_many = vec![item("q", Some(json!(1))); MAX_ITEMS + 1];
    let d = details(validate_items(&too_many, true).unwrap_err());
    assert_eq!(d["dataset"], "has 1001 items; at most 1000 are allowed");
}

#[test]
fn validate_names_each_bad_item_field() {
    let items = [
        item("fine", Some(json!(1))),
        item("  \n", Some(json!(1))),
        item("no answer", None),
        item(&"é".repeat(MAX_INPUT_CHARS + 1), Some(Value::Null)),
        item(&"é".repeat(MAX_INPUT_CHARS), Some(json!(0))),
    ];
    let d = details(validate_items(&items, true).unwrap_err());
    assert_eq!(d.len(), 4);
    assert_eq!(d["dataset.items[1].input"], "is blank");
    assert_eq!(d["dataset.items[2].expected"], "is required by this scorer");
    assert_eq!(
        d["dataset.items[3].input"],
        "is 20001 characters long; at most 20000 are allowed"
    );
    assert!(d.contains_key("dataset.items[3].expected"));
    // Without a need for `expected`, only the inputs are wrong.
    let d = details(validate_items(&items, false).unwrap_err());
    assert_eq!(
        d.keys().collect::<Vec<_>>(),
        ["dataset.items[1].input", "dataset.items[3].input"]
    );
}

#[test]
fn validate_reports_at_most_ten_problems() {
    let items = vec![item(" ", None); 50];
    assert_eq!(
        details(validate_items(&items, false).unwrap_err()).len(),
        10
    );
}

// ---- format ----

#[test]
fn format_comes_from_the_name_or_the_content_type() {
    assert_eq!(format_of("data/eval.jsonl"), Some(Format::Jsonl));
    assert_eq!(format_of("EVAL.NDJSON"), Some(Format::Jsonl));
    assert_eq!(
        format_of("https://x.test/d/week.csv?sig=abc#top"),
        Some(Format::Csv)
    );
    assert_eq!(format_of("text/csv; charset=utf-8"), Some(Format::Csv));
    assert_eq!(format_of("application/x-ndjson"), Some(Format::Jsonl));
    assert_eq!(format_of("application/jsonl"), Some(Format::Jsonl));
    assert_eq!(format_of("application/json"), None);
    assert_eq!(format_of("notes.txt"), None);
    assert_eq!(format_of("text/plain"), None);
}

// ---- JSONL ----

#[test]
fn jsonl_with_blank_lines_crlf_and_a_bom() {
    let text = "\u{feff}{\"input\": \"a\", \"expected\": 42}\r\n\r\n  \n{\"input\": \"b\", \"expected\": \"x\", \"id\": 7}\n{\"input\": \"c\"}\n";
    let items = parse(text, Some(Format::Jsonl)).unwrap();
    assert_eq!(
        items,
        [
            item("a", Some(json!(42))),
            item("b", Some(json!("x"))),
            item("c", None)
        ]
    );
    assert_eq!(parse(text, None).unwrap(), items);
}

#[test]
fn jsonl_keeps_numbers_and_structures_as_json_and_reads_number_inputs_as_text() {
    let text = "{\"input\": 12, \"expected\": 3.5}\n{\"input\": true, \"expected\": {\"a\": [1]}}\n{\"input\": \"n\", \"expected\": null}";
    let items = parse(text, None).unwrap();
    assert_eq!(
        items,
        [
            item("12", Some(json!(3.5))),
            item("true", Some(json!({"a": [1]}))),
            item("n", None),
        ]
    );
    assert!(items[0].expected.as_ref().unwrap().is_f64());
}

#[test]
fn jsonl_errors_name_the_line() {
    let bad = "{\"input\": \"a\"}\n\n{\"input\": \"b\"}\n{\"input\": \"c\",}\n";
    let msg = dataset_error(parse(bad, None));
    assert!(
        msg.starts_with("dataset: line 4: not valid JSON ("),
        "{msg}"
    );
    assert!(msg.contains("column"), "{msg}");
    let cases = [
        (
            "{\"input\": \"a\"}\n[1, 2]",
            "dataset: line 2: is not a JSON object",
        ),
        ("{\"expected\": 1}", "dataset: line 1: no \"input\""),
        (
            "{\"input\": [\"a\"]}",
            "dataset: line 1: \"input\" must be a string",
        ),
        (
            "{\"input\": \"a\"}\n{\"input\": \"  \"}",
            "dataset: line 2: input is blank",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            dataset_error(parse(text, Some(Format::Jsonl))),
            want,
            "{text}"
        );
    }
}

#[test]
fn more_than_a_thousand_items_is_an_error() {
    let jsonl = "{\"input\": \"q\"}\n".repeat(MAX_ITEMS);
    assert_eq!(parse(&jsonl, None).unwrap().len(), MAX_ITEMS);
    let msg = dataset_error(parse(&format!("{jsonl}{{\"input\": \"q\"}}"), None));
    assert_eq!(
        msg,
        "dataset: has more than 1000 items; at most 1000 are allowed"
    );
    let csv = format!("input\n{}", "q\n".repeat(MAX_ITEMS + 1));
    assert!(dataset_error(parse(&csv, None)).contains("more than 1000 items"));
}

#[test]
fn a_file_without_items_is_an_error() {
    for (text, format) in [
        ("", None),
        ("\n \n", Some(Format::Jsonl)),
        ("input,expected\n", None),
    ] {
        assert_eq!(
            dataset_error(parse(text, format)),
            "dataset: has no items",
            "{text:?}"
        );
    }
}

// ---- CSV ----

#[test]
fn csv_reads_the_input_and_expected_columns_by_name() {
    let text = "id, Expected ,INPUT\n1,Paris,Capital of France?\n2,,Say hi\n";
    let items = parse(text, None).unwrap();
    assert_eq!(
        items,
        [
            item("Capital of France?", Some(json!("Paris"))),
            item("Say hi", None)
        ]
    );
    let only_input = parse("input\nhello\n", Some(Format::Csv)).unwrap();
    assert_eq!(only_input, [item("hello", None)]);
}

#[test]
fn csv_quotes_keep_commas_quotes_and_newlines_with_crlf() {
    let text = "input,expected\r\n\"Hello, world\",\"say \"\"hi\"\"\"\r\n\"line one\r\nline two\",ok\r\n\r\nlast,\"\"\r\n";
    let items = parse(text, Some(Format::Csv)).unwrap();
    assert_eq!(
        items,
        [
            item("Hello, world", Some(json!("say \"hi\""))),
            item("line one\r\nline two", Some(json!("ok"))),
            item("last", None),
        ]
    );
}

#[test]
fn csv_numbers_stay_numbers_and_other_cells_stay_strings() {
    let text = "input,expected\na,42\nb, -1.5e2 \nc,007\nd,1,5\ne,\" 3 \"\nf,true\n";
    let err = dataset_error(parse(text, None));
    assert!(
        err.starts_with("dataset: line 5: has 3 fields but the header has 2"),
        "{err}"
    );
    let text = "input,expected\na,42\nb, -1.5e2 \nc,007\nd,\"1,5\"\ne,\" 3 \"\nf,true\n";
    let items = parse(text, None).unwrap();
    let expected: Vec<_> = items.into_iter().map(|i| i.expected.unwrap()).collect();
    assert_eq!(
        expected,
        [
            json!(42),
            json!(-150.0),
            json!("007"),
            json!("1,5"),
            json!(3),
            json!("true")
        ]
    );
}

#[test]
fn csv_errors_name_the_line() {
    let cases = [
        ("question,answer\nq,a\n", "dataset: line 1: the header has no \"input\" column"),
        ("input,Input\nq,a\n", "dataset: line 1: the header has two \"input\" columns"),
        ("input\n\"q\nstill open", "dataset: line 2: a quoted field is not closed"),
        ("input,expected\n\"multi\nline\",1\n\"bad\"x,1\n", "dataset: line 4: text after a closing quote (write \"\" for a quote inside a quoted field)"),
        ("input,expected\nq,1\n  ,2\n", "dataset: line 3: input is blank"),
    ];
    for (text, want) in cases {
        assert_eq!(
            dataset_error(parse(text, Some(Format::Csv))),
            want,
            "{text:?}"
        );
    }
}

#[test]
fn sniffing_picks_jsonl_for_objects_and_csv_otherwise() {
    assert_eq!(
        parse("\n  {\"input\": \"a\"}", None).unwrap(),
        [item("a", None)]
    );
    assert_eq!(
        parse("input\n{not json}\n", None).unwrap(),
        [item("{not json}", None)]
    );
    // A forced format wins over the content.
    assert!(parse("{\"input\": \"a\"}", Some(Format::Csv)).is_err());
}
