//! The listener over real sockets with a tiny router: every timeout closes what it should
//! and nothing else, the cap refuses clearly, and every refusal is API.md's JSON body.

use super::*;
use axum::routing::{get, post};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

mod cap;

/// Waits for anything in the tests: far above every configured timeout, so a failure is a
/// hang that was not bounded, never a slow machine.
const PATIENCE: Duration = Duration::from_secs(20);

fn quick() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        max_connections: 64,
        shutdown_grace: Duration::from_secs(1),
    }
}

fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/echo", post(|body: axum::body::Bytes| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(2500)).await;
                "done"
            }),
        )
        .route(
            "/lookalike",
            get(|| async { "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n" }),
        )
        .route("/full", get(|| async { vec![b'y'; 1 << 20] }))
        .route(
            "/big",
            get(|| async {
                let chunks = (0..4096).map(|_| Ok::<_, Infallible>(vec![b'x'; 64 * 1024]));
                axum::body::Body::from_stream(futures::stream::iter(chunks))
            }),
        )
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(limits: Limits) -> Self {
        Self::start_with(router(), limits).await
    }

    async fn start_with(router: Router, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(serve(listener, router, limits, async {
            let _ = rx.await;
        }));
        Self {
            addr,
            stop: Some(tx),
            done,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// `n` connections that each sent half a request head and stopped.
    async fn stalled(&self, n: usize) -> Vec<TcpStream> {
        let mut all = vec![];
        for _ in 0..n {
            let mut s = self.connect().await;
            s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nx-partial: ")
                .await
                .unwrap();
            all.push(s);
        }
        all
    }

    async fn get(&self, path: &str) -> String {
        let mut s = self.connect().await;
        exchange(
            &mut s,
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
    }
}

/// Sends `bytes` and reads until the server closes.
async fn exchange(s: &mut TcpStream, bytes: &[u8]) -> String {
    s.write_all(bytes).await.unwrap();
    read_to_close(s).await
}

async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = vec![];
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server closed the connection (EOF or reset) before `PATIENCE`.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// The JSON error code of a raw response, checking the response is API.md's shape.
fn error_code(raw: &str, status: u16) -> String {
    assert!(
        raw.starts_with(&format!("HTTP/1.1 {status} ")),
        "expected {status}: {raw:?}"
    );
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert!(v["error"]["message"].is_string(), "{v}");
    v["error"]["code"].as_str().expect("a code").to_owned()
}

#[tokio::test]
async fn a_head_that_stalls_midway_is_closed_and_others_are_served() {
    // GIVEN connections that sent half a request head and stopped
    let server = Server::start(quick()).await;
    let mut stalled = server.stalled(20).await;
    // WHEN another client asks THEN it is served at once
    assert!(server.get("/health").await.ends_with("ok"));
    // AND the stalled ones are closed by the server
    for s in &mut stalled {
        assert!(closed_by_server(s).await);
    }
}

#[tokio::test]
async fn a_head_trickled_byte_by_byte_is_closed_after_the_header_timeout() {
    // GIVEN a client that sends one byte of its head every 300 ms (under the idle timeout)
    let server = Server::start(quick()).await;
    let mut s = server.connect().await;
    let head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed = false;
    // WHEN it keeps trickling THEN the server closes before the head is complete
    for b in head {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => panic!("the trickled request was answered"),
            Err(_) => {}
        }
    }
    assert!(closed, "a head trickled over 15 s was still accepted");
}

#[tokio::test]
async fn idle_connections_are_closed_but_working_ones_are_not() {
    // GIVEN a keep-alive connection after one request, and one that never sent anything
    let server = Server::start(quick()).await;
    let mut kept = server.connect().await;
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok"));
    let mut silent = server.connect().await;
    // WHEN they stay idle THEN the server closes both
    assert!(closed_by_server(&mut kept).await);
    assert!(closed_by_server(&mut silent).await);
    // AND a request whose handler takes longer than the idle timeout is still answered
    assert!(server.get("/slow").await.ends_with("done"));
}

#[tokio::test]
async fn a_stalled_body_gets_408_with_the_json_body() {
    // GIVEN a request announcing 100 bytes of body that sends 10 and stops
    let server = Server::start(quick()).await;
    let mut s = server.connect().await;
    s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    // WHEN the body timeout passes THEN the answer is 408 request_timeout and the close
    let raw = read_to_close(&mut s).await;
    assert_eq!(error_code(&raw, 408), "request_timeout");
    // AND a body sent without pauses is echoed
    let mut s = server.connect().await;
    let raw = exchange(
        &mut s,
        b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello",
    )
    .await;
    assert!(
        raw.starts_with("HTTP/1.1 200") && raw.ends_with("hello"),
        "{raw}"
    );
}

#[tokio::test]
async fn a_body_trickled_just_inside_the_timeout_is_still_cut_off() {
    // GIVEN a body announced at 1,000 bytes that comes one byte every 400 ms (never a pause
    // as long as the 1 s body timeout, but far under the minimum rate)
    let server = Server::start(quick()).await;
    let mut s = server.connect().await;
    s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n")
        .await
        .unwrap();
    let (mut read, mut write) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            if write.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    // THEN it gets 408 once the first timeout has passed and the rate is not kept up
    let mut out = vec![];
    tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut out))
        .await
        .expect("the trickle is cut off")
        .ok();
    trickle.abort();
    let raw = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(error_code(&raw, 408), "request_timeout");
}

#[tokio::test]
async fn requests_hyper_cannot_parse_get_the_json_body() {
    let server = Server::start(quick()).await;
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(MAX_URI_BYTES)
    );
    let many_headers = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..MAX_HEADERS + 5)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    let big_header = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "b".repeat(MAX_HEAD_BYTES)
    );
    let huge_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let cases: [(&[u8], u16, &str); 7] = [
        (
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
            400,
            "invalid_request",
        ),
        (
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
            400,
            "invalid_request",
        ),
        (
            b"GET /he alth HTTP/1.1\r\nhost: x\r\n\r\n",
            400,
            "invalid_request",
        ),
        (long_uri.as_bytes(), 414, "uri_too_long"),
        (huge_uri.as_bytes(), 431, "headers_too_large"),
        (many_headers.as_bytes(), 431, "headers_too_large"),
        (big_header.as_bytes(), 431, "headers_too_large"),
    ];
    for (request, status, code) in cases {
        // GIVEN a request hyper refuses WHEN sent THEN the refusal is API.md's JSON body
        let mut s = server.connect().await;
        let raw = exchange(&mut s, request).await;
        assert_eq!(error_code(&raw, status), code, "{raw}");
    }
}

#[tokio::test]
async fn a_refusal_after_good_responses_is_rewritten_and_they_are_not() {
    // GIVEN one connection carrying a HEAD, a response whose body looks like an error head,
    // a chunked response and then a malformed request, all pipelined
    let server = Server::start(quick()).await;
    let mut s = server.connect().await;
    let raw = exchange(
        &mut s,
        b"HEAD /health HTTP/1.1\r\nhost: x\r\n\r\n\
          GET /lookalike HTTP/1.1\r\nhost: x\r\n\r\n\
          POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
    )
    .await;
    // THEN the good responses are byte for byte the application's
    let parts: Vec<&str> = raw.split("HTTP/1.1 ").collect();
    assert!(parts[1].starts_with("200 OK"), "{raw}");
    assert!(parts[1].contains("content-length: 2"), "{raw}");
    assert!(parts[1].ends_with("\r\n\r\n"), "HEAD has no body: {raw}");
    assert!(parts[2].starts_with("200 OK"), "{raw}");
    assert!(
        parts[3].starts_with("400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
        "the lookalike body is intact: {raw}"
    );
    assert!(
        parts[4].starts_with("200 OK") && parts[4].ends_with("abc"),
        "{raw}"
    );
    // AND the malformed one is the JSON refusal
    assert_eq!(
        error_code(&format!("HTTP/1.1 {}", parts[5]), 400),
        "invalid_request"
    );
    assert_eq!(parts.len(), 6, "{raw}");
}

#[tokio::test]
async fn large_responses_arrive_whole() {
    // GIVEN a 1 MB response body (hyper hands head and body over in large writes)
    let server = Server::start(quick()).await;
    let mut s = server.connect().await;
    s.write_all(b"GET /full HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    // WHEN it is read to the end THEN every byte is there after the head
    let mut raw = vec![];
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut raw))
        .await
        .expect("the response ends")
        .unwrap();
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(raw.starts_with(b"HTTP/1.1 200 OK"));
    assert_eq!(raw.len() - head_end, 1 << 20);
    assert!(raw[head_end..].iter().all(|b| *b == b'y'));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    // GIVEN a client that asks for 256 MB and reads none of it
    let server = Server::start(quick()).await;
    let mut s = server.connect().await;
    s.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // WHEN it does not read for 3 s (the stimulus, not a wait for the server: the socket
    // buffers fill and the server's writes block past the 1 s idle timeout)
    tokio::time::sleep(Duration::from_secs(3)).await;
    // THEN the server gave up on it: reading now ends well short of the full response
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => total += n,
            Err(_) => panic!("the stalled response was kept open"),
        }
    }
    assert!(total > 0 && total < 256 << 20, "read {total} bytes");
    // AND the server still serves others
    assert!(server.get("/health").await.ends_with("ok"));
}

/// A router whose `/work` handler reports that it started, then waits for `release`.
fn gated() -> (
    Router,
    tokio::sync::mpsc::Receiver<()>,
    Arc<tokio::sync::Notify>,
) {
    let (started_tx, started) = tokio::sync::mpsc::channel(1);
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/work",
            get(move || {
                let (started_tx, gate) = (started_tx.clone(), gate.clone());
                async move {
                    let _ = started_tx.send(()).await;
                    gate.notified().await;
                    "done"
                }
            }),
        );
    (router, started, release)
}

#[tokio::test]
async fn shutdown_lets_a_running_request_finish_and_stops_accepting() {
    // GIVEN a request in progress
    let (router, mut started, release) = gated();
    let mut server = Server::start_with(
        router,
        Limits {
            shutdown_grace: Duration::from_secs(10),
            ..quick()
        },
    )
    .await;
    let addr = server.addr;
    let running = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        exchange(&mut s, b"GET /work HTTP/1.1\r\nhost: x\r\n\r\n").await
    });
    started.recv().await.unwrap();
    // WHEN shutdown begins, and only then the request's work completes
    let _ = server.stop.take().map(|tx| tx.send(()));
    tokio::time::timeout(PATIENCE, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the listener closes at once");
    release.notify_one();
    // THEN the running request is still answered and serve returns
    assert!(running.await.unwrap().ends_with("done"));
    tokio::time::timeout(PATIENCE, &mut server.done)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_waits_no_longer_than_the_grace_period() {
    // GIVEN a request whose handler never finishes
    let (router, mut started, _never) = gated();
    let mut server = Server::start_with(router, quick()).await;
    let mut s = server.connect().await;
    s.write_all(b"GET /work HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    started.recv().await.unwrap();
    // WHEN shutdown begins THEN serve returns anyway and the connection is closed
    let _ = server.stop.take().map(|tx| tx.send(()));
    tokio::time::timeout(PATIENCE, &mut server.done)
        .await
        .expect("serve returns after the grace period")
        .unwrap()
        .unwrap();
    assert!(closed_by_server(&mut s).await);
}

#[test]
fn limits_come_from_the_environment_with_defaults() {
    // GIVEN no variables THEN the documented defaults
    let d = Limits::from_vars(|_| None).unwrap();
    assert_eq!(d.header_timeout, Duration::from_secs(30));
    assert_eq!(d.body_timeout, Duration::from_secs(30));
    assert_eq!(d.idle_timeout, Duration::from_secs(60));
    assert!(d.max_connections >= 16);
    // GIVEN values THEN they apply
    let l = Limits::from_vars(|n| match n {
        "OPERATOR_HEADER_TIMEOUT_SECS" => Some("5".into()),
        "OPERATOR_MAX_CONNECTIONS" => Some(" 12 ".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(l.header_timeout, Duration::from_secs(5));
    assert_eq!(l.max_connections, 12);
    // GIVEN nonsense THEN an error naming the variable
    for bad in ["0", "-1", "ten", "99999999999"] {
        let e = Limits::from_vars(|n| (n == "OPERATOR_IDLE_TIMEOUT_SECS").then(|| bad.into()))
            .unwrap_err();
        assert!(e.to_string().contains("OPERATOR_IDLE_TIMEOUT_SECS"), "{e}");
    }
    // AND the default cap leaves a quarter of the descriptors to the rest of the server
    assert_eq!(default_max_connections(1024), 768);
    assert_eq!(default_max_connections(u64::MAX), 65_536);
    // AND connections over the cap are handled only as far as the spare descriptors go
    assert_eq!(refusals_in_flight(256, 192), 32);
    assert_eq!(refusals_in_flight(u64::MAX, 65_536), 64);
    assert_eq!(refusals_in_flight(100, 100), 1);
}
