//! The AWS API emulator (moto server) for the AWS adapter suites: installed into `.venv` by
//! scripts/test.sh, started once per test process on a free loopback port, and tied to
//! the process's lifetime.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

pub struct Emulator {
    pub url: String,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The running emulator (started on first use).
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| {
        let bin = repo_root().join(".venv/bin/moto_server");
        assert!(
            bin.exists(),
            "the AWS emulator is not installed: run scripts/test.sh, or python3 -m venv .venv && .venv/bin/pip install -r tests/emulator/requirements.txt"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        // Spawned from a thread that lives as long as the process, so the parent-death
        // signal fires only when the test process ends.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut cmd = std::process::Command::new(bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            operator_local::signal::set_parent_death_signal(
                &mut cmd,
                operator_local::signal::Signal::Kill,
            );
            let mut child = cmd.spawn().expect("start moto_server");
            tx.send(child.id()).unwrap();
            // This thread lives exactly as long as the emulator.
            let _ = child.wait();
        });
        rx.recv().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The emulator moves an ECS task one state on (RUNNING, DEACTIVATING, ... STOPPED)
        // at each DescribeTasks, which no real task does: tasks stay RUNNING until stopped.
        let body = r#"{"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000000}}"#;
        let reply = http_post(port, "/moto-api/state-manager/set-transition", body);
        assert!(reply.starts_with("HTTP/1.1 20") || reply.starts_with("HTTP/1.0 20"), "moto state manager: {reply}");
        Emulator { url }
    })
}

/// A plain HTTP/1.1 POST of a JSON body to the emulator; the whole reply.
fn http_post(port: u16, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

/// SDK configuration pointed at the emulator with static test credentials.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config_at(&emulator().url).await
}

/// SDK configuration for an emulator reached at `url` (e.g. through a test proxy).
pub async fn aws_config_at(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

/// A unique name for this test's resources.
pub fn unique(prefix: &str) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "{prefix}-{}",
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 10)
            .to_lowercase()
    )
}
