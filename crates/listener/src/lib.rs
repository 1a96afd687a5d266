//! The HTTP/1.1 listener both Operator APIs run on (the platform API of `operator serve` and
//! the instance API inside every instance).
//!
//! `axum::serve` has no timeouts and no connection cap: a client that opens a connection and
//! stalls holds it (and a file descriptor) forever, and enough of them stop the server from
//! accepting anyone. This listener serves an `axum::Router` with hyper directly and bounds
//! every wait a client can impose ([`Limits`], all configurable from the environment):
//! - the next request head: `OPERATOR_IDLE_TIMEOUT_SECS` to start, then
//!   `OPERATOR_HEADER_TIMEOUT_SECS` to finish once its first byte arrived (see [`io`]);
//! - a request body: `OPERATOR_BODY_TIMEOUT_SECS` between two pieces, and at least
//!   [`body::MIN_BODY_RATE`] bytes a second on average after that long, else `408` (see [`body`]);
//! - a response the client stops reading: `OPERATOR_IDLE_TIMEOUT_SECS`, then closed;
//! - open connections: `OPERATOR_MAX_CONNECTIONS`. At the cap, the connection that has waited
//!   longest for a request (idle, or stalled in its head) is closed to make room, so stalled
//!   clients cannot lock others out; when every connection is busy with a request, the new
//!   one is answered at once with `503 overloaded` and closed (a clear refusal, not a hang).
//!   While as many newcomers are being handled that way as spare descriptors allow, the
//!   listener stops accepting: the rest wait in the kernel's backlog, none is dropped unanswered.
//!
//! A URI over [`MAX_URI_BYTES`] gets `414 uri_too_long`. Requests hyper itself refuses (bad
//! syntax or `Content-Length`, more than [`MAX_HEADERS`] headers or a head over
//! [`MAX_HEAD_BYTES`]) are answered with API.md's JSON error body too (see [`framing`]). On shutdown the listener stops accepting, lets open
//! requests finish for [`Limits::shutdown_grace`], then closes what is left.

pub mod body;
pub mod framing;
pub mod io;
pub mod refusal;

use axum::http::{Method, Request, Response};
use axum::Router;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

pub use refusal::Refusal;

/// Most headers in one request (hyper answers 431 beyond).
pub const MAX_HEADERS: usize = 100;
/// Largest request head, in bytes (hyper answers 431 beyond).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest request URI (path and query); longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most connections over the cap handled at once (making room or refusing); beyond, the
/// listener stops accepting until one is done, leaving newcomers in the kernel's backlog.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// How long a connection over the cap waits for room, and how long a refused one is kept.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Bounds on what a client can make the server wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request head must be complete this long after its first byte.
    pub header_timeout: Duration,
    /// A request body may pause this long between two pieces (and must average
    /// [`body::MIN_BODY_RATE`] after this long).
    pub body_timeout: Duration,
    /// A connection with no request in progress, or whose client stopped reading, is closed
    /// after this long.
    pub idle_timeout: Duration,
    /// Open connections; beyond, the longest-waiting idle one is closed, or 503.
    pub max_connections: usize,
    /// How long open requests may run on after shutdown begins.
    pub shutdown_grace: Duration,
}

/// A limit set to something unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} must be a whole number from 1 to {max}, not {value:?}")]
    Invalid {
        name: &'static str,
        value: String,
        max: u64,
    },
}

impl Limits {
    /// The documented defaults, with the connection cap derived from the file-descriptor limit.
    pub fn defaults() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(fd_limit()),
            shutdown_grace: Duration::from_secs(10),
        }
    }

    /// Reads `OPERATOR_HEADER_TIMEOUT_SECS`, `OPERATOR_BODY_TIMEOUT_SECS`,
    /// `OPERATOR_IDLE_TIMEOUT_SECS` and `OPERATOR_MAX_CONNECTIONS` over [`Limits::defaults`].
    /// Raises the soft file-descriptor limit to the hard one first (as Go does) so that the
    /// default cap is as high as the system allows.
    pub fn from_env() -> Result<Self, ConfigError> {
        raise_fd_limit();
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Limits::from_env`] over any source of variables (tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut limits = Self::defaults();
        let read = |name: &'static str, max: u64| -> Result<Option<u64>, ConfigError> {
            match var(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(value) => match value.trim().parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(ConfigError::Invalid { name, value, max }),
                },
            }
        };
        const DAY: u64 = 24 * 3600;
        if let Some(s) = read("OPERATOR_HEADER_TIMEOUT_SECS", DAY)? {
            limits.header_timeout = Duration::from_secs(s);
        }
        if let Some(s) = read("OPERATOR_BODY_TIMEOUT_SECS", DAY)? {
            limits.body_timeout = Duration::from_secs(s);
        }
        if let Some(s) = read("OPERATOR_IDLE_TIMEOUT_SECS", DAY)? {
            limits.idle_timeout = Duration::from_secs(s);
        }
        if let Some(n) = read("OPERATOR_MAX_CONNECTIONS", 1 << 24)? {
            limits.max_connections = n as usize;
        }
        Ok(limits)
    }
}

/// The soft limit on open file descriptors (`u64::MAX` when unlimited or unknown).
pub fn fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return u64::MAX;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform
    let soft = lim.rlim_cur as u64;
    soft
}

/// Raises the soft file-descriptor limit to the hard limit; returns the soft limit after.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                tracing::debug!("could not raise the file-descriptor limit");
            }
        }
    }
    fd_limit()
}

/// Three quarters of the descriptors for client connections (the rest for the database,
/// instances and outgoing calls), at most 65,536 and at least 16.
pub fn default_max_connections(fd_limit: u64) -> usize {
    (fd_limit / 4 * 3).clamp(16, 65_536) as usize
}

/// Connections over the cap handled at once: each holds a descriptor (and its victim's until
/// it closes), so half the descriptors the cap leaves spare, at most
/// [`MAX_REFUSALS_IN_FLIGHT`] and at least one.
pub fn refusals_in_flight(fd_limit: u64, max_connections: usize) -> usize {
    let spare = fd_limit.saturating_sub(max_connections as u64) / 2;
    spare.clamp(1, MAX_REFUSALS_IN_FLIGHT as u64) as usize
}

/// Serves `router` on `listener` until `shutdown` completes, within `limits`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let fds = fd_limit();
    if (limits.max_connections as u64).saturating_add(32) > fds {
        tracing::warn!(
            max_connections = limits.max_connections,
            fd_limit = fds,
            "OPERATOR_MAX_CONNECTIONS is near the file-descriptor limit; the server may run out of descriptors before it refuses connections"
        );
    }
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        // A backstop only: io.rs enforces the idle and header timeouts separately.
        .header_read_timeout(limits.idle_timeout + limits.header_timeout)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let conn = Arc::new(Connections {
        http,
        router,
        limits: limits.clone(),
        registry: Default::default(),
    });
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(refusals_in_flight(
        fds,
        limits.max_connections,
    )));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut open = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = open.join_next(), if !open.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    // Small SSE writes go out at once (no Nagle/delayed-ACK stalls).
                    let _ = tcp.set_nodelay(true);
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            open.spawn(conn.clone().serve(tcp, permit, stop_rx.clone()));
                        }
                        Err(_) => {
                            // Full: make room by closing the connection that has waited
                            // longest for a request, or refuse. While as many are being
                            // handled as descriptors allow, stop accepting (each is done
                            // within REFUSAL_LINGER): later clients wait in the backlog
                            // instead of being dropped unanswered.
                            let slot = tokio::select! {
                                () = &mut shutdown => break,
                                slot = refusals.clone().acquire_owned() => slot,
                            };
                            let Ok(slot) = slot else { break };
                            open.spawn(conn.clone().make_room(
                                tcp,
                                permits.clone(),
                                slot,
                                stop_rx.clone(),
                            ));
                        }
                    }
                }
                Err(e) => {
                    // Out of descriptors (or similar): back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while open.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = open.len(),
            "closing connections still busy after the shutdown grace period"
        );
        open.shutdown().await;
    }
    Ok(())
}

/// Answers a connection over the cap with `503 overloaded` and closes it, keeping it a
/// moment to read what the client sent (so the close does not reset the connection before
/// the client reads the answer).
async fn refuse(mut tcp: TcpStream) {
    tracing::debug!("connection cap reached: refusing a connection");
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        let _ = tcp.write_all(&Refusal::Overloaded.wire()).await;
        let _ = tcp.shutdown().await;
        let mut sink = [0u8; 4096];
        while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// What every connection task shares.
struct Connections {
    http: hyper::server::conn::http1::Builder,
    router: Router,
    limits: Limits,
    /// Open connections, for eviction when the cap is reached.
    registry: std::sync::Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    open: std::collections::HashMap<u64, (io::Shared, Arc<tokio::sync::Notify>)>,
}

/// Removes a connection from the registry when its task ends.
struct Registered<'a>(&'a Connections, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock_registry(&self.0.registry).open.remove(&self.1);
    }
}

fn lock_registry(r: &std::sync::Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    r.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks the end of one request on its connection when dropped.
struct InFlight(io::Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        io::end(&self.0);
    }
}

impl Connections {
    /// At the cap: closes the connection that has waited longest for its next request (it
    /// is doing no work; stalled and idle clients go first) and serves `tcp` in its place;
    /// if every connection is busy with a request, refuses `tcp` with 503.
    async fn make_room(
        self: Arc<Self>,
        tcp: TcpStream,
        permits: Arc<Semaphore>,
        slot: OwnedSemaphorePermit,
        stop: watch::Receiver<bool>,
    ) {
        // Taken out of the registry, so that concurrent newcomers pick different victims.
        let victim = {
            let mut registry = lock_registry(&self.registry);
            let oldest = registry
                .open
                .iter()
                .filter_map(|(id, (shared, _))| Some((io::waiting_since(shared)?, *id)))
                .min()
                .map(|(_, id)| id);
            oldest
                .and_then(|id| registry.open.remove(&id))
                .map(|(_, evict)| evict)
        };
        if let Some(evict) = victim {
            evict.notify_one();
            if let Ok(Ok(permit)) =
                tokio::time::timeout(REFUSAL_LINGER, permits.acquire_owned()).await
            {
                drop(slot);
                return self.serve(tcp, permit, stop).await;
            }
        }
        refuse(tcp).await;
        drop(slot);
    }

    async fn serve(
        self: Arc<Self>,
        tcp: TcpStream,
        _permit: OwnedSemaphorePermit,
        mut stop: watch::Receiver<bool>,
    ) {
        let shared = io::shared();
        let evict = Arc::new(tokio::sync::Notify::new());
        let id = {
            let mut registry = lock_registry(&self.registry);
            registry.next += 1;
            let id = registry.next;
            registry.open.insert(id, (shared.clone(), evict.clone()));
            id
        };
        let _registered = Registered(&self, id);
        let io =
            hyper_util::rt::TokioIo::new(io::ConnIo::new(tcp, shared.clone(), self.limits.clone()));
        let router = self.router.clone();
        let body_timeout = self.limits.body_timeout;
        let shared_for_evict = shared.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            io::begin(&shared, req.method() == Method::HEAD);
            let guard = InFlight(shared.clone());
            let timed_out = Arc::new(AtomicBool::new(false));
            let req = req.map(|b| {
                axum::body::Body::new(body::TimeoutBody::new(b, body_timeout, timed_out.clone()))
            });
            let router = router.clone();
            async move {
                let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
                let res = if uri_len > MAX_URI_BYTES {
                    Refusal::UriTooLong.response()
                } else {
                    tower::ServiceExt::oneshot(router, req)
                        .await
                        .unwrap_or_else(|never: Infallible| match never {})
                };
                let res = if timed_out.load(Ordering::Relaxed) {
                    Refusal::BodyTimeout.response()
                } else {
                    res
                };
                Ok::<_, Infallible>(respond(res, guard))
            }
        });
        let conn = self.http.serve_connection(io, service);
        tokio::pin!(conn);
        let res = loop {
            tokio::select! {
                res = conn.as_mut() => break res,
                () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                    conn.as_mut().graceful_shutdown();
                    break conn.await;
                }
                () = evict.notified() => {
                    if io::waiting_since(&shared_for_evict).is_some() {
                        tracing::debug!("closing the longest-waiting connection to make room");
                        return;
                    }
                    // A request arrived meanwhile: stay, and stay evictable later.
                    lock_registry(&self.registry)
                        .open
                        .insert(id, (shared_for_evict.clone(), evict.clone()));
                }
            }
        };
        if let Err(e) = res {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

fn respond(res: Response<axum::body::Body>, guard: InFlight) -> Response<axum::body::Body> {
    res.map(|b| axum::body::Body::new(body::GuardedBody::new(b, guard)))
}

#[cfg(test)]
mod tests;
