//! A Lambda Runtime API emulator: hands Function URL events (API Gateway v2 payloads) to a
//! function binary over the real runtime protocol and reads its (streamed) responses, so
//! the Lambda entry point is tested as Lambda runs it.
#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// What the function answered: status, headers and the body chunks as they arrived.
pub struct Invocation {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: mpsc::UnboundedReceiver<Bytes>,
}

impl Invocation {
    pub async fn text(mut self) -> String {
        let mut out = Vec::new();
        while let Some(b) = self.body.recv().await {
            out.extend_from_slice(&b);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub async fn json(self) -> Value {
        let t = self.text().await;
        serde_json::from_str(&t).unwrap_or_else(|_| panic!("not JSON: {t}"))
    }
}

type Pending = (String, Value, oneshot::Sender<Invocation>);

#[derive(Clone)]
struct Shared {
    next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Invocation>>>>,
    /// Set when the function first asks for work: its initialisation is over.
    polled: Arc<tokio::sync::Notify>,
    /// What the function reported to `init/error`: (error type header, body).
    init_errors: Arc<Mutex<Vec<(String, String)>>>,
}

pub struct RuntimeApi {
    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    tx: mpsc::UnboundedSender<Pending>,
    polled: Arc<tokio::sync::Notify>,
    init_errors: Arc<Mutex<Vec<(String, String)>>>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let polled = Arc::new(tokio::sync::Notify::new());
        let init_errors: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let shared = Shared {
            next: Arc::new(tokio::sync::Mutex::new(rx)),
            waiting: Arc::default(),
            polled: polled.clone(),
            init_errors: init_errors.clone(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            address,
            tx,
            polled,
            init_errors,
        }
    }

    /// What the function reported as its initialisation error, if anything.
    pub fn init_errors(&self) -> Vec<(String, String)> {
        self.init_errors.lock().unwrap().clone()
    }

    /// Resolves when the function has finished initialising (its first `next` call).
    pub async fn ready(&self) {
        self.polled.notified().await
    }

    /// Environment the Lambda runtime client expects.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", "operator-api".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/operator-api".into(),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".into()),
        ]
    }

    /// Invokes the function with a Function URL request (its Host: the Function URL's).
    pub async fn invoke(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Invocation {
        let mut with_host = vec![("host", "abc123.lambda-url.us-east-1.on.aws")];
        with_host.extend_from_slice(headers);
        self.invoke_with(method, path_and_query, &with_host, body)
            .await
    }

    /// Invokes the function with exactly `headers` (none added).
    pub async fn invoke_with(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Invocation {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut h = serde_json::Map::new();
        for (k, v) in headers {
            h.insert(k.to_ascii_lowercase(), json!(v));
        }
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": h,
            "requestContext": {"accountId": "anonymous", "apiId": "abc123", "domainName": "abc123.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abc123", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "test"}, "requestId": "r", "routeKey": "$default",
                "stage": "$default", "time": "29/Nov/2026:12:00:00 +0000", "timeEpoch": 1795000000000u64},
            "body": body, "isBase64Encoded": false,
        });
        let reported = self.init_errors();
        assert!(
            reported.is_empty(),
            "the function failed to initialise: {reported:?}"
        );
        let id = format!("req-{}", rand::random::<u64>());
        let (done_tx, done_rx) = oneshot::channel();
        self.tx.send((id, event, done_tx)).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(60), done_rx)
            .await
            .expect("the function did not answer")
            .expect("invocation dropped")
    }
}

async fn next(State(s): State<Shared>) -> Response {
    s.polled.notify_one();
    let Some((id, event, done)) = s.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    s.waiting.lock().unwrap().insert(id.clone(), done);
    let deadline = (chrono::Utc::now() + chrono::Duration::seconds(900)).timestamp_millis();
    (
        [
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:operator-api".into(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".into(),
            ),
            ("content-type", "application/json".into()),
        ],
        event.to_string(),
    )
        .into_response()
}

/// A streamed response is `<JSON prelude>` + 8 NUL bytes + the body; a buffered one is an
/// API Gateway v2 response object.
async fn response(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(done) = s.waiting.lock().unwrap().remove(&id) else {
        return StatusCode::NOT_FOUND;
    };
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .and_then(|v| v.to_str().ok())
        == Some("streaming");
    let mut stream = body.into_data_stream();
    if !streaming {
        let mut all = Vec::new();
        while let Some(Ok(c)) = stream.next().await {
            all.extend_from_slice(&c);
        }
        let v: Value = serde_json::from_slice(&all).unwrap_or(Value::Null);
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Bytes::from(
            v["body"].as_str().unwrap_or_default().to_owned(),
        ));
        let _ = done.send(Invocation {
            status: v["statusCode"].as_u64().unwrap_or(200) as u16,
            headers: v["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            body: rx,
        });
        return StatusCode::ACCEPTED;
    }
    let mut buf = Vec::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut rx = Some(rx);
    let mut done = Some(done);
    while let Some(Ok(chunk)) = stream.next().await {
        if let Some(d) = done.take() {
            buf.extend_from_slice(&chunk);
            match buf.windows(8).position(|w| w == [0u8; 8]) {
                Some(pos) => {
                    let prelude: Value = serde_json::from_slice(&buf[..pos]).unwrap_or(Value::Null);
                    let rest = Bytes::copy_from_slice(&buf[pos + 8..]);
                    if let Some(rx) = rx.take() {
                        let _ = d.send(Invocation {
                            status: prelude["statusCode"].as_u64().unwrap_or(200) as u16,
                            headers: prelude["headers"]
                                .as_object()
                                .map(|h| {
                                    h.iter()
                                        .map(|(k, v)| {
                                            (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                            body: rx,
                        });
                    }
                    if !rest.is_empty() {
                        let _ = tx.send(rest);
                    }
                    buf.clear();
                    continue;
                }
                None => {
                    done = Some(d);
                    continue;
                }
            }
        }
        let _ = tx.send(chunk);
    }
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Shared>, Path(id): Path<String>, body: String) -> StatusCode {
    if let Some(done) = s.waiting.lock().unwrap().remove(&id) {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Bytes::from(body));
        let _ = done.send(Invocation {
            status: 502,
            headers: HashMap::new(),
            body: rx,
        });
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    eprintln!("the function failed to initialise: {kind} {body}");
    s.init_errors.lock().unwrap().push((kind, body));
    StatusCode::ACCEPTED
}
