//! Request bodies through the real router (`http::router`) of an embedded platform (SQLite in
//! a scratch directory, no worker, no model): every route that reads a body — the JSON
//! extractor (`ApiJson`), raw bodies, the webhook trigger, MCP — with any bytes and any
//! `Content-Type`.
//!
//! Input: byte 0 picks the route, byte 1 the `Content-Type` (one of a list, none, or the
//! body's first line), byte 2 flags (bit 0: an `Idempotency-Key`; bit 1: no API key); the
//! rest is the body. Each input runs as a fresh account, so inputs do not see each other's
//! resources and a crash reproduces alone.
//!
//! Properties: the router answers within 5 s, never with a 5xx (but `503 llm_unavailable`,
//! the documented answer of the chat routes when no model is configured); every 4xx is
//! API.md's error body: JSON `{"error": {"code", "message", "details"?}}` and nothing else,
//! `code` and `message` non-empty strings, `details` (if any) strings by field.
//!
//! `FUZZ_TRACE=1` prints each request and its status.
#![no_main]

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request};
use libfuzzer_sys::fuzz_target;
use operator_core::domain::PlanSlug;
use operator_local::{Embedded, Isolation, Settings};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;
use tower::ServiceExt;

/// (method, path) of every route that reads a body; `{hook}` is a live webhook's token.
const ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/api/instances"),
    (Method::PUT, "/api/instances/desk"),
    (Method::POST, "/api/instances/desk/restart"),
    (Method::POST, "/api/instances/desk/clone"),
    (Method::POST, "/api/instances/desk/messages"),
    (Method::POST, "/api/instances/desk/exec"),
    (Method::POST, "/api/instances/desk/browser/open"),
    (
        Method::PUT,
        "/api/instances/desk/files?path=workspace/a.txt",
    ),
    (Method::POST, "/api/secrets"),
    (Method::PUT, "/api/secrets/sec_x"),
    (Method::POST, "/api/secrets/sec_x/grants"),
    (Method::POST, "/api/automations"),
    (Method::PUT, "/api/automations/auto_x"),
    (Method::POST, "/api/automations/auto_x/run"),
    (Method::POST, "/api/webhooks"),
    (Method::PUT, "/api/webhooks/wh_x"),
    (Method::POST, "/api/webhooks/trigger/{hook}"),
    (Method::POST, "/api/chat-keys"),
    (Method::POST, "/api/cli/approve"),
    (Method::POST, "/api/experiments"),
    (Method::POST, "/api/experiments/exp_x/evolve"),
    (Method::POST, "/api/experiments/exp_x/cancel"),
    (Method::POST, "/mcp"),
    (Method::POST, "/api/chat"),
    (Method::POST, "/api/v1/chat/completions"),
    (Method::POST, "/v1/chat/completions"),
    (Method::GET, "/api/instances"),
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/merge-patch+json",
    "application/json;",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/",
    "+json",
];

/// The platform, its router and a live webhook's token, opened once per process.
struct Fixture {
    rt: tokio::runtime::Runtime,
    _embedded: Embedded,
    platform: operator_core::Platform,
    router: axum::Router,
    hook: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = scratch_dir();
        let settings = Settings {
            public_url: "http://operator.test".into(),
            control_url: "http://operator.test".into(),
            image_tag: "operator-instance:fuzz".into(),
            llm: None,
            // Never started: no worker runs, so no instance is ever launched.
            program: "/nonexistent/operator".into(),
            isolation: Isolation::Process,
            limits: Default::default(),
            checkpoints: Default::default(),
        };
        let embedded = rt
            .block_on(Embedded::open(&dir, None, settings))
            .expect("the embedded platform opens");
        let platform = embedded.platform.clone();
        let router = operator_core::http::router(platform.clone());
        let key = rt.block_on(new_key(&platform));
        let hook = rt.block_on(async {
            let req = Request::post("/api/webhooks")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"name": "fuzz", "promptTemplate": "Got: {{payload}}"}"#,
                ))
                .expect("a request");
            let res = router.clone().oneshot(req).await.expect("an answer");
            let body = axum::body::to_bytes(res.into_body(), 1 << 20).await;
            let v: Value = serde_json::from_slice(&body.expect("a body")).expect("JSON");
            v["webhook"]["token"].as_str().expect("a token").to_owned()
        });
        Fixture {
            rt,
            _embedded: embedded,
            platform,
            router,
            hook,
        }
    })
}

/// A fresh account's API key.
async fn new_key(platform: &operator_core::Platform) -> String {
    use secrecy::ExposeSecret;
    let account = platform
        .create_account(PlanSlug::Pro, None, None)
        .await
        .expect("an account");
    let (_, key) = platform
        .create_key(&account.id, Some("fuzz".into()))
        .await
        .expect("a key");
    key.expose_secret().to_owned()
}

/// `$TMPDIR/operator-fuzz-body-<pid>`, after removing those of processes that are gone
/// (libFuzzer exits without running destructors).
fn scratch_dir() -> std::path::PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("operator-fuzz-body-") {
                if !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let dir = tmp.join(format!("operator-fuzz-body-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fuzz_target!(|data: &[u8]| {
    let [route, content_type, flags, body @ ..] = data else {
        return;
    };
    let f = fixture();
    let (method, path) = &ROUTES[usize::from(*route) % ROUTES.len()];
    let path = path.replace("{hook}", &f.hook);
    let mut req = Request::builder().method(method.clone()).uri(&path);
    let mut body = body;
    let ct = usize::from(*content_type) % (CONTENT_TYPES.len() + 2);
    if let Some(ct) = CONTENT_TYPES.get(ct) {
        req = req.header(header::CONTENT_TYPE, *ct);
    } else if ct == CONTENT_TYPES.len() {
        // The body's first line is the content type.
        let end = body.iter().position(|b| *b == b'\n').unwrap_or(body.len());
        if let Ok(v) = HeaderValue::from_bytes(&body[..end]) {
            req = req.header(header::CONTENT_TYPE, v);
        }
        body = body.get(end + 1..).unwrap_or_default();
    }
    if flags & 1 != 0 {
        req = req.header("idempotency-key", "fuzz-key-1");
    }
    f.rt.block_on(async {
        if flags & 2 == 0 {
            let key = new_key(&f.platform).await;
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let req = req.body(Body::from(body.to_vec())).expect("a request");
        let res = tokio::time::timeout(Duration::from_secs(5), f.router.clone().oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within 5 s"))
            .expect("the router is infallible");
        let status = res.status();
        if trace() {
            eprintln!("{method} {path} → {status}");
        }
        if status.is_success() || status.is_redirection() {
            return;
        }
        let bytes = tokio::time::timeout(
            Duration::from_secs(5),
            axum::body::to_bytes(res.into_body(), 1 << 20),
        )
        .await
        .expect("the error body ends")
        .expect("the error body reads");
        let text = String::from_utf8_lossy(&bytes);
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} body is not JSON ({e}): {text}"));
        let code = check_error_body(&v).unwrap_or_else(|why| {
            panic!("{method} {path}: {status} is not API.md's error body ({why}): {text}")
        });
        let chat = path.contains("chat");
        assert!(
            status.is_client_error() || (chat && status == 503 && code == "llm_unavailable"),
            "{method} {path}: {status} {text}"
        );
    });
});

/// With `FUZZ_TRACE` set, each request and its status go to stderr (to see what a corpus
/// reaches, or what a crashing input did).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// `{"error": {"code", "message", "details"?}}` and nothing else; returns the code.
fn check_error_body(v: &Value) -> Result<&str, &'static str> {
    let top = v.as_object().ok_or("not an object")?;
    if top.len() != 1 {
        return Err("more than `error` at the top");
    }
    let e = top
        .get("error")
        .and_then(Value::as_object)
        .ok_or("no `error` object")?;
    let code = e["code"]
        .as_str()
        .filter(|c| !c.is_empty())
        .ok_or("no code")?;
    e["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or("no message")?;
    if let Some(d) = e.get("details") {
        let d = d.as_object().ok_or("details is not an object")?;
        if !d.values().all(Value::is_string) {
            return Err("a detail is not a string");
        }
    }
    if e.keys()
        .any(|k| !matches!(k.as_str(), "code" | "message" | "details"))
    {
        return Err("a field other than code, message, details");
    }
    Ok(code)
}
