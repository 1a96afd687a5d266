//! Slow and malformed clients against the real server (issue 10, findings 1 and 8): stalled
//! connections are closed, a full server refuses clearly, and every transport-level refusal
//! carries API.md's JSON error body. Raw TCP, since no HTTP client sends such requests.

use crate::support::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far above every timeout these tests configure: reaching it means an unbounded wait.
const PATIENCE: Duration = Duration::from_secs(60);

fn addr(app: &App) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Lets this test process hold a few hundred sockets (the soft limit may be 1024 or lower).
fn raise_own_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Reads until the server closes the connection; `None` if it never does within `within`.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = vec![];
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn exchange(app: &App, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    s.write_all(request).await.unwrap();
    read_until_closed(&mut s, PATIENCE)
        .await
        .expect("the server answers and closes")
}

/// Asserts a raw response is `status` with API.md's error body; returns its code.
fn json_error_code(raw: &str, status: u16) -> String {
    assert!(
        raw.starts_with(&format!("HTTP/1.1 {status} ")),
        "expected {status}, got {raw:?}"
    );
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    v["error"]["code"].as_str().expect("error.code").to_owned()
}

/// One `/api/health` on a fresh connection: how long until the whole answer arrived.
async fn timed_health(app: &App) -> Duration {
    let started = Instant::now();
    let raw = exchange(
        app,
        b"GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let took = started.elapsed();
    assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");
    assert!(raw.contains("\"ok\":true"), "{raw}");
    took
}

/// `n` connections that each sent part of a request head and stopped.
async fn stall(app: &App, n: usize) -> Vec<TcpStream> {
    let mut stalled = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr(app)).await.unwrap();
        s.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\nuser-agent: slow")
            .await
            .unwrap();
        stalled.push(s);
    }
    stalled
}

#[tokio::test]
async fn stalled_headers_are_closed_within_35s_while_health_stays_fast() {
    // GIVEN the server with its default limits and 300 connections that each sent half a
    // request head and stopped
    raise_own_fd_limit();
    let app = App::spawn().await;
    timed_health(&app).await;
    let stalled = stall(&app, 300).await;
    let stalled_at = Instant::now();
    let waits: Vec<_> = stalled
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                read_until_closed(&mut s, Duration::from_secs(35))
                    .await
                    .map(|_| Instant::now())
            })
        })
        .collect();

    // WHEN clients ask for /api/health meanwhile THEN it answers in under 50 ms
    // (median of five, so that one scheduling hiccup on a busy machine is not a failure)
    let mut took = vec![];
    for _ in 0..5 {
        took.push(timed_health(&app).await);
    }
    took.sort();
    eprintln!("/api/health with 300 stalled connections open: {took:?}");
    assert!(took[2] < Duration::from_millis(50), "{took:?}");

    // AND every stalled connection is closed by the server within 35 s
    let mut last = Duration::ZERO;
    for w in waits {
        let closed = w
            .await
            .unwrap()
            .expect("a stalled connection was still open after 35 s");
        last = last.max(closed.duration_since(stalled_at));
    }
    eprintln!("all 300 stalled connections closed after {last:?}");
    assert!(last < Duration::from_secs(35));
}

#[tokio::test]
async fn idle_connections_and_stalled_bodies_are_cut_off() {
    // GIVEN short idle and body timeouts
    let app = App::spawn_with(Options {
        env: vec![
            ("OPERATOR_IDLE_TIMEOUT_SECS", "1".into()),
            ("OPERATOR_BODY_TIMEOUT_SECS", "1".into()),
        ],
        ..Default::default()
    })
    .await;

    // WHEN a keep-alive connection goes quiet after a request THEN the server closes it
    let mut kept = TcpStream::connect(addr(&app)).await.unwrap();
    kept.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let raw = read_until_closed(&mut kept, PATIENCE)
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");

    // WHEN a request body stops half way THEN 408 request_timeout with the JSON body
    let raw = exchange(
        &app,
        format!(
            "POST /api/webhooks HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: 200\r\n\r\n{{\"name\":",
            app.key
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(json_error_code(&raw, 408), "request_timeout");
}

#[tokio::test]
async fn stalled_sockets_beyond_the_fd_limit_do_not_lock_others_out() {
    // GIVEN the server under `ulimit -n 256` and 300 clients stalled in their request heads
    raise_own_fd_limit();
    let app = App::spawn_limited(Options::default(), Some(256)).await;
    let _stalled = stall(&app, 300).await;
    // WHEN another client asks THEN it is served (the cap stays below the descriptor limit,
    // and the longest-waiting stalled connections make room)
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), timed_health(&app))
            .await
            .expect("/api/health answers while 300 stalled sockets are open");
    }
}

#[tokio::test]
async fn the_connection_over_the_cap_gets_503_when_all_are_busy() {
    // GIVEN a server allowed 4 connections, each busy with a request (a body in transit)
    let app = App::spawn_with(Options {
        env: vec![("OPERATOR_MAX_CONNECTIONS", "4".into())],
        ..Default::default()
    })
    .await;
    let mut held = vec![];
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(
            format!(
                "POST /api/webhooks HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
                 content-type: application/json\r\ncontent-length: 200\r\n\
                 expect: 100-continue\r\n\r\n",
                app.key
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        // The server answers `100 Continue` once its handler reads the body: from then on the
        // connection is busy with a request (not one waiting for a head, which a newcomer
        // would evict to make room).
        let mut got = vec![];
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
                .await
                .expect("100 Continue within the patience")
                .unwrap();
            assert!(
                n > 0,
                "closed before 100 Continue: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            got.starts_with(b"HTTP/1.1 100 "),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        s.write_all(b"{\"name\":").await.unwrap();
        held.push(s);
    }
    // WHEN one more client asks THEN it gets a clear 503 overloaded
    let raw = exchange(
        &app,
        b"GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(json_error_code(&raw, 503), "overloaded");
    // AND once the held connections go away, clients are served again
    drop(held);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let raw = exchange(
            &app,
            b"GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        if raw.starts_with("HTTP/1.1 200 ") {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {raw}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn transport_refusals_carry_the_json_error_body() {
    let app = App::spawn().await;
    let long_uri = format!(
        "GET /api/health?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(10_000)
    );
    let many_headers = format!(
        "GET /api/health HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..150)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: [(&[u8], u16, &str); 4] = [
        (long_uri.as_bytes(), 414, "uri_too_long"),
        (many_headers.as_bytes(), 431, "headers_too_large"),
        (
            b"POST /api/webhooks HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
            400,
            "invalid_request",
        ),
        (
            b"POST /api/webhooks HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
            400,
            "invalid_request",
        ),
    ];
    for (request, status, code) in cases {
        // GIVEN a request refused below the router WHEN sent THEN API.md's error body
        let raw = exchange(&app, request).await;
        assert_eq!(json_error_code(&raw, status), code, "{raw}");
    }
}
