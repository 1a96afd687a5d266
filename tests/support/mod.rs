//! Test harness: start the real `operator` binary on port 0 with a fresh data directory and
//! talk to it over real HTTP.
#![allow(dead_code)]

pub mod aws_env;
pub mod emulator;
pub mod fake_llm;
pub mod fake_telegram;
pub mod fargate;
pub mod lambda;
pub mod sse;

use rand::distributions::{Alphanumeric, DistString};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_operator");

pub fn random_key() -> String {
    format!(
        "ck_live_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
    )
}

/// A running server. Dropping it kills the process (SIGKILL) but keeps the data directory
/// for as long as `dir` lives.
pub struct App {
    pub base: String,
    pub key: String,
    pub data_dir: PathBuf,
    pub stdout: Vec<String>,
    child: Child,
    client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

pub struct Options<'a> {
    pub data_dir: Option<&'a Path>,
    pub key: Option<String>,
    pub env: Vec<(&'a str, String)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            data_dir: None,
            key: Some(random_key()),
            env: vec![],
        }
    }
}

impl App {
    /// GIVEN a fresh platform with a known bootstrap key.
    pub async fn spawn() -> App {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options<'_>) -> App {
        Self::spawn_limited(opts, None).await
    }

    /// Like [`App::spawn_with`], with RLIMIT_NOFILE (soft and hard) of the server set to
    /// `fd_limit`, as `ulimit -n` would.
    pub async fn spawn_limited(opts: Options<'_>, fd_limit: Option<u64>) -> App {
        let (dir, data_dir) = match opts.data_dir {
            Some(d) => (None, d.to_owned()),
            None => {
                let d = tempfile::tempdir().expect("tempdir");
                let p = d.path().join("data");
                (Some(d), p)
            }
        };
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .env_remove("OPERATOR_MASTER_KEY")
            .env_remove("OPERATOR_BOOTSTRAP_KEY")
            .env_remove("OPERATOR_PUBLIC_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some(k) = &opts.key {
            cmd.env("OPERATOR_BOOTSTRAP_KEY", k);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        if let Some(n) = fd_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit (async-signal-safe) runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("start operator");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = vec![];
        let base = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let found = line
                        .strip_prefix("Listening on ")
                        .and_then(|r| r.split_whitespace().next())
                        .map(str::to_owned);
                    lines.push(line);
                    if let Some(url) = found {
                        break url;
                    }
                }
                Err(_) => {
                    let log =
                        std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
                    let status = child.try_wait();
                    panic!("server did not start ({status:?}); stdout: {lines:?}; log: {log}");
                }
            }
        };
        let key = opts.key.unwrap_or_else(|| {
            lines
                .iter()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("ck_live_")
                        .map(|r| format!("ck_live_{r}"))
                })
                .unwrap_or_default()
        });
        App {
            base,
            key,
            data_dir,
            stdout: lines,
            child,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// kill -9, leaving the data directory in place.
    pub fn kill9(mut self) -> Option<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._dir.take()
    }

    /// SIGTERM, then waits up to `within` for the exit; `None` if it is still running.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            // Already gone and reaped: its pid may be another process's by now.
            return Some(status);
        }
        if let Err(e) = operator_local::signal::send_signal(
            self.child.id(),
            operator_local::signal::Signal::Term,
        ) {
            eprintln!("SIGTERM to the server: {e}");
        }
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    /// Sends JSON (or nothing) with the app's key and returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.key.clone(), method, path, body).await
    }

    pub async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.request(method, path, Some(key));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        send(rb).await
    }

    /// An active instance `name` whose skill `skill` (skills/<skill>/SKILL.md) says
    /// "Strategy of <name>." — a variant as `create_variants` makes them.
    pub async fn variant_with_skill(&self, name: &str, skill: &str) {
        self.active_instance(name).await;
        let res = self
            .request(
                Method::PUT,
                &format!("/api/instances/{name}/files?path=skills/{skill}/SKILL.md"),
                Some(&self.key),
            )
            .body(format!(
                "---\nname: {skill}\ndescription: {name}\n---\n\nStrategy of {name}.\n"
            ))
            .send()
            .await
            .expect("write the skill");
        assert_eq!(res.status(), 200, "writing {name}'s skill");
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// `operator accounts create` against this server's data directory; returns (id, key).
    pub fn create_account(&self, plan: &str) -> (String, String) {
        let out = Command::new(BIN)
            .args(["accounts", "create", "--plan", plan, "--data-dir"])
            .arg(&self.data_dir)
            .env_remove("OPERATOR_MASTER_KEY")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run operator accounts create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json output");
        (
            v["accountId"].as_str().unwrap().to_owned(),
            v["key"].as_str().unwrap().to_owned(),
        )
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for App {
    /// SIGTERM first (the server stops its instances), SIGKILL after 10 s.
    fn drop(&mut self) {
        // A server already reaped (`kill9`, `terminate`) is not signalled: its pid may have
        // been given to another process since — on a shared machine, another test's server.
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = operator_local::signal::send_signal(
            self.child.id(),
            operator_local::signal::Signal::Term,
        );
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn send(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let res = rb.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"))
    };
    (status, v)
}

/// Asserts API.md's error body with the given status and code.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(got.0.as_u16(), status, "body: {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "body: {}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

/// Fails the test unless bubblewrap is installed (scripts/test.sh installs it).
pub fn require_bwrap() {
    assert!(
        Command::new("bwrap").arg("--version").output().is_ok(),
        "bubblewrap is not installed; scripts/test.sh installs it (apt-get install bubblewrap)"
    );
}

/// Polls `f` until it returns Some, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl App {
    /// Waits until the instance reaches `status` (or panics after 30 s), returning it.
    pub async fn wait_status(&self, key: &str, id: &str, status: &str) -> Value {
        let path = format!("/api/instances/{id}");
        let mut last = Value::Null;
        for _ in 0..600 {
            let (_, v) = self.call_as(key, Method::GET, &path, None).await;
            if v["instance"]["status"] == status {
                return v["instance"].clone();
            }
            last = v;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("instance {id} never became {status}: {last}");
    }

    /// Runs `command` in the instance through `/exec`, asserting a 200; returns the result.
    pub async fn exec(&self, id: &str, command: &str) -> Value {
        let (s, v) = self
            .post(
                &format!("/api/instances/{id}/exec"),
                serde_json::json!({"command": command}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Creates an instance and waits for it to be active; returns its id.
    pub async fn active_instance(&self, name: &str) -> String {
        let (s, v) = self
            .post("/api/instances", serde_json::json!({"name": name}))
            .await;
        assert_eq!(s, 201, "{v}");
        let id = v["instance"]["id"].as_str().unwrap().to_owned();
        self.wait_status(&self.key.clone(), &id, "active").await;
        id
    }
}

/// The last `n` lines of `s` (a server log in a failure message).
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
