//! `/api/openapi.json` and `/docs`: the reference is public and covers every route group.

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Method};

#[tokio::test]
async fn the_openapi_document_covers_every_route_group() {
    let api = Api::start().await;
    // WHEN the spec is fetched without a key
    let v = api
        .send(Method::GET, "/api/openapi.json", None, &[], Body::empty())
        .await
        .ok(200);
    // THEN it is OpenAPI 3.1 with a path for every group of API.md
    assert!(
        v["openapi"].as_str().is_some_and(|s| s.starts_with("3.1")),
        "{}",
        v["openapi"]
    );
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/api/health",
        "/api/cli/health",
        "/api/chat-keys",
        "/api/instances",
        "/api/instances/{id}/files",
        "/api/secrets/{id}/grants",
        "/api/automations/{id}/runs",
        "/api/webhooks/trigger/{token}",
        "/api/webhooks/{id}/deliveries",
        "/api/chat",
        "/api/chat/history",
        "/api/billing",
        "/v1/chat/completions",
        "/v1/secrets",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the spec");
    }
}

#[tokio::test]
async fn the_docs_page_is_html_without_a_key() {
    let api = Api::start().await;
    // WHEN /docs is fetched THEN an HTML page pointing at the spec comes back
    let r = api
        .send(Method::GET, "/docs", None, &[], Body::empty())
        .await;
    assert_eq!(r.status.as_u16(), 200);
    let ct = r.headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = String::from_utf8_lossy(&r.body);
    assert!(
        html.contains("openapi.json"),
        "the page does not load the spec"
    );
}

async fn spec(api: &Api) -> serde_json::Value {
    api.send(Method::GET, "/api/openapi.json", None, &[], Body::empty())
        .await
        .ok(200)
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn every_operation_has_a_unique_id_a_summary_and_its_errors() {
    let api = Api::start().await;
    let v = spec(&api).await;
    let mut ids = std::collections::HashSet::new();
    let mut count = 0;
    for (path, item) in v["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            count += 1;
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{m} {path}: no operationId");
            assert!(
                ids.insert(id.to_owned()),
                "{m} {path}: operationId {id} is not unique"
            );
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(summary.len() > 3, "{m} {path}: no summary");
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let responses = op["responses"].as_object().unwrap();
            if !public {
                assert!(
                    responses.contains_key("401"),
                    "{m} {path}: 401 undocumented"
                );
            }
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{m} {path} {status}: not the error body"
                    );
                }
            }
            if op.get("requestBody").is_some() || path.contains('{') {
                assert!(
                    responses.contains_key("400") || responses.contains_key("404"),
                    "{m} {path}"
                );
            }
        }
    }
    assert!(count >= 54, "only {count} operations");
}

#[tokio::test]
async fn every_route_of_the_router_is_in_the_document() {
    // The router's routes, read from its source (axum cannot list them), against the spec.
    let source = include_str!("../../crates/core/src/http/mod.rs");
    let api = Api::start().await;
    let v = spec(&api).await;
    // Path parameters by position: the router says `{instance_id}`, the document `{instanceId}`.
    let shape = |p: &str| {
        p.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let paths: std::collections::HashMap<String, &serde_json::Value> = v["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, item)| (shape(p), item))
        .collect();
    let mut checked = 0;
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap();
        if path == "/docs" || path.starts_with("/docs/") || path == "/api/openapi.json" {
            continue; // the reference itself (the document and its page)
        }
        let body: String = chunk.split(".route(").next().unwrap().to_owned();
        for m in METHODS {
            if body.contains(&format!("{m}(")) || body.contains(&format!(".{m}(")) {
                let documented = paths
                    .get(&shape(path))
                    .and_then(|item| item.get(m))
                    .is_some();
                assert!(
                    documented,
                    "{} {path} is routed but not in the OpenAPI document",
                    m.to_uppercase()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 54,
        "only {checked} routes read from the router's source"
    );
}

#[tokio::test]
async fn the_document_validates_and_states_the_field_rules() {
    let api = Api::start().await;
    let v = spec(&api).await;
    // Each field rule of views::patterns is in the document where it applies.
    for (schema, property, pattern) in operator_core::views::patterns::FIELDS {
        assert_eq!(
            v["components"]["schemas"][schema]["properties"][property]["pattern"], *pattern,
            "{schema}.{property}"
        );
    }
    // AND openapi-spec-validator (pinned in tests/reference/requirements.txt) accepts it.
    let validator = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.venv-reference/bin/openapi-spec-validator"
    );
    assert!(
        std::path::Path::new(validator).exists(),
        "openapi-spec-validator is not installed: scripts/test.sh installs tests/reference/requirements.txt into .venv-reference/"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let out = std::process::Command::new(validator)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the OpenAPI document does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_api_guide_and_the_document_name_the_same_operations() {
    // docs/api.md is the guide a reader of the repository gets; every `METHOD /path` it
    // names is an operation of the document, and every operation is named in it.
    let guide = include_str!("../../docs/api.md");
    let api = Api::start().await;
    let v = spec(&api).await;
    let shape = |p: &str| {
        p.split('?')
            .next()
            .unwrap()
            .split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut named = std::collections::HashSet::new();
    for code in guide.split('`').skip(1).step_by(2) {
        let Some((method, path)) = code.split_once(' ') else {
            continue;
        };
        if METHODS.contains(&method.to_ascii_lowercase().as_str()) && path.starts_with('/') {
            let path = path.split_whitespace().next().unwrap();
            named.insert((method.to_ascii_lowercase(), shape(path)));
        }
    }
    let mut documented = std::collections::HashSet::new();
    for (path, item) in v["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                documented.insert((m.to_owned(), shape(path)));
            }
        }
    }
    let reference = [
        ("get".to_owned(), "/api/openapi.json".to_owned()),
        ("get".to_owned(), "/docs".to_owned()),
    ];
    for op in &named {
        assert!(
            documented.contains(op) || reference.contains(op),
            "docs/api.md names {} {}, which the OpenAPI document lacks",
            op.0.to_uppercase(),
            op.1
        );
    }
    for op in &documented {
        assert!(
            named.contains(op),
            "docs/api.md does not name {} {}",
            op.0.to_uppercase(),
            op.1
        );
    }
}
