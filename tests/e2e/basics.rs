//! Health, authentication, API keys, pagination, unknown routes and the OpenAPI document.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_needs_no_key_and_reports_the_version() {
    let app = App::spawn().await;
    let (s, v) = send(app.request(Method::GET, "/api/health", None)).await;
    assert_eq!(s, 200);
    assert_eq!(v["ok"], true);
    assert!(v["version"].as_str().is_some_and(|x| !x.is_empty()));
}

#[tokio::test]
async fn first_start_prints_a_working_key_once() {
    // GIVEN a fresh data dir and no bootstrap key
    let dir = tempfile::tempdir().unwrap();
    let app = App::spawn_with(Options {
        data_dir: Some(dir.path()),
        key: None,
        env: vec![],
    })
    .await;
    // THEN stdout carried the address and a key that works
    assert!(app.key.starts_with("ck_live_"), "{:?}", app.stdout);
    let (s, v) = app.get("/api/cli/health").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["authenticated"], true);
    assert!(v["userId"].as_str().unwrap().starts_with("user_"));
    assert_eq!(v["planSlug"], "pro");
    assert_eq!(v["hasPlan"], true);
    assert_eq!(v["tokenLimit"], 15_000_000);
    let first_key = app.key.clone();
    // WHEN the server restarts on the same data
    drop(app);
    let again = App::spawn_with(Options {
        data_dir: Some(dir.path()),
        key: None,
        env: vec![],
    })
    .await;
    // THEN no new key is printed and the old one still works
    assert!(
        !again.stdout.iter().any(|l| l.contains("ck_live_")),
        "{:?}",
        again.stdout
    );
    let (s, _) = again
        .call_as(&first_key, Method::GET, "/api/cli/health", None)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys_are_401() {
    let app = App::spawn().await;
    let (s, v) = send(app.request(Method::GET, "/api/instances", None)).await;
    assert_error(&(s, v), 401, "unauthorized");
    for bad in ["nonsense", "ck_live_short", &random_key()] {
        let got = app.call_as(bad, Method::GET, "/api/instances", None).await;
        assert_error(&got, 401, "unauthorized");
    }
    // Wrong scheme
    let got = send(
        app.request(Method::GET, "/api/billing", None)
            .header("Authorization", format!("Basic {}", app.key)),
    )
    .await;
    assert_error(&got, 401, "unauthorized");
}

#[tokio::test]
async fn keys_are_shown_once_listed_by_prefix_and_revoked_at_once() {
    let app = App::spawn().await;
    // WHEN a key is created
    let (s, v) = app.post("/api/chat-keys", json!({"name": "ci"})).await;
    assert_eq!(s, 201, "{v}");
    let key = v["key"].as_str().unwrap().to_owned();
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ck_live_") && id.starts_with("key_"));
    assert_eq!(v.as_object().unwrap().len(), 2);
    // THEN it works and shows in the list by prefix only
    let (s, _) = app.call_as(&key, Method::GET, "/api/billing", None).await;
    assert_eq!(s, 200);
    let (_, list) = app.get("/api/chat-keys").await;
    let entry = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .cloned()
        .expect("listed");
    let mut fields: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(fields, ["createdAt", "id", "lastUsedAt", "name", "prefix"]);
    assert!(key.starts_with(entry["prefix"].as_str().unwrap()));
    assert!(entry["lastUsedAt"].is_string(), "used once: {entry}");
    assert!(!list.to_string().contains(&key));
    // A key with no body at all gets no name
    let (s, v) = send(app.request(Method::POST, "/api/chat-keys", Some(&app.key))).await;
    assert_eq!(s, 201, "{v}");

    // WHEN it is revoked THEN its very next request is 401
    let (s, v) = app.delete(&format!("/api/chat-keys/{id}")).await;
    assert_eq!((s.as_u16(), v), (200, json!({"ok": true})));
    let got = app.call_as(&key, Method::GET, "/api/billing", None).await;
    assert_error(&got, 401, "unauthorized");
    let got = app.delete(&format!("/api/chat-keys/{id}")).await;
    assert_error(&got, 404, "not_found");

    // Keys are stored only as hashes
    for f in ["operator.db", "operator.db-wal"] {
        let raw = std::fs::read(app.data_dir.join(f)).unwrap_or_default();
        for k in [&key, &app.key] {
            assert!(
                !raw.windows(k.len()).any(|w| w == k.as_bytes()),
                "{f} holds a plaintext key"
            );
        }
    }
}

#[tokio::test]
async fn lists_page_with_limit_and_cursor() {
    let app = App::spawn().await;
    for i in 0..4 {
        let (s, _) = app
            .post("/api/chat-keys", json!({"name": format!("k{i}")}))
            .await;
        assert_eq!(s, 201);
    }
    // 5 keys in all (the bootstrap one included), two per page
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/chat-keys?limit=2&cursor={c}"),
            None => "/api/chat-keys?limit=2".to_owned(),
        };
        let (s, v) = app.get(&path).await;
        assert_eq!(s, 200, "{v}");
        let items = v["keys"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match v["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert!(v["nextCursor"].is_null());
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 5, "no item twice");
    // newest first
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);

    for bad in ["limit=0", "limit=201", "limit=abc", "cursor=%27%3B--"] {
        let got = app.get(&format!("/api/chat-keys?{bad}")).await;
        assert_error(&got, 400, "invalid_request");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = App::spawn().await;
    let got = app.get("/api/nothing-here").await;
    assert_error(&got, 404, "not_found");
    let got = app.call(Method::PATCH, "/api/instances", None).await;
    assert_error(&got, 405, "method_not_allowed");
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_docs_page_is_served() {
    let app = App::spawn().await;
    let (s, spec) = send(app.request(Method::GET, "/api/openapi.json", None)).await;
    assert_eq!(s, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = spec["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/health", vec!["get"]),
        ("/api/cli/health", vec!["get"]),
        ("/api/chat-keys", vec!["get", "post"]),
        ("/api/chat-keys/{id}", vec!["delete"]),
        ("/api/instances", vec!["get", "post"]),
        ("/api/instances/{id}", vec!["get", "put", "delete"]),
        ("/api/instances/{id}/restart", vec!["post"]),
        ("/api/instances/{id}/clone", vec!["post"]),
        ("/api/secrets", vec!["get", "post"]),
        ("/api/secrets/{id}", vec!["get", "put", "delete"]),
        ("/api/secrets/{id}/grants", vec!["post"]),
        ("/api/secrets/{id}/grants/{instanceId}", vec!["delete"]),
        ("/api/automations", vec!["get", "post"]),
        ("/api/automations/{id}", vec!["get", "put", "delete"]),
        ("/api/automations/{id}/run", vec!["post"]),
        ("/api/automations/{id}/runs", vec!["get"]),
        ("/api/webhooks", vec!["get", "post"]),
        ("/api/webhooks/{id}", vec!["get", "put", "delete"]),
        ("/api/webhooks/{id}/deliveries", vec!["get"]),
        ("/api/webhooks/trigger/{token}", vec!["get", "post"]),
        ("/api/billing", vec!["get"]),
    ] {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for m in methods {
            assert!(item.get(m).is_some(), "{m} {path} missing");
        }
    }
    let res = app
        .request(Method::GET, "/docs", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("/api/openapi.json"));
}

#[tokio::test]
async fn billing_reports_plan_capacity_and_usage() {
    let app = App::spawn().await;
    app.post("/api/instances", json!({"name": "a"})).await;
    let (s, v) = app.get("/api/billing").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["plan"]["slug"], "pro");
    assert_eq!(v["plan"]["instanceLimit"], 5);
    assert_eq!(v["status"], "active");
    assert_eq!(v["capacity"], json!({"used": 1, "limit": 5}));
    assert_eq!(v["usage"]["windowHours"], 6);
    for f in [
        "tokens",
        "instanceSeconds",
        "chatTurns",
        "automationRuns",
        "webhookDeliveries",
    ] {
        assert!(v["usage"][f].is_u64(), "{f}: {v}");
    }
    assert!(v["usage"]["byInstance"].is_array());
    assert!(v["usage"]["periodStart"].is_string());
}

/// Processes that bootstrap at once with the same key (the workers of a new deployment)
/// make one account between them, and the key opens it.
#[tokio::test]
async fn concurrent_bootstraps_with_one_key_make_one_account() {
    use operator_core::domain::PlanSlug;
    use operator_core::services::Bootstrap;
    let dir = tempfile::tempdir().unwrap();
    let embedded = operator_local::Embedded::open(
        dir.path(),
        None,
        operator_local::Settings {
            public_url: "http://127.0.0.1:1".into(),
            control_url: "http://127.0.0.1:1".into(),
            image_tag: "t".into(),
            llm: None,
            program: std::path::PathBuf::from(env!("CARGO_BIN_EXE_operator")),
            isolation: operator_local::Isolation::Process,
            limits: Default::default(),
            checkpoints: Default::default(),
        },
    )
    .await
    .unwrap();
    let platform = embedded.platform.clone();
    let key = secrecy::SecretString::from(format!("ck_live_{}", "b0".repeat(16)));
    let results =
        futures::future::join_all((0..8).map(|_| platform.bootstrap(PlanSlug::Pro, Some(&key))))
            .await;
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for r in results {
        match r.unwrap() {
            Bootstrap::Created { account, key } => {
                created += 1;
                assert!(key.is_none(), "the given key is used, none minted");
                ids.insert(account.id);
            }
            Bootstrap::Existing { account } => {
                ids.insert(account.id);
            }
            Bootstrap::Revoked => panic!("nothing was revoked"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let caller = platform
        .authenticate(Some(secrecy::ExposeSecret::expose_secret(&key)))
        .await
        .unwrap();
    assert_eq!(Some(&caller.account.id), ids.first());
}
