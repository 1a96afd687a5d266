//! The instance's headless browser (system Chromium through chromiumoxide): open a page the
//! test serves on loopback, read its text, take a PNG screenshot.

use crate::support::*;
use axum::response::Html;
use axum::routing::get;
use reqwest::Method;
use serde_json::json;

async fn serve_page() -> String {
    let app = axum::Router::new().route(
        "/forecast",
        get(|| async {
            Html("<html><head><title>Forecast</title></head><body><h1>Sunny in Oslo</h1><p>High of 21 degrees.</p></body></html>")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/forecast", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn the_browser_opens_a_page_reads_its_text_and_takes_a_png() {
    if operator_instance::browser::find_chromium().is_none() {
        panic!("chromium is not installed; scripts/test.sh installs it (apt-get install chromium)");
    }
    let page = serve_page().await;
    let app = App::spawn().await;
    let id = app.active_instance("surfer").await;
    // Before any page is open there is nothing to capture
    let got = app
        .get(&format!("/api/instances/{id}/browser/screenshot"))
        .await;
    assert_error(&got, 400, "invalid_request");
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/browser/open"),
            json!({"url": page}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["title"], "Forecast");
    assert!(v["text"].as_str().unwrap().contains("Sunny in Oslo"), "{v}");
    let res = app
        .request(
            Method::GET,
            &format!("/api/instances/{id}/browser/screenshot"),
            Some(&app.key),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    let png = res.bytes().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{} bytes",
        png.len()
    );
    std::fs::write(app.data_dir.join("screenshot.png"), &png).unwrap();
    // Only http(s) URLs
    let got = app
        .post(
            &format!("/api/instances/{id}/browser/open"),
            json!({"url": "file:///etc/passwd"}),
        )
        .await;
    assert_error(&got, 400, "invalid_request");
}
