//! Rate limits per API key and per webhook (OPERATOR_RATE_LIMIT_PER_KEY / _PER_WEBHOOK) on the
//! real server: past the burst a request is 429 `rate_limited` with `Retry-After`, at a pace
//! under the rate none is, and one key's or webhook's bucket is not another's.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Status, `Retry-After` and body of one request.
async fn hit(rb: reqwest::RequestBuilder) -> (StatusCode, Option<u64>, Value) {
    let res = rb.send().await.expect("request");
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = res.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

#[tokio::test]
async fn past_the_burst_a_key_gets_429_with_retry_after_and_under_the_rate_never() {
    // GIVEN 10 requests per second per key with bursts of 10, and 5 per webhook with bursts of 3
    let app = App::spawn_with(Options {
        env: vec![
            ("OPERATOR_RATE_LIMIT_PER_KEY", "10/10".into()),
            ("OPERATOR_RATE_LIMIT_PER_WEBHOOK", "5/3".into()),
        ],
        ..Options::default()
    })
    .await;
    let (s, k) = app.post("/api/chat-keys", json!({"name": "second"})).await;
    assert_eq!(s, 201, "{k}");
    let second = k["key"].as_str().expect("the new key").to_owned();
    let (s, w) = app
        .post(
            "/api/webhooks",
            json!({"name": "hook", "promptTemplate": "Event: {{payload}}"}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let trigger = w["webhook"]["url"]
        .as_str()
        .and_then(|u| u.split_once("/api/"))
        .map(|(_, p)| format!("/api/{p}"))
        .expect("trigger path");
    tokio::time::sleep(Duration::from_millis(1200)).await; // the buckets refill

    // WHEN 30 requests go out at once on the first key
    let mut statuses = vec![];
    let mut refusal = None;
    for _ in 0..30 {
        let (s, retry, body) =
            hit(app.request(Method::GET, "/api/instances", Some(&app.key))).await;
        if s == StatusCode::TOO_MANY_REQUESTS && refusal.is_none() {
            refusal = Some((retry, body));
        }
        statuses.push(s.as_u16());
    }
    // THEN the burst passes and the rest is refused with the API's body and a Retry-After
    assert!(statuses[..10].iter().all(|s| *s == 200), "{statuses:?}");
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 15, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    let (retry, body) = refusal.expect("a refusal");
    assert_eq!(retry, Some(1), "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("10 per second")),
        "{body}"
    );
    // AND the other key of the same account has its own bucket
    let (s, _, body) = hit(app.request(Method::GET, "/api/instances", Some(&second))).await;
    assert_eq!(s, 200, "{body}");

    // WHEN the client waits Retry-After THEN it is served again
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (s, _, body) = hit(app.request(Method::GET, "/api/instances", Some(&app.key))).await;
    assert_eq!(s, 200, "{body}");

    // WHEN a client keeps under the rate (5 per second against 10) for 4 seconds THEN nothing
    // is refused
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..20 {
        let (s, _, body) = hit(app.request(Method::GET, "/api/instances", Some(&app.key))).await;
        assert_eq!(s, 200, "refused under the rate: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // WHEN a webhook is triggered 8 times at once THEN its burst of 3 is accepted, the rest
    // refused the same way, and the API key is not touched by it
    let mut hooks = vec![];
    for i in 0..8 {
        let (s, retry, body) = hit(app
            .request(Method::POST, &trigger, None)
            .json(&json!({"n": i})))
        .await;
        hooks.push((s.as_u16(), retry, body["error"]["code"].clone()));
    }
    assert!(hooks[..3].iter().all(|h| h.0 == 202), "{hooks:?}");
    let refused: Vec<_> = hooks.iter().filter(|h| h.0 == 429).collect();
    assert!(refused.len() >= 4, "{hooks:?}");
    assert!(
        refused
            .iter()
            .all(|h| h.1 == Some(1) && h.2 == "rate_limited"),
        "{hooks:?}"
    );
    let (s, _, body) = hit(app.request(Method::GET, "/api/webhooks", Some(&second))).await;
    assert_eq!(s, 200, "{body}");
}
