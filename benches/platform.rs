//! Platform benchmarks (run by scripts/bench.sh; never timed assertions in tests).
//!
//! instance_create_to_active: wall time from `POST /api/instances` until the instance
//! reads `active`, over 20 instances, on the embedded platform (release build).
//! chat_turn_overhead: `POST /api/chat` against an instant fake LLM (one streamed text
//! reply): time to the first SSE byte and to `data: [DONE]`, over 50 turns.
//! lambda_api: size of the stripped `api` Lambda binary, and its init time (start until
//! its first call to the Lambda Runtime API), median of 10 cold starts.
//! The load measures (wrk against the server and a bare axum ceiling, creates, webhook
//! intake, concurrent chat turns, memory) are in load.rs; everything ends in one table.
//! `BENCH_ONLY=turns` runs only the concurrent chat turns (printing the server's pid), to
//! profile them.

#[path = "../tests/support/fake_llm.rs"]
mod fake_llm;
#[path = "../tests/support/lambda.rs"]
mod lambda;
mod load;

use load::{row, Row};

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
    let llm = fake_llm::FakeLlm::start_lean().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("OPERATOR_BOOTSTRAP_KEY", key)
        .env("OPERATOR_DEFAULT_PLAN", "enterprise")
        .env("RUST_LOG", "warn")
        // the limiters run but never refuse: one key drives the whole load
        .env("OPERATOR_RATE_LIMIT_PER_KEY", "10000000")
        .env("OPERATOR_RATE_LIMIT_PER_WEBHOOK", "10000000")
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
    let pid = child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    if std::env::var("BENCH_ONLY").as_deref() == Ok("webhooks") {
        // A profiling aid: only the webhook intake (each delivery runs a turn meanwhile).
        println!("server pid {pid}");
        let intake = webhook_intake(&reqwest::Client::new(), &base, key).await;
        println!(
            "{:.0}/s, p99 {:.2} ms, {} non-2xx",
            intake.rps, intake.p99_ms, intake.non_2xx
        );
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    if std::env::var("BENCH_ONLY").as_deref() == Ok("turns") {
        // A profiling aid: only the concurrent turns, with the server's pid to attach to.
        println!("server pid {pid}");
        let (tps, failed) =
            load::turns_per_second(&base, key, 64, Duration::from_secs(u64::from(load_secs())))
                .await;
        println!("{tps:.0} turns/s ({failed} failed)");
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let idle_rss = load::rss_mb(pid);
    let mut rows: Vec<Row> = vec![row(
        "Idle RSS",
        format!("{idle_rss:.1} MB"),
        "< 40 MB",
        Some(idle_rss < 40.0),
        json!({"mb": idle_rss}),
    )];
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

    rows.push(row(
        "Instance create → active (median)",
        format!("{:.1} ms", percentile(&samples, 0.5)),
        "< 150 ms",
        Some(percentile(&samples, 0.5) < 150.0),
        json!({"median_ms": percentile(&samples, 0.5), "p90_ms": percentile(&samples, 0.9)}),
    ));

    // Chat turn overhead with an instant model
    let turns: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let (mut first_byte, mut done) = (vec![], vec![]);
    for i in 0..turns + 1 {
        let (first, total) = load::turn(&client, &base, key, &format!("hello {i}"))
            .await
            .unwrap_or_else(|e| panic!("turn did not finish: {e}"));
        if i > 0 {
            first_byte.push(first.as_secs_f64() * 1000.0);
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

    let (fb, dn) = (percentile(&first_byte, 0.5), percentile(&done, 0.5));
    rows.push(row(
        "Chat turn, instant model: first byte / [DONE] (median)",
        format!("{fb:.1} ms / {dn:.1} ms"),
        "< 10 ms / < 50 ms",
        Some(fb < 10.0 && dn < 50.0),
        json!({"first_byte_ms": fb, "done_ms": dn}),
    ));

    rows.extend(load_rows(&base, key, pid, &llm).await);

    operator_local::signal::send_signal(child.id(), operator_local::signal::Signal::Term)
        .expect("SIGTERM the server");
    let _ = child.wait();
    rows.extend(lambda_api().await);
    load::report(
        &rows,
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap_or(std::path::Path::new("target"))
            .join("bench")
            .as_path(),
    );
}

/// Seconds each wrk run lasts.
fn load_secs() -> u32 {
    std::env::var("BENCH_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// Reads against the ceiling, creates, webhook intake, concurrent turns, loaded memory.
async fn load_rows(base: &str, key: &str, pid: u32, llm: &fake_llm::FakeLlm) -> Vec<Row> {
    let client = reqwest::Client::new();
    let auth = format!("Authorization: Bearer {key}");
    let secs = load_secs();
    let mut rows = vec![];
    // A list of 10 instances, as a team would have.
    for i in 0..10 {
        client
            .post(format!("{base}/api/instances"))
            .bearer_auth(key)
            .json(&json!({"name": format!("read-{i}")}))
            .send()
            .await
            .unwrap();
    }
    // Measured in the steady state: once the instances are up (starting ten runtimes is not
    // part of a read) and after a short warm-up of both servers.
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let body = client
            .get(format!("{base}/api/instances"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let list: Value = serde_json::from_slice(&body).unwrap();
        let instances = list["instances"].as_array().cloned().unwrap_or_default();
        if instances.iter().all(|i| i["status"] == "active") || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("instances.json");
    std::fs::write(&body_file, &body).unwrap();
    let warm_up = |url: &str, headers: &[String]| load::wrk(url, 64, 2, None, headers);
    warm_up(
        &format!("{base}/api/instances"),
        std::slice::from_ref(&auth),
    );
    let reads = load::wrk(
        &format!("{base}/api/instances"),
        64,
        secs,
        None,
        std::slice::from_ref(&auth),
    );
    let ceiling = load::Hello::start(&body_file).map(|h| {
        let url = format!("{}/api/instances", h.url);
        warm_up(&url, &[]);
        load::wrk(&url, 64, secs, None, &[])
    });
    let share = ceiling.as_ref().map(|c| 100.0 * reads.rps / c.rps);
    rows.push(row(
        "REST reads, GET /api/instances (10), 64 connections",
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} non-2xx{}",
            reads.rps,
            reads.p50_ms,
            reads.p99_ms,
            reads.non_2xx,
            share.map(|s| format!("; {s:.0} % of the ceiling")).unwrap_or_default()
        ),
        "≥ 30 % of the ceiling, p99 < 10 ms",
        share.map(|s| s >= 30.0 && reads.p99_ms < 10.0 && reads.non_2xx == 0),
        json!({"rps": reads.rps, "p50_ms": reads.p50_ms, "p99_ms": reads.p99_ms, "non_2xx": reads.non_2xx, "share_of_ceiling_pct": share}),
    ));
    if let Some(c) = &ceiling {
        rows.push(row(
            "Ceiling: bare axum, same body, 64 connections",
            format!("{:.0} req/s, p99 {:.2} ms", c.rps, c.p99_ms),
            "(reference)",
            None,
            json!({"rps": c.rps, "p99_ms": c.p99_ms}),
        ));
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/wrk");
    let creates = load::wrk(
        base,
        32,
        secs,
        Some(&script.join("create_secret.lua")),
        std::slice::from_ref(&auth),
    );
    rows.push(row(
        "Creates, POST /api/secrets, 32 connections",
        format!("{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} non-2xx", creates.rps, creates.p50_ms, creates.p99_ms, creates.non_2xx),
        "≥ 5,000/s, 0 non-2xx",
        Some(creates.rps >= 5000.0 && creates.non_2xx == 0 && creates.socket_errors == 0),
        json!({"rps": creates.rps, "p50_ms": creates.p50_ms, "p99_ms": creates.p99_ms, "non_2xx": creates.non_2xx}),
    ));
    let (tps, failed) =
        load::turns_per_second(base, key, 64, Duration::from_secs(u64::from(secs))).await;
    rows.push(row(
        "Chat turns/s, instant model, 64 chats at once",
        format!("{tps:.0} turns/s ({failed} failed)"),
        "≥ 1,000 turns/s",
        Some(tps >= 1000.0 && failed == 0),
        json!({"turns_per_s": tps, "failed": failed}),
    ));
    // 64 chats at once against a model that takes 1 s.
    for _ in 0..64 {
        llm.push(fake_llm::Reply::LateText("slow answer".into(), 1000));
    }
    let started = Instant::now();
    let slow: Vec<_> = (0..64)
        .map(|i| {
            let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
            tokio::spawn(
                async move { load::turn(&client, &base, &key, &format!("slow {i}")).await },
            )
        })
        .collect();
    let mut slow_failed = 0;
    for t in slow {
        if t.await.expect("slow turn task").is_err() {
            slow_failed += 1;
        }
    }
    let all = started.elapsed().as_secs_f64();
    rows.push(row(
        "64 chats at once, model takes 1 s: all finished after",
        format!("{all:.2} s ({slow_failed} failed)"),
        "≤ 1.5 s",
        Some(all <= 1.5 && slow_failed == 0),
        json!({"seconds": all, "failed": slow_failed}),
    ));
    // Last: every delivery accepted queues an agent turn, which would crowd the chat figures.
    let intake = webhook_intake(&client, base, key).await;
    rows.push(row(
        "Webhook intake, POST /api/webhooks/trigger/{token}, 32 connections",
        format!("{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} non-2xx", intake.rps, intake.p50_ms, intake.p99_ms, intake.non_2xx),
        "≥ 5,000/s, 0 non-2xx",
        Some(intake.rps >= 5000.0 && intake.non_2xx == 0 && intake.socket_errors == 0),
        json!({"rps": intake.rps, "p50_ms": intake.p50_ms, "p99_ms": intake.p99_ms, "non_2xx": intake.non_2xx}),
    ));
    let loaded = load::rss_mb(pid);
    rows.push(row(
        "RSS after the load",
        format!("{loaded:.1} MB"),
        "(reference)",
        None,
        json!({"mb": loaded}),
    ));
    rows
}

/// Creates a webhook and runs wrk against its trigger URL (32 connections).
async fn webhook_intake(client: &reqwest::Client, base: &str, key: &str) -> load::Wrk {
    let hook: Value = client
        .post(format!("{base}/api/webhooks"))
        .bearer_auth(key)
        .json(&json!({"name": "bench", "promptTemplate": "Event: {{payload}}"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = hook["webhook"]["url"]
        .as_str()
        .expect("webhook url")
        .to_owned();
    let path = url
        .split_once("/api/")
        .map(|(_, p)| format!("{base}/api/{p}"))
        .expect("trigger path");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/wrk");
    load::wrk(
        &path,
        32,
        load_secs(),
        Some(&script.join("trigger_webhook.lua")),
        &[],
    )
}

/// Size of the stripped Lambda binary and its cold-start init time.
async fn lambda_api() -> Vec<Row> {
    // The deployed artifact (profile `lambda`), as scripts/bench.sh builds it.
    let api = std::env::var_os("OPERATOR_LAMBDA_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_BIN_EXE_operator")).with_file_name("api")
        });
    if !api.exists() {
        println!("lambda_api  skipped: build it first (cargo build --profile lambda -p operator-api-function)");
        return vec![];
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
    let init = percentile(&inits, 0.5);
    vec![row(
        "Lambda api: stripped size / cold init (median of 10)",
        format!("{size_mb:.1} MB / {init:.1} ms"),
        "< 15 MB / < 50 ms",
        Some(size_mb < 15.0 && init < 50.0),
        json!({"size_mb": size_mb, "init_ms": init}),
    )]
}
