//! Unit tests of `experiments`: scorer spellings, number formatting, argument splitting.

use super::show::latency;
use super::*;

#[test]
fn every_scorer_spelling_reads_back_as_itself() {
    for spec in [
        "exact",
        "contains",
        "numeric:mae",
        "numeric:rmse",
        "jsonField:answer.city",
    ] {
        let scorer = scorer_of(parse_scorer_kind(spec).unwrap(), None).unwrap();
        assert_eq!(scorer_spec(&scorer), spec);
    }
    let judge = scorer_of(
        parse_scorer_kind("LLMJUDGE").unwrap(),
        Some("Correct?".into()),
    )
    .unwrap();
    assert_eq!(
        judge,
        Scorer::LlmJudge {
            rubric: "Correct?".into()
        }
    );
    assert_eq!(
        parse_scorer_kind("Numeric:RMSE").unwrap(),
        ScorerKind::Numeric(Metric::Rmse)
    );
}

#[test]
fn bad_scorers_say_what_is_expected() {
    assert!(parse_scorer_kind("fuzzy")
        .unwrap_err()
        .contains("numeric:mae"));
    assert!(parse_scorer_kind("numeric")
        .unwrap_err()
        .contains("numeric:rmse"));
    assert!(parse_scorer_kind("numeric:median").is_err());
    assert!(parse_scorer_kind("exact:x").is_err());
    assert!(parse_scorer_kind("jsonField:a..b")
        .unwrap_err()
        .contains("dot path"));
    assert!(parse_scorer_kind("jsonField").is_err());
    let no_rubric = scorer_of(ScorerKind::LlmJudge, None).unwrap_err();
    assert!(no_rubric.to_string().contains("--rubric"));
    assert!(scorer_of(ScorerKind::Exact, Some("x".into())).is_err());
    assert!(scorer_of(ScorerKind::LlmJudge, Some("  ".into())).is_err());
}

#[test]
fn scores_keep_four_significant_digits() {
    assert_eq!(sig4(1.0), "1.000");
    assert_eq!(sig4(1.0 / 3.0), "0.3333");
    assert_eq!(sig4(12.345_67), "12.35");
    assert_eq!(sig4(12_345.6), "12346");
    assert_eq!(sig4(9.999_96), "10.00");
    assert_eq!(sig4(-0.5), "-0.5000");
    assert_eq!(sig4(0.0), "0");
}

#[test]
fn file_specs_split_at_the_first_colon_and_cells_are_cut() {
    let f = file_of("aqi-desk:data/a:b.csv").unwrap();
    assert_eq!(
        (f.instance_id.as_str(), f.path.as_str()),
        ("aqi-desk", "data/a:b.csv")
    );
    assert!(file_of("no-path").is_err());
    assert!(file_of(":x.csv").is_err());
    assert_eq!(cut("abcdef", 4), "abc…");
    assert_eq!(cut("abc", 4), "abc");
    assert_eq!(latency(840.2), "840 ms");
    assert_eq!(latency(2400.0), "2.4 s");
}
