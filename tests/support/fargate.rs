//! Fargate's part, played for the emulator. The emulator records tasks but runs nothing, and
//! its task IPs (10.x) lead nowhere. This harness does what Fargate and the VPC would:
//!
//! - for each task the emulator reports RUNNING it starts the real `operator-instance` with
//!   the task's environment overrides, its workspace being the directory the task
//!   definition's EFS access point names (`/instances/<id>` under the file system's local
//!   stand-in, which the worker mounts as `OPERATOR_WORKSPACES_DIR`), or a scratch directory
//!   when the task mounts none (as Fargate's own storage); a stopped task's process is killed;
//! - an HTTP proxy (the processes get it as `HTTP_PROXY`) routes `http://<task ip>:<port>`
//!   to that task's process, and the control URL `http://operator.test` to the API function
//!   through the Lambda Runtime API emulator, as a Function URL would.
//!
//! What it cannot show: NFS itself (permissions as the access point's POSIX user, TLS in
//! transit) and a real task's start time.
#![allow(dead_code)]

use super::aws_env::sibling_binary;
use super::lambda::RuntimeApi;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncBufReadExt;

/// The control URL tasks are given; the proxy hands its requests to the API function.
pub const CONTROL_URL: &str = "http://operator.test";

#[derive(Clone)]
struct Routes {
    /// Task IP → the local address its process listens on.
    by_ip: Arc<Mutex<HashMap<String, String>>>,
    lambda: Arc<RuntimeApi>,
    http: reqwest::Client,
}

pub struct FakeFargate {
    /// `http://127.0.0.1:<port>`, for `HTTP_PROXY`.
    pub proxy: String,
    paused: Arc<AtomicBool>,
    /// Task ARNs whose process was started, in order.
    pub started: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeFargate {
    fn drop(&mut self) {
        // The loop owns the processes (killed on drop of their handles).
        self.task.abort();
        self.server.abort();
    }
}

impl FakeFargate {
    /// Plays Fargate for `cluster`'s tasks; `efs_root` stands for the file system's root.
    pub async fn start(
        cfg: &aws_config::SdkConfig,
        cluster: &str,
        efs_root: PathBuf,
        lambda: Arc<RuntimeApi>,
        logs: PathBuf,
    ) -> Self {
        let routes = Routes {
            by_ip: Arc::default(),
            lambda,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(routes.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let paused = Arc::new(AtomicBool::new(false));
        let started = Arc::new(Mutex::new(vec![]));
        let task = tokio::spawn(run(
            aws_sdk_ecs::Client::new(cfg),
            aws_sdk_efs::Client::new(cfg),
            cluster.to_owned(),
            efs_root,
            routes,
            proxy.clone(),
            paused.clone(),
            started.clone(),
            logs,
        ));
        Self {
            proxy,
            paused,
            started,
            task,
            server,
        }
    }

    /// While paused, tasks that come up get no process (as a task stuck pulling its image).
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Environment for the control plane's processes: instance calls go through the proxy.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HTTP_PROXY", self.proxy.clone()),
            ("NO_PROXY", "127.0.0.1,localhost".into()),
            ("OPERATOR_PUBLIC_URL", CONTROL_URL.into()),
        ]
    }
}

struct Process {
    ip: String,
    _child: tokio::process::Child,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    ecs: aws_sdk_ecs::Client,
    efs: aws_sdk_efs::Client,
    cluster: String,
    efs_root: PathBuf,
    routes: Routes,
    proxy: String,
    paused: Arc<AtomicBool>,
    started: Arc<Mutex<Vec<String>>>,
    logs: PathBuf,
) {
    let mut running: HashMap<String, Process> = HashMap::new();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let Ok(out) = ecs.list_tasks().cluster(&cluster).send().await else {
            continue;
        };
        let arns = out.task_arns.unwrap_or_default();
        if arns.is_empty() {
            continue;
        }
        let Ok(out) = ecs
            .describe_tasks()
            .cluster(&cluster)
            .set_tasks(Some(arns))
            .send()
            .await
        else {
            continue;
        };
        for t in out.tasks.unwrap_or_default() {
            let arn = t.task_arn().unwrap_or_default().to_owned();
            let stopped =
                t.last_status() == Some("STOPPED") || t.desired_status() == Some("STOPPED");
            if stopped {
                if let Some(p) = running.remove(&arn) {
                    routes.by_ip.lock().unwrap().remove(&p.ip);
                }
                continue;
            }
            if running.contains_key(&arn)
                || paused.load(Ordering::SeqCst)
                || t.last_status() != Some("RUNNING")
            {
                continue;
            }
            let Some(ip) = t
                .attachments()
                .iter()
                .flat_map(|a| a.details())
                .find(|d| d.name() == Some("privateIPv4Address"))
                .and_then(|d| d.value())
                .map(str::to_owned)
            else {
                continue;
            };
            let workspace =
                workspace_of(&ecs, &efs, &efs_root, t.task_definition_arn().unwrap_or("")).await;
            let env: Vec<(String, String)> = t
                .overrides()
                .map(|o| o.container_overrides())
                .unwrap_or_default()
                .iter()
                .flat_map(|c| c.environment())
                .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
                .collect();
            let id = arn.rsplit('/').next().unwrap_or("task").to_owned();
            let Some((child, addr)) =
                launch(&workspace, &env, &proxy, &logs.join(format!("{id}.log"))).await
            else {
                continue;
            };
            routes.by_ip.lock().unwrap().insert(ip.clone(), addr);
            started.lock().unwrap().push(arn.clone());
            running.insert(arn, Process { ip, _child: child });
        }
    }
}

/// The directory a task's workspace volume stands for (created as EFS would at first mount).
async fn workspace_of(
    ecs: &aws_sdk_ecs::Client,
    efs: &aws_sdk_efs::Client,
    efs_root: &std::path::Path,
    task_definition: &str,
) -> PathBuf {
    let access_point = ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .ok()
        .and_then(|o| o.task_definition)
        .and_then(|d| operator_aws::EcsRuntime::access_point_of(&d));
    let root = match access_point {
        Some(ap) => efs
            .describe_access_points()
            .access_point_id(ap)
            .send()
            .await
            .ok()
            .and_then(|o| o.access_points.unwrap_or_default().into_iter().next())
            .and_then(|ap| ap.root_directory.and_then(|r| r.path)),
        None => None,
    };
    let dir = match root {
        Some(path) => efs_root.join(path.trim_start_matches('/')),
        // No workspace volume: the task's own storage, gone with it.
        None => std::env::temp_dir().join(format!("fargate-scratch-{}", rand::random::<u64>())),
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `operator-instance` as the task's container would; its local listening address.
async fn launch(
    workspace: &std::path::Path,
    env: &[(String, String)],
    proxy: &str,
    log: &std::path::Path,
) -> Option<(tokio::process::Child, String)> {
    let mut cmd = tokio::process::Command::new(sibling_binary("operator-instance"));
    cmd.arg("serve")
        .arg("--workspace")
        .arg(workspace)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // As in the task, but on loopback: the proxy stands for the VPC.
        .env("OPERATOR_INSTANCE_BIND", "127.0.0.1")
        .env("OPERATOR_INSTANCE_PORT", "0")
        .env("HTTP_PROXY", proxy)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).ok()?)
        .kill_on_drop(true);
    let mut child = cmd.spawn().ok()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take()?).lines();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.strip_prefix("listening on ") {
                return Some(addr.trim().to_owned());
            }
        }
        None
    })
    .await
    .ok()??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some((child, addr))
}

/// The proxy: a task's address to its process, the control URL to the API function.
async fn forward(State(r): State<Routes>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let host = parts.uri.host().unwrap_or_default().to_owned();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "proxy-connection" | "connection"))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if format!("http://{host}") == CONTROL_URL {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let text = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
        let out = r
            .lambda
            .invoke(parts.method.as_str(), &path, &h, text.as_deref())
            .await;
        let status = out.status;
        let content_type = out.headers.get("content-type").cloned();
        let text = out.text().await;
        let mut resp = (
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
            text,
        )
            .into_response();
        if let Some(ct) = content_type.and_then(|c| c.parse().ok()) {
            resp.headers_mut().insert("content-type", ct);
        }
        return resp;
    }
    let Some(addr) = r.by_ip.lock().unwrap().get(&host).cloned() else {
        return (
            axum::http::StatusCode::BAD_GATEWAY,
            "no task at that address",
        )
            .into_response();
    };
    let mut out = r
        .http
        .request(parts.method.clone(), format!("http://{addr}{path}"))
        .body(body);
    for (k, v) in &headers {
        out = out.header(k, v);
    }
    match out.send().await {
        Ok(resp) => {
            let mut b = Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                b = b.header(k, v);
            }
            b.body(Body::from_stream(resp.bytes_stream())).unwrap()
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
