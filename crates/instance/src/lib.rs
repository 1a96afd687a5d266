//! `operator-instance`: the small authenticated HTTP API inside every instance — health,
//! files, exec, the instance agent (`/messages`), activity (session transcripts) and
//! browser actions. The control plane is its only client; every call carries the
//! per-instance token.

pub mod agent;
pub mod browser;
pub mod checkpoint;
pub mod cli;
pub mod control;
pub mod exec;
pub mod openclaw;
pub mod sessions;
pub mod workspace;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use operator_instance_api as api;
use operator_instance_api::paths;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use operator_instance_api::MAX_FILE_BYTES;

pub struct Inner {
    pub instance_id: String,
    pub token: String,
    /// Canonical workspace root.
    pub root: PathBuf,
    /// The root as a directory handle: every client-named path resolves beneath it.
    pub workspace: workspace::Workspace,
    pub control: control::Control,
    pub browser: browser::BrowserManager,
    pub http: reqwest::Client,
    /// One agent turn at a time per instance (transcripts stay ordered).
    pub agent_lock: tokio::sync::Mutex<()>,
    /// Extra environment for commands: secrets loaded from the control plane at start
    /// (containers get no secret values in their task definition or overrides).
    pub env: Vec<(String, String)>,
    /// The OpenClaw gateway of an `openclaw` instance (its agent, sessions and cron).
    pub openclaw: Option<openclaw::OpenClaw>,
}

pub type AppState = Arc<Inner>;

pub struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = api::ErrorBody {
            error: api::ErrorDetail {
                code: self.1.to_owned(),
                message: self.2,
            },
        };
        (self.0, Json(body)).into_response()
    }
}

/// A wire type as a JSON answer with its keys in sorted order (as the instance has always
/// sent these answers, so relayed bodies stay byte for byte the same).
fn sorted<T: Serialize>(body: &T) -> Res<Json<Value>> {
    serde_json::to_value(body)
        .map(Json)
        .map_err(|e| internal(e.into()))
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_request", msg.to_string())
}

fn not_found(msg: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", msg.to_string())
}

fn internal(e: anyhow::Error) -> ApiError {
    tracing::error!(error = format!("{e:#}"), "request failed");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        format!("{e:#}"),
    )
}

fn starting() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "instance_starting",
        "the instance's OpenClaw gateway is still starting; try again shortly".into(),
    )
}

/// The OpenClaw gateway, once it answers (a `/messages` during start waits for it).
async fn ready_openclaw(s: &Inner) -> Res<&openclaw::OpenClaw> {
    let Some(oc) = &s.openclaw else {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "conflict",
            "instance-local cron needs an instance of kind openclaw".into(),
        ));
    };
    match oc.wait_ready(openclaw::READY_WAIT).await {
        Ok(()) => Ok(oc),
        Err(openclaw::Phase::Exited(why)) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "instance_unavailable",
            why,
        )),
        Err(_) => Err(starting()),
    }
}

type Res<T> = Result<T, ApiError>;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(paths::HEALTH, get(health))
        .route(
            paths::FILES,
            get(read_files).put(write_file).delete(delete_file),
        )
        .route(paths::EXEC, post(exec))
        .route(paths::ACTIVITY, get(activity))
        .route(paths::MESSAGES, post(messages))
        .route(paths::CRON, get(list_cron).post(add_cron))
        .route(paths::BROWSER_OPEN, post(browser_open))
        .route(paths::BROWSER_TEXT, get(browser_text))
        .route(paths::BROWSER_SCREENSHOT, get(browser_screenshot))
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES))
        .route_layer(from_fn_with_state(state.clone(), auth))
        .fallback(|| async { not_found("no such route") })
        .with_state(state)
}

async fn auth(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), s.token.as_bytes()));
    if ok {
        next.run(req).await
    } else {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid instance token".into(),
        )
        .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health(State(s): State<AppState>) -> Res<Json<Value>> {
    // An `openclaw` instance is healthy once its gateway answers (the runtime waits).
    if let Some(oc) = &s.openclaw {
        match oc.phase() {
            openclaw::Phase::Ready => {}
            openclaw::Phase::Starting => return Err(starting()),
            openclaw::Phase::Exited(why) => {
                return Err(ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "instance_unavailable",
                    why,
                ))
            }
        }
    }
    sorted(&api::Health {
        ok: true,
        instance_id: s.instance_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

fn path_error(e: workspace::PathError) -> ApiError {
    use workspace::PathError;
    match e {
        PathError::Invalid(_) | PathError::Outside | PathError::NotAFile(_) => bad(e),
        PathError::NotFound(_) => not_found(e),
        PathError::IsDirectory(_) | PathError::InTheWay(_) => {
            ApiError(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        PathError::TooLarge => ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            e.to_string(),
        ),
        PathError::Io(e) => internal(e.into()),
    }
}

/// Runs blocking filesystem work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, workspace::PathError> + Send + 'static,
) -> Res<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal(e.into()))?
        .map_err(path_error)
}

async fn read_files(
    State(s): State<AppState>,
    Query(q): Query<api::FilesQuery>,
) -> Res<Json<Value>> {
    let path = q.path.clone();
    let node = {
        let s = s.clone();
        blocking(move || s.workspace.read(&path, MAX_FILE_BYTES as u64)).await?
    };
    let node = match node {
        workspace::Node::Directory(entries) => api::FileNode::Directory {
            path: q.path,
            entries,
        },
        workspace::Node::File { bytes, modified_at } => {
            let size = bytes.len();
            let (content, encoding) = match String::from_utf8(bytes) {
                Ok(t) => (t, "utf-8"),
                Err(e) => {
                    use base64::Engine;
                    (
                        base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                        "base64",
                    )
                }
            };
            api::FileNode::File {
                path: q.path,
                size: size as u64,
                modified_at,
                encoding: encoding.to_owned(),
                content,
            }
        }
    };
    sorted(&node)
}

async fn write_file(
    State(s): State<AppState>,
    Query(q): Query<api::FilesQuery>,
    body: Bytes,
) -> Res<Json<Value>> {
    if q.path.trim().is_empty() {
        return Err(bad("path is required"));
    }
    let (path, size) = (q.path.clone(), body.len());
    blocking(move || s.workspace.write(&path, &body)).await?;
    sorted(&api::FileWritten {
        path: q.path,
        size: size as u64,
    })
}

async fn delete_file(
    State(s): State<AppState>,
    Query(q): Query<api::FilesQuery>,
) -> Res<Json<Value>> {
    if q.path.trim().is_empty() {
        return Err(bad(
            "path is required (the workspace root cannot be deleted)",
        ));
    }
    let path = q.path.clone();
    blocking(move || s.workspace.remove(&path)).await?;
    sorted(&api::Done { ok: true })
}

async fn exec(State(s): State<AppState>, body: Bytes) -> Res<Json<exec::ExecResult>> {
    let req: api::ExecRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid body: {e}")))?;
    if req.command.trim().is_empty() {
        return Err(bad("command must not be empty"));
    }
    if req.command.len() > exec::MAX_COMMAND_BYTES {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "command must be at most {} KiB",
                exec::MAX_COMMAND_BYTES / 1024
            ),
        ));
    }
    if req.command.contains('\0') {
        return Err(bad("command must not contain NUL bytes"));
    }
    let cwd = s
        .workspace
        .open_dir(req.cwd.as_deref().unwrap_or(""))
        .map_err(path_error)?;
    let timeout = Duration::from_millis(req.effective_timeout_ms());
    exec::run(&cwd, &req.command, timeout, &s.env)
        .await
        .map(Json)
        .map_err(internal)
}

async fn activity(
    State(s): State<AppState>,
    Query(q): Query<api::ActivityQuery>,
) -> Res<Json<Value>> {
    let wanted = q.session_id.as_deref().filter(|x| !x.is_empty());
    // (every session, the selected one, its lines)
    let (all, selected, lines) = if s.openclaw.is_some() {
        let oc = ready_openclaw(&s).await?;
        let all = oc.sessions().await.map_err(internal)?;
        let selected = match wanted {
            Some(id) => match all.iter().find(|m| m.id == id) {
                Some(m) => Some(m.clone()),
                None => return Err(not_found(format!("session {id} not found"))),
            },
            None => all.first().cloned(),
        };
        let lines = match &selected {
            Some(sel) => oc.transcript(&sel.id).await.map_err(internal)?,
            None => vec![],
        };
        (all, selected, lines)
    } else {
        let dir = s.workspace.dir();
        let all = sessions::list(dir);
        let selected = match wanted {
            Some(id) if sessions::exists(dir, id) => all.iter().find(|m| m.id == id).cloned(),
            Some(id) => return Err(not_found(format!("session {id} not found"))),
            None => all.first().cloned(),
        };
        let lines = match &selected {
            Some(sel) => sessions::lines(dir, &sel.id).map_err(internal)?,
            None => vec![],
        };
        (all, selected, lines)
    };
    let Some(sel) = selected else {
        return sorted(&api::Activity {
            sessions: vec![],
            selected_session: None,
            line_count: 0,
            lines: vec![],
            session_changed: false,
            cursor: None,
        });
    };
    // cursor = "<sessionId>:<lines already seen>"
    let (from, changed) = match q.cursor.as_deref().and_then(|c| c.rsplit_once(':')) {
        Some((sid, n)) if sid == sel.id => {
            (n.parse::<usize>().unwrap_or(0).min(lines.len()), false)
        }
        Some(_) => (0, true),
        None => (0, false),
    };
    sorted(&api::Activity {
        cursor: Some(format!("{}:{}", sel.id, lines.len())),
        line_count: lines.len() as u64,
        lines: lines[from..].to_vec(),
        sessions: all,
        selected_session: Some(api::SelectedSession {
            id: sel.id,
            title: sel.title,
        }),
        session_changed: changed,
    })
}

/// `GET /cron`: the jobs of the instance's own scheduler (`openclaw` kind).
async fn list_cron(State(s): State<AppState>) -> Res<Json<Value>> {
    let oc = ready_openclaw(&s).await?;
    let payload = oc
        .rpc("cron.list", serde_json::json!({"includeDisabled": true}))
        .await
        .map_err(internal)?;
    let jobs = payload["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(openclaw::cron_job)
        .collect();
    sorted(&api::CronJobs { jobs })
}

/// `POST /cron`: a job that runs an agent turn inside the instance on a schedule.
async fn add_cron(State(s): State<AppState>, body: Bytes) -> Res<Json<Value>> {
    let req: api::CronJobRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid body: {e}")))?;
    if let Some(why) = req.problem() {
        return Err(bad(why));
    }
    let oc = ready_openclaw(&s).await?;
    match oc.rpc("cron.add", openclaw::cron_add_params(&req)).await {
        Ok(job) => sorted(&api::CronJobCreated {
            job: openclaw::cron_job(&job),
        }),
        // OpenClaw refusing the job (a bad expression or time) is the caller's to fix.
        Err(e) => match e.downcast_ref::<openclaw::RpcError>() {
            Some(r) if r.status < 500 => Err(bad(&r.message)),
            _ => Err(internal(e)),
        },
    }
}

async fn messages(State(s): State<AppState>, body: Bytes) -> Res<Json<Value>> {
    let req: api::MessageRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid body: {e}")))?;
    if req.text.trim().is_empty() {
        return Err(bad("text must not be empty"));
    }
    if s.openclaw.is_some() {
        let session = match req.session_id {
            Some(id) if openclaw::valid_session(&id) => id,
            Some(_) => return Err(bad("sessionId is not a session id")),
            None => sessions::new_id(),
        };
        let oc = ready_openclaw(&s).await?;
        return match oc.message(&session, &req.text).await {
            Ok(text) => sorted(&api::MessageReply {
                text,
                session_id: session,
            }),
            Err(e) => Err(ApiError(
                StatusCode::BAD_GATEWAY,
                "agent_failed",
                format!("{e:#}"),
            )),
        };
    }
    let session = match req.session_id {
        Some(id) if sessions::valid_id(&id) => id,
        Some(_) => return Err(bad("sessionId is not a session id")),
        None => sessions::new_id(),
    };
    let _turn = s.agent_lock.lock().await;
    match agent::respond(&s, &session, &req.text).await {
        Ok(text) => sorted(&api::MessageReply {
            text,
            session_id: session,
        }),
        Err(e) => {
            // The gateway's own refusals keep their status and code; anything else is the
            // agent failing.
            let passed = e.downcast_ref::<control::GatewayError>().and_then(|g| {
                match (g.status, g.code.as_str()) {
                    (503, "llm_unavailable") => Some((
                        StatusCode::SERVICE_UNAVAILABLE,
                        "llm_unavailable",
                        g.message.clone(),
                    )),
                    (429, "quota_exceeded") => Some((
                        StatusCode::TOO_MANY_REQUESTS,
                        "quota_exceeded",
                        g.message.clone(),
                    )),
                    _ => None,
                }
            });
            Err(match passed {
                Some((status, code, message)) => ApiError(status, code, message),
                None => ApiError(StatusCode::BAD_GATEWAY, "agent_failed", format!("{e:#}")),
            })
        }
    }
}

async fn browser_open(State(s): State<AppState>, body: Bytes) -> Res<Json<api::PageInfo>> {
    let req: api::BrowserOpenRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid body: {e}")))?;
    browser_result(s.browser.open(&req.url).await)
}

async fn browser_text(State(s): State<AppState>) -> Res<Json<api::PageInfo>> {
    browser_result(s.browser.text().await)
}

fn browser_result<T>(r: anyhow::Result<T>) -> Res<Json<T>> {
    r.map(Json).map_err(|e| {
        let msg = format!("{e:#}");
        if msg.contains("not installed") {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, "browser_unavailable", msg)
        } else if msg.contains("no page is open")
            || msg.contains("invalid URL")
            || msg.contains("only http")
        {
            bad(msg)
        } else {
            ApiError(StatusCode::BAD_GATEWAY, "browser_failed", msg)
        }
    })
}

async fn browser_screenshot(State(s): State<AppState>) -> Res<Response> {
    let png = browser_result(s.browser.screenshot().await)?.0;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
