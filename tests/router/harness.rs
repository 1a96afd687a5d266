//! The in-process platform and a small client that sends requests through `oneshot`.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use operator_core::domain::PlanSlug;
use operator_core::ids::AccountId;
use operator_core::llm::{ContextBudget, LlmConfig, LlmProvider};
use operator_core::Platform;
use operator_local::{Embedded, Isolation, Settings};
use secrecy::ExposeSecret;
use serde_json::Value;
use tower::ServiceExt;

/// The public URL the platform is opened with (webhook URLs are built from it).
pub const PUBLIC_URL: &str = "http://operator.test";

/// One embedded platform in a temporary data directory, with one account and its key.
pub struct Api {
    pub platform: Platform,
    pub key: String,
    pub account: AccountId,
    _embedded: Embedded,
    _dir: tempfile::TempDir,
}

/// A response, read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts API.md's error body with `status` and `code`, and returns it.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        let e = &v["error"];
        assert_eq!(e["code"], code, "{v}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {v}"
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["error"], "only `error` at the top: {v}");
        v
    }

    /// Asserts a 400 `invalid_request` whose `details` name `field`.
    #[track_caller]
    pub fn invalid(&self, field: &str) -> Value {
        let v = self.error(400, "invalid_request");
        assert!(
            v["error"]["details"][field].is_string(),
            "details should name {field}: {v}"
        );
        v
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }
}

impl Api {
    /// GIVEN a fresh embedded platform with a `pro` account and a key for it.
    pub async fn start() -> Api {
        Self::start_with_plan(PlanSlug::Pro).await
    }

    pub async fn start_with_plan(plan: PlanSlug) -> Api {
        Self::open(plan, None).await
    }

    /// GIVEN a platform with a model configured (at an address nothing listens on: no
    /// worker runs here, so no turn ever calls it), so chat requests pass the model check.
    pub async fn start_with_model() -> Api {
        Self::start_with_model_at("http://127.0.0.1:9/v1").await
    }

    /// GIVEN a platform whose model is the OpenAI-compatible server at `base_url`.
    pub async fn start_with_model_at(base_url: &str) -> Api {
        let llm = LlmConfig {
            provider: LlmProvider::OpenAi,
            base_url: base_url.to_owned(),
            api_key: Some(secrecy::SecretString::from("sk-unused".to_owned())),
            model: "test-model".to_owned(),
            context: ContextBudget::default(),
            idle_timeout: operator_core::llm::DEFAULT_IDLE_TIMEOUT,
        };
        Self::open(PlanSlug::Pro, Some(llm)).await
    }

    async fn open(plan: PlanSlug, llm: Option<LlmConfig>) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            public_url: PUBLIC_URL.to_owned(),
            control_url: PUBLIC_URL.to_owned(),
            image_tag: "operator-instance:test".to_owned(),
            llm,
            // Never started: no worker runs, so no instance is ever launched.
            program: std::path::PathBuf::from("/nonexistent/operator"),
            isolation: Isolation::Process,
            limits: Default::default(),
            checkpoints: Default::default(),
        };
        let embedded = Embedded::open(dir.path(), None, settings).await.unwrap();
        let platform = embedded.platform.clone();
        let (account, key) = new_account(&platform, plan).await;
        Api {
            platform,
            key,
            account,
            _embedded: embedded,
            _dir: dir,
        }
    }

    /// A second account on the same platform, and its key.
    pub async fn other_account(&self) -> String {
        new_account(&self.platform, PlanSlug::Pro).await.1
    }

    /// Sends one request through the router with `key` (if any) as the bearer token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = operator_core::http::router(self.platform.clone())
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        // Every wait is bounded: a body that never ends fails the test instead of hanging it.
        let body = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            axum::body::to_bytes(res.into_body(), 64 * 1024 * 1024),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: the body did not end within 30 s"))
        .unwrap()
        .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// POSTs JSON whose success answer is a stream that does not end here (no worker
    /// runs to write it): the body is read only when the status is not 200.
    pub async fn post_stream_as(&self, key: &str, path: &str, body: Value) -> Reply {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = operator_core::http::router(self.platform.clone())
            .oneshot(req)
            .await
            .unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let body = if status == StatusCode::OK {
            vec![]
        } else {
            axum::body::to_bytes(res.into_body(), 1024 * 1024)
                .await
                .unwrap()
                .to_vec()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A JSON request as `key`.
    pub async fn json_as(&self, key: &str, method: Method, path: &str, body: Value) -> Reply {
        self.send(
            method,
            path,
            Some(key),
            &[("content-type", "application/json")],
            Body::from(body.to_string()),
        )
        .await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Reply {
        self.send(Method::GET, path, Some(key), &[], Body::empty())
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_as(&self.key.clone(), path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.json_as(&self.key.clone(), Method::POST, path, body)
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.json_as(&self.key.clone(), Method::PUT, path, body)
            .await
    }

    pub async fn delete_as(&self, key: &str, path: &str) -> Reply {
        self.send(Method::DELETE, path, Some(key), &[], Body::empty())
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.delete_as(&self.key.clone(), path).await
    }

    /// Creates an instance and returns its id.
    pub async fn instance(&self, name: &str) -> String {
        let r = self
            .post("/api/instances", serde_json::json!({ "name": name }))
            .await;
        r.ok(201)["instance"]["id"].as_str().unwrap().to_owned()
    }

    /// Asserts the three ways a request goes unauthenticated on `path`: no header, a key
    /// that does not exist, and a header that is not a bearer key.
    pub async fn assert_requires_key(&self, method: Method, path: &str) {
        let none = self
            .send(method.clone(), path, None, &[], Body::empty())
            .await;
        none.error(401, "unauthorized");
        assert_eq!(
            none.headers
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let unknown = format!("ck_live_{}", "x".repeat(32));
        self.send(method.clone(), path, Some(&unknown), &[], Body::empty())
            .await
            .error(401, "unauthorized");
        self.send(
            method,
            path,
            None,
            &[("authorization", "Basic dXNlcjpwYXNz")],
            Body::empty(),
        )
        .await
        .error(401, "unauthorized");
    }

    /// Asserts `?limit=` and `?cursor=` errors on the list at `path`.
    pub async fn assert_page_errors(&self, path: &str) {
        for limit in ["0", "201", "-1"] {
            self.get(&format!("{path}?limit={limit}"))
                .await
                .invalid("limit");
        }
        self.get(&format!("{path}?cursor=not-a-cursor"))
            .await
            .invalid("cursor");
        // A cursor from another list is refused too (keys' cursor on any other list).
        let foreign = operator_core::services::encode_cursor(
            if path.contains("chat-keys") {
                operator_core::services::ListKind::Instances
            } else {
                operator_core::services::ListKind::Keys
            },
            "key_0000",
        );
        self.get(&format!("{path}?cursor={foreign}"))
            .await
            .invalid("cursor");
    }
}

async fn new_account(platform: &Platform, plan: PlanSlug) -> (AccountId, String) {
    let account = platform.create_account(plan, None, None).await.unwrap();
    let (_, key) = platform
        .create_key(&account.id, Some("router-tests".into()))
        .await
        .unwrap();
    (account.id, key.expose_secret().to_owned())
}

/// Asserts `v` is an RFC 3339 UTC timestamp.
#[track_caller]
pub fn assert_time(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    let t = chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(t.offset().local_minus_utc(), 0, "{s} is not UTC");
}

/// Asserts `v` is an id string with `prefix`.
#[track_caller]
pub fn assert_id(v: &Value, prefix: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("not an id: {v}"));
    assert!(s.starts_with(prefix), "{s} should start with {prefix}");
}
