//! The load half of the platform benchmarks: wrk runs (reads, creates, webhook intake, the
//! bare-axum ceiling), concurrent chat turns, resident memory, and the one table
//! scripts/bench.sh prints and writes to target/bench/results.json.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One wrk run: requests/s, latency percentiles (ms), non-2xx and socket errors.
#[derive(Debug, Clone, Default)]
pub struct Wrk {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

/// `wrk --latency -t2 -c<conns> -d<secs>s [-s script] [-H header] url`.
pub fn wrk(url: &str, conns: u32, secs: u32, script: Option<&Path>, headers: &[String]) -> Wrk {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "--latency",
        "-t2",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .expect("wrk is needed: apt-get install wrk (scripts/bench.sh does)");
    parse_wrk(&String::from_utf8_lossy(&out.stdout))
}

fn ms(v: &str) -> f64 {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

pub fn parse_wrk(text: &str) -> Wrk {
    let mut w = Wrk::default();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            w.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("50%") {
            w.p50_ms = ms(v);
        } else if let Some(v) = line.strip_prefix("99%") {
            w.p99_ms = ms(v);
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            w.non_2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            w.socket_errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
    }
    w
}

/// Resident memory of a process, MB.
pub fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The bare axum ceiling (benches/hello.rs, built by scripts/bench.sh) serving `body`.
pub struct Hello {
    child: std::process::Child,
    pub url: String,
}

impl Hello {
    pub fn start(body: &Path) -> Option<Self> {
        let bin = std::env::var_os("OPERATOR_HELLO_BIN")?;
        let mut child = Command::new(bin)
            .arg(body)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the hello-world server");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("hello's address");
        match line.trim().strip_prefix("listening on ") {
            Some(url) => Some(Self {
                url: url.to_owned(),
                child,
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `clients` chats each sending turns one after another for `for_`: turns finished per second.
pub async fn turns_per_second(base: &str, key: &str, clients: usize, for_: Duration) -> (f64, u64) {
    let client = reqwest::Client::new();
    let until = Instant::now() + for_;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let (mut done, mut failed) = (0u64, 0u64);
                while Instant::now() < until {
                    match turn(&client, &base, &key, &format!("load {c}")).await {
                        Ok(_) => done += 1,
                        Err(_) => failed += 1,
                    }
                }
                (done, failed)
            })
        })
        .collect();
    let (mut done, mut failed) = (0, 0);
    for t in tasks {
        let (d, f) = t.await.expect("client task");
        done += d;
        failed += f;
    }
    (done as f64 / started.elapsed().as_secs_f64(), failed)
}

/// One chat turn to `[DONE]`: the times to its first byte and to its end.
pub async fn turn(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    text: &str,
) -> Result<(Duration, Duration), String> {
    let started = Instant::now();
    let mut res = client
        .post(format!("{base}/api/chat"))
        .bearer_auth(key)
        .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": text}]}]}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("status {}", res.status()));
    }
    let mut body = String::new();
    let mut first = None;
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        first.get_or_insert_with(|| started.elapsed());
        body.push_str(&String::from_utf8_lossy(&chunk));
        if body.contains("data: [DONE]") {
            break;
        }
    }
    let total = started.elapsed();
    if body.contains("\"type\":\"finish\"") {
        Ok((first.unwrap_or(total), total))
    } else {
        Err(format!(
            "no finish: {}",
            body.chars().take(200).collect::<String>()
        ))
    }
}

/// One row of the table.
pub struct Row {
    pub name: &'static str,
    pub value: String,
    pub target: &'static str,
    pub met: Option<bool>,
    pub json: Value,
}

pub fn row(
    name: &'static str,
    value: String,
    target: &'static str,
    met: Option<bool>,
    json: Value,
) -> Row {
    Row {
        name,
        value,
        target,
        met,
        json,
    }
}

/// Prints the table and writes target/bench/results.json.
pub fn report(rows: &[Row], out_dir: &Path) {
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| s
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
            .unwrap_or_default()
    );
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    println!("\nOperator benchmarks, {date}, {machine} (release build)\n");
    println!("| Measure | Result | Target | Met |");
    println!("|---|---|---|---|");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        println!("| {} | {} | {} | {met} |", r.name, r.value, r.target);
    }
    let doc = json!({
        "date": date,
        "machine": machine,
        "results": rows.iter().map(|r| json!({"measure": r.name, "result": r.value, "target": r.target, "met": r.met, "data": r.json})).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(out_dir).expect("target/bench");
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&doc).expect("json"),
    )
    .expect("write results.json");
    println!("\n(written to {})", out_dir.join("results.json").display());
}
