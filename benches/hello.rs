//! The ceiling for `scripts/bench.sh`: a bare axum server on the same runtime (tokio,
//! multi-threaded, one worker per core) answering every GET with the bytes of a file — the
//! body the real server gave for the same read — with no auth, no store, no middleware.
//! The REST read figure is the real server's rate as a share of this one's.
//!
//! `hello <body.json>`: prints `listening on http://127.0.0.1:<port>`, serves until killed.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() {
    let path = std::env::args().nth(1).expect("usage: hello <body.json>");
    let body: &'static [u8] = Box::leak(std::fs::read(&path).expect("read the body").into());
    let app = Router::new().fallback(get(move || async move {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("addr")
    );
    axum::serve(listener, app).await.expect("serve");
}
