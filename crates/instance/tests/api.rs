//! The instance API in-process over real HTTP: the files API against a symlink that flips
//! while it is read (issue 10, acceptance 3: a thread swaps workspace links between a
//! target inside the workspace and one outside while 10,000 GETs run; not one read may
//! return the outside content), exec's refusal of commands no shell could be given, and the
//! shared listener's limits (slow clients cut off, transport refusals in JSON).

use operator_instance::{browser, control, router, workspace, Inner};
use operator_listener::Limits;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "race-test-token-0123456789";
const PATIENCE: Duration = Duration::from_secs(20);
const SECRET: &str = "OUTSIDE-SECRET";
const READS: usize = 10_000;
const IN_FLIGHT: usize = 8;

/// Replaces `link` atomically with a symlink to `target` (symlink beside it, then rename).
fn point(link: &Path, target: &Path, tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
    std::os::unix::fs::symlink(target, tmp).expect("symlink");
    std::fs::rename(tmp, link).expect("rename");
}

/// Serves the instance router on the shared listener, as `operator-instance serve` does.
async fn serve_with(root: &Path, limits: Limits) -> std::net::SocketAddr {
    let ws = workspace::Workspace::open(root).expect("open workspace");
    let state = Arc::new(Inner {
        instance_id: "inst_test".into(),
        token: TOKEN.into(),
        root: root.to_owned(),
        workspace: ws,
        control: control::Control::new("http://127.0.0.1:9".into(), TOKEN.into(), None),
        browser: browser::BrowserManager::new(&root.join(".operator/chromium")),
        http: reqwest::Client::new(),
        agent_lock: tokio::sync::Mutex::new(()),
        env: vec![],
        openclaw: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(operator_listener::serve(
        listener,
        router(state),
        limits,
        std::future::pending(),
    ));
    addr
}

async fn serve(root: &Path) -> String {
    format!("http://{}", serve_with(root, Limits::defaults()).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipping_symlinks_never_lets_a_read_escape_the_workspace() {
    // GIVEN a workspace with a file inside, a secret file and folder outside, and two links
    // (a file link and a folder link) that a thread keeps flipping between inside and out
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ws");
    workspace::init(&root, "blank").expect("init");
    let root = root.canonicalize().expect("canonical");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::write(outside.join("notes.txt"), SECRET).expect("secret");
    let inside = root.join("workspace/inside");
    std::fs::create_dir_all(&inside).expect("inside dir");
    std::fs::write(inside.join("notes.txt"), "inside").expect("inside file");
    let (file_link, dir_link) = (root.join("workspace/f"), root.join("workspace/d"));
    // Relative targets (an absolute one is refused outright, which would test nothing).
    let (in_file, in_dir) = (Path::new("inside/notes.txt"), Path::new("inside"));
    let (out_file, out_dir) = (
        Path::new("../../outside/notes.txt"),
        Path::new("../../outside"),
    );
    assert_eq!(
        std::fs::read_to_string(root.join("workspace").join(out_file)).expect("outside"),
        SECRET
    );
    point(&file_link, in_file, &root.join("workspace/f.tmp"));
    point(&dir_link, in_dir, &root.join("workspace/d.tmp"));
    let url = serve(&root).await;

    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicUsize::new(0));
    let flipper = {
        let (stop, flips, root) = (stop.clone(), flips.clone(), root.clone());
        std::thread::spawn(move || {
            let (ftmp, dtmp) = (root.join("workspace/f.tmp"), root.join("workspace/d.tmp"));
            while !stop.load(Ordering::Relaxed) {
                point(&file_link, out_file, &ftmp);
                point(&dir_link, out_dir, &dtmp);
                point(&file_link, in_file, &ftmp);
                point(&dir_link, in_dir, &dtmp);
                flips.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // WHEN 10,000 reads run through both links, eight at a time
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = vec![];
    for _ in 0..IN_FLIGHT {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut escapes, mut inside, mut refused) = (0usize, 0usize, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= READS {
                    break;
                }
                let path = if i % 2 == 0 {
                    "workspace/f"
                } else {
                    "workspace/d/notes.txt"
                };
                let res = client
                    .get(format!("{url}/files?path={path}"))
                    .bearer_auth(TOKEN)
                    .timeout(std::time::Duration::from_secs(10))
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                let body = res.text().await.expect("body");
                if body.contains(SECRET) {
                    escapes += 1;
                } else if status == 200 {
                    inside += 1;
                } else {
                    assert!(matches!(status, 400 | 404), "{status}: {body}");
                    refused += 1;
                }
            }
            (escapes, inside, refused)
        }));
    }
    let (mut escapes, mut inside, mut refused) = (0, 0, 0);
    for t in tasks {
        let (e, i, r) = t.await.expect("reader");
        escapes += e;
        inside += i;
        refused += r;
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("flipper");

    // THEN no read returned the outside content, and the race was really exercised
    println!(
        "{READS} reads: {escapes} escapes, {inside} inside, {refused} refused; {} flips",
        flips.load(Ordering::Relaxed)
    );
    assert_eq!(escapes, 0, "reads that left the workspace");
    assert!(
        inside > 0 && refused > 0,
        "inside {inside}, refused {refused}"
    );
}

#[tokio::test]
async fn exec_answers_413_for_a_command_too_large_to_run_and_keeps_serving() {
    // GIVEN an instance API
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ws");
    workspace::init(&root, "blank").expect("init");
    let url = serve(&root.canonicalize().expect("canonical")).await;
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        client
            .post(format!("{url}/exec"))
            .bearer_auth(TOKEN)
            .json(&body)
            .timeout(std::time::Duration::from_secs(30))
            .send()
    };
    // WHEN a command over the limit is sent
    let big = format!("echo {}", "x".repeat(130 * 1024));
    let res = post(serde_json::json!({"command": big}))
        .await
        .expect("send");
    // THEN 413 payload_too_large, not a 500 from a failed spawn
    assert_eq!(res.status(), 413);
    let v: serde_json::Value = res.json().await.expect("json");
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    // AND a cwd through a link out of the workspace is refused, a normal command runs
    std::os::unix::fs::symlink("/etc", root.join("workspace/etc")).expect("symlink");
    let res = post(serde_json::json!({"command": "pwd", "cwd": "workspace/etc"}))
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    let res = post(serde_json::json!({"command": "pwd", "cwd": "workspace"}))
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.expect("json");
    assert!(
        v["stdout"]
            .as_str()
            .unwrap_or_default()
            .trim_end()
            .ends_with("ws/workspace"),
        "{v}"
    );
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
    let root = dir.path().canonicalize().unwrap();
    workspace::init(&root, "blank").unwrap();
    let addr = serve_with(
        &root,
        Limits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            ..Limits::defaults()
        },
    )
    .await;

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
