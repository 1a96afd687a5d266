//! The instance API on the shared listener (as `operator-instance serve` runs it): slow
//! clients are cut off and transport refusals carry the API's JSON error body.

use operator_instance::{browser, control, router, Inner};
use operator_listener::Limits;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "instance-token-0123456789";
const PATIENCE: Duration = Duration::from_secs(20);

async fn start(root: &std::path::Path) -> std::net::SocketAddr {
    let state = Arc::new(Inner {
        instance_id: "inst_test".into(),
        token: TOKEN.into(),
        root: root.canonicalize().unwrap(),
        control: control::Control::new(String::new(), TOKEN.into(), None),
        browser: browser::BrowserManager::new(&root.join(".operator/chromium")),
        http: reqwest::Client::new(),
        agent_lock: tokio::sync::Mutex::new(()),
        env: vec![],
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        ..Limits::defaults()
    };
    tokio::spawn(operator_listener::serve(
        listener,
        router(state),
        limits,
        std::future::pending(),
    ));
    addr
}

async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = vec![];
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

fn json_code(raw: &str, status: u16) -> String {
    assert!(raw.starts_with(&format!("HTTP/1.1 {status} ")), "{raw}");
    let body = raw.split_once("\r\n\r\n").expect("a head").1;
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    v["error"]["code"].as_str().expect("a code").to_owned()
}

#[tokio::test]
async fn the_instance_api_cuts_off_slow_clients_and_answers_refusals_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;

    // GIVEN a connection that sent half a request head and stopped
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nauthoriz")
        .await
        .unwrap();
    // WHEN the header timeout passes THEN the server closes it
    assert!(read_to_close(&mut stalled).await.is_empty());

    // GIVEN a file upload whose body stops half way THEN 408 request_timeout in JSON
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "PUT /files?path=a.txt HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: 100\r\n\r\nhalf"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(
        json_code(&read_to_close(&mut s).await, 408),
        "request_timeout"
    );
    assert!(!dir.path().join("a.txt").exists());

    // GIVEN a request with an unparsable Content-Length THEN 400 invalid_request in JSON
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PUT /files?path=b.txt HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        json_code(&read_to_close(&mut s).await, 400),
        "invalid_request"
    );
}
