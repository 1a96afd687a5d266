//! Platform benchmarks (run by scripts/bench.sh; never timed assertions in tests).
//!
//! instance_create_to_active: wall time from `POST /api/instances` until the instance
//! reads `active`, over 20 instances, on the embedded platform (release build).
//! chat_turn_overhead: `POST /api/chat` against an instant fake LLM (one streamed text
//! reply): time to the first SSE byte and to `data: [DONE]`, over 50 turns.
//! lambda_api: size of the stripped `api` Lambda binary, and its init time (start until
//! its first call to the Lambda Runtime API), median of 10 cold starts.

#[path = "../tests/support/fake_llm.rs"]
mod fake_llm;
#[path = "../tests/support/lambda.rs"]
mod lambda;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let key = "ck_live_benchbenchbenchbenchbench0001";
    let llm = fake_llm::FakeLlm::start(vec![]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("OPERATOR_BOOTSTRAP_KEY", key)
        .env("OPERATOR_DEFAULT_PLAN", "enterprise")
        .env("RUST_LOG", "warn")
        .envs(llm.openai_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start operator");
    let stdout = child.stdout.take().unwrap();
    let mut base = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("Listening on ") {
            base = rest.split_whitespace().next().unwrap().to_owned();
            break;
        }
    }
    let client = reqwest::Client::new();
    let mut samples = vec![];
    for i in 0..runs + 1 {
        let started = Instant::now();
        let res: Value = client
            .post(format!("{base}/api/instances"))
            .bearer_auth(key)
            .json(&json!({"name": format!("bench-{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = res["instance"]["id"].as_str().expect("created").to_owned();
        loop {
            let v: Value = client
                .get(format!("{base}/api/instances/{id}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match v["instance"]["status"].as_str() {
                Some("active") => break,
                Some("failed") => panic!("instance failed: {v}"),
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if i > 0 {
            // the first run warms caches (binary pages, SQLite); not counted
            samples.push(ms);
        }
        client
            .delete(format!("{base}/api/instances/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "instance_create_to_active  runs={}  median={:.1} ms  p90={:.1} ms  min={:.1} ms  max={:.1} ms  (target: median < 150 ms)",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        samples[0],
        samples[samples.len() - 1]
    );

    // Chat turn overhead with an instant model
    let turns: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let (mut first_byte, mut done) = (vec![], vec![]);
    for i in 0..turns + 1 {
        let started = Instant::now();
        let mut res = client
            .post(format!("{base}/api/chat"))
            .bearer_auth(key)
            .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": format!("hello {i}")}]}]}))
            .send()
            .await
            .unwrap();
        let mut body = String::new();
        let mut first = None;
        while let Some(chunk) = res.chunk().await.unwrap() {
            first.get_or_insert_with(|| started.elapsed());
            body.push_str(&String::from_utf8_lossy(&chunk));
            if body.contains("data: [DONE]") {
                break;
            }
        }
        let total = started.elapsed();
        assert!(
            body.contains("\"type\":\"finish\""),
            "turn did not finish: {body}"
        );
        if i > 0 {
            first_byte.push(first.unwrap_or(total).as_secs_f64() * 1000.0);
            done.push(total.as_secs_f64() * 1000.0);
        }
    }
    for v in [&mut first_byte, &mut done] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    println!(
        "chat_turn_overhead  runs={}  first_byte median={:.1} ms p90={:.1} ms  done median={:.1} ms p90={:.1} ms  (targets: < 10 ms and < 50 ms)",
        done.len(),
        percentile(&first_byte, 0.5),
        percentile(&first_byte, 0.9),
        percentile(&done, 0.5),
        percentile(&done, 0.9)
    );

    operator_local::signal::send_signal(child.id(), operator_local::signal::Signal::Term)
        .expect("SIGTERM the server");
    let _ = child.wait();
    lambda_api().await;
}

/// Size of the stripped Lambda binary and its cold-start init time.
async fn lambda_api() {
    // The deployed artifact (profile `lambda`), as scripts/bench.sh builds it.
    let api = std::env::var_os("OPERATOR_LAMBDA_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_BIN_EXE_operator")).with_file_name("api")
        });
    if !api.exists() {
        println!("lambda_api  skipped: build it first (cargo build --profile lambda -p operator-api-function)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stripped = dir.path().join("bootstrap");
    std::fs::copy(&api, &stripped).unwrap();
    let ok = Command::new("strip")
        .arg(&stripped)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let size_mb = std::fs::metadata(&stripped).unwrap().len() as f64 / (1024.0 * 1024.0);
    let mut inits = vec![];
    for _ in 0..10 {
        let rt = lambda::RuntimeApi::start().await;
        let started = Instant::now();
        let mut cmd = Command::new(&stripped);
        cmd.env_clear()
            .envs(rt.env())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("OPERATOR_TABLE", "t"),
            ("OPERATOR_AGENT_QUEUE_URL", "http://127.0.0.1:9/q"),
            ("OPERATOR_AGENT_DLQ_URL", "http://127.0.0.1:9/d"),
            ("OPERATOR_LIFECYCLE_QUEUE_URL", "http://127.0.0.1:9/l"),
            ("OPERATOR_LIFECYCLE_DLQ_URL", "http://127.0.0.1:9/ld"),
            ("OPERATOR_SCHEDULE_GROUP", "g"),
            ("OPERATOR_AGENT_QUEUE_ARN", "arn:aws:sqs:us-east-1:1:q"),
            ("OPERATOR_AGENT_DLQ_ARN", "arn:aws:sqs:us-east-1:1:d"),
            ("OPERATOR_SCHEDULER_ROLE_ARN", "arn:aws:iam::1:role/s"),
            ("OPERATOR_ECS_CLUSTER", "c"),
            ("OPERATOR_INSTANCE_TASK_DEFINITION", "f"),
            ("OPERATOR_INSTANCE_SUBNETS", "subnet-1"),
            ("OPERATOR_INSTANCE_SECURITY_GROUPS", "sg-1"),
            ("OPERATOR_PUBLIC_URL", "https://x"),
            (
                "OPERATOR_TOKEN_KEY",
                "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
            ),
        ] {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        tokio::time::timeout(Duration::from_secs(10), rt.ready())
            .await
            .expect("the function never polled for work");
        inits.push(started.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    inits.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "lambda_api  binary={size_mb:.1} MB{}  init median={:.1} ms p90={:.1} ms  (targets: < 15 MB and < 50 ms)",
        if ok { " (stripped)" } else { " (strip unavailable)" },
        percentile(&inits, 0.5),
        percentile(&inits, 0.9)
    );
}
