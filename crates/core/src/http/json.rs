//! JSON response bodies. With the `simd-json` feature (the servers: `operator`) they are
//! written with `sonic-rs` (SIMD string escaping): the same bytes as `serde_json` for every
//! value the API returns (tested below), in about two thirds of the time — serializing was a
//! seventh of an instance list's CPU. Without it (the Lambda artifact, built for size) with
//! `serde_json`. Not for bodies holding a `serde_json::value::RawValue` (a serde_json-only
//! token; none does).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A `200` (or the status beside it) with `value` as its `application/json` body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Room reserved up front: most bodies fit, larger ones grow once or twice.
const START: usize = 1024;

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(START);
        match write(&mut body, &self.0) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => {
                // Not through ApiError: its body is JSON too.
                tracing::error!(error = %e, "a response could not be written as JSON");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    r#"{"error":{"code":"internal","message":"the response could not be written"}}"#,
                )
                    .into_response()
            }
        }
    }
}

#[cfg(feature = "simd-json")]
fn write(body: &mut Vec<u8>, value: &impl Serialize) -> Result<(), sonic_rs::Error> {
    sonic_rs::to_writer(body, value)
}

#[cfg(not(feature = "simd-json"))]
fn write(body: &mut Vec<u8>, value: &impl Serialize) -> Result<(), serde_json::Error> {
    serde_json::to_writer(body, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn body(v: impl Serialize) -> Vec<u8> {
        let res = Json(v).into_response();
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    /// Byte for byte what serde_json writes: every character up to U+0800 and the special
    /// ones beyond (escapes, separators, astral planes), numbers at their edges, nesting.
    #[tokio::test]
    async fn writes_exactly_what_serde_json_writes() {
        let mut chars: Vec<char> = (0u32..0x800).filter_map(char::from_u32).collect();
        chars.extend([
            '\u{2028}',
            '\u{2029}',
            '\u{FEFF}',
            '\u{1F600}',
            '\u{10FFFF}',
        ]);
        for c in chars {
            let s = format!("a{c}b{c}{}", "x".repeat(40));
            assert_eq!(
                body(&s).await,
                serde_json::to_vec(&s).expect("serde_json"),
                "{:?}",
                c as u32
            );
        }
        let floats = [
            0.0,
            -0.0,
            1.0,
            0.1,
            0.3,
            2.5,
            1.5e-7,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            123_456_789.123,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
        ];
        for f in floats {
            let v = json!({"f": f, "u": u64::MAX, "i": i64::MIN, "a": [null, true, {"k": "v"}], "e": {}});
            assert_eq!(
                body(&v).await,
                serde_json::to_vec(&v).expect("serde_json"),
                "{f}"
            );
        }
    }
}
