//! The web console's delivery: every page path serves the app with the strict
//! Content-Security-Policy, every module the app imports is served, and the sources keep
//! to the rules that make untrusted text inert (no HTML parsing, no eval, nothing from
//! another origin). The console's behaviour in a real browser is `tests/console/`.

use crate::harness::*;
use axum::body::Body;
use axum::http::Method;
use operator_core::http::console::{ASSETS, CONTENT_SECURITY_POLICY, PAGES};

async fn page(api: &Api, path: &str) -> Reply {
    api.send(Method::GET, path, None, &[], Body::empty()).await
}

#[tokio::test]
async fn every_page_path_serves_the_app_with_a_strict_policy() {
    let api = Api::start().await;
    let mut paths: Vec<String> = PAGES
        .iter()
        .map(|p| p.replace("{id}", "chat_01abc"))
        .collect();
    paths.push("/auth/cli?session=6f1c2b8e-6a0e-4d8b-9a52-1d2c3e4f5a6b".into());
    for path in paths {
        // WHEN a page is loaded without a key (the page holds no data)
        let r = page(&api, &path).await;
        // THEN the app's HTML, with the policy and the hardening headers
        assert_eq!(r.status, 200, "{path}");
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(
            body.contains(r#"<script type="module" src="/console/app.js">"#),
            "{path}"
        );
        let h = |name: &str| r.headers[name].to_str().unwrap().to_owned();
        assert!(h("content-type").starts_with("text/html"), "{path}");
        assert_eq!(h("content-security-policy"), CONTENT_SECURITY_POLICY);
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("referrer-policy"), "no-referrer");
    }
    // AND the policy allows scripts from this origin only, never inline or eval'd
    let directives: Vec<&str> = CONTENT_SECURITY_POLICY.split(';').map(str::trim).collect();
    assert!(directives.contains(&"script-src 'self'"), "{directives:?}");
    assert!(directives.contains(&"default-src 'none'"));
    assert!(directives.contains(&"connect-src 'self'"));
    assert!(directives.contains(&"frame-ancestors 'none'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-"));
}

#[tokio::test]
async fn every_asset_the_app_references_is_served_with_its_type() {
    let api = Api::start().await;
    // GIVEN everything index.html and the modules refer to
    let index = String::from_utf8(page(&api, "/").await.body).unwrap();
    let mut wanted: Vec<String> = ["src=\"/console/", "href=\"/console/"]
        .iter()
        .flat_map(|p| index.split(p).skip(1))
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    for (name, _, source) in ASSETS {
        if name.ends_with(".js") {
            for rest in source.split(" from './").skip(1) {
                wanted.push(rest.split('\'').next().unwrap().to_owned());
            }
            // Other code paths (icons in the header) refer to assets by absolute path.
            for rest in source.split("'/console/").skip(1) {
                wanted.push(rest.split('\'').next().unwrap().to_owned());
            }
        }
    }
    wanted.sort();
    wanted.dedup();
    assert!(wanted.len() >= ASSETS.len(), "{wanted:?}");
    for name in &wanted {
        // WHEN each is fetched THEN it is served, with a type the browser will run or apply
        let r = page(&api, &format!("/console/{name}")).await;
        assert_eq!(r.status, 200, "/console/{name}");
        let ty = r.headers["content-type"].to_str().unwrap();
        let expected = match name.rsplit('.').next().unwrap() {
            "js" => "text/javascript",
            "css" => "text/css",
            "svg" => "image/svg+xml",
            other => panic!("unexpected asset type {other}"),
        };
        assert!(ty.starts_with(expected), "{name}: {ty}");
        assert!(r.headers.contains_key("content-security-policy"));
    }
    // AND every embedded asset is used (no dead file), and unknown ones are API.md 404s
    for (name, _, _) in ASSETS {
        assert!(
            wanted.iter().any(|w| w == name),
            "{name} is never referenced"
        );
    }
    page(&api, "/console/missing.js")
        .await
        .error(404, "not_found");
}

#[test]
fn the_sources_never_turn_data_into_markup_or_code() {
    // Untrusted text (agent output, file contents, names) only ever becomes text nodes, and
    // no string is ever run as code. (That nothing loads from another origin is checked in
    // the browser, where every request is seen: tests/console/.)
    let forbidden = [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "createContextualFragment",
        "DOMParser",
        "srcdoc",
        // The key lives in sessionStorage only (gone with the tab).
        "localStorage",
    ];
    for (name, _, source) in ASSETS {
        for f in forbidden {
            assert!(!source.contains(f), "{name} contains {f}");
        }
    }
}
