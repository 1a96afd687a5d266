//! One connection's socket as hyper sees it: read and write deadlines, and the rewrite of
//! hyper's bare error responses into API.md's JSON body.
//!
//! Deadlines depend on what the connection is doing, which only the service knows; the
//! service and this wrapper share a [`ConnState`] (one connection is served by one task, so
//! the lock is never contended):
//! - no request in progress and no byte of the next one yet: closed after the idle timeout
//!   (keep-alive idle, or a fresh connection that says nothing);
//! - the first byte of a request head arrived: the whole head must follow within the header
//!   timeout (slowloris);
//! - a request in progress: no read deadline here (the body has its own, see
//!   [`crate::body`], and a handler may legitimately think for minutes);
//! - any time: a write the client does not take (it stopped reading) fails after the idle
//!   timeout.
//!
//! See [`crate::framing`] for how automatic error heads are recognised.

use crate::framing::{self, Out};
use crate::refusal::Refusal;
use crate::Limits;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What the service tells the socket wrapper about one connection.
#[derive(Debug)]
pub struct ConnState {
    /// Requests handed to the service whose response body is not finished.
    in_flight: usize,
    /// When the connection last became free of requests.
    idle_since: Instant,
    /// When the first byte of the next request head arrived.
    head_since: Option<Instant>,
    /// One entry per dispatched request still waiting for its final response head:
    /// whether it was a `HEAD`.
    awaiting: VecDeque<bool>,
}

pub type Shared = Arc<Mutex<ConnState>>;

pub fn shared() -> Shared {
    Arc::new(Mutex::new(ConnState {
        in_flight: 0,
        idle_since: Instant::now(),
        head_since: None,
        awaiting: VecDeque::new(),
    }))
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, ConnState> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A request was handed to the service.
pub fn begin(shared: &Shared, is_head: bool) {
    let mut s = lock(shared);
    s.in_flight += 1;
    s.head_since = None;
    s.awaiting.push_back(is_head);
}

/// A response body was finished (or dropped).
pub fn end(shared: &Shared) {
    let mut s = lock(shared);
    s.in_flight = s.in_flight.saturating_sub(1);
    if s.in_flight == 0 {
        s.idle_since = Instant::now();
        s.head_since = None;
    }
}

/// When the connection started waiting for its next request; `None` while one is in
/// progress.
pub fn waiting_since(shared: &Shared) -> Option<Instant> {
    let s = lock(shared);
    (s.in_flight == 0).then_some(s.idle_since)
}

/// A timer that is re-armed only when its deadline changes.
#[derive(Default)]
struct Deadline {
    sleep: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl Deadline {
    /// Ready once `at` has passed; registers the waker otherwise.
    fn poll(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.sleep {
            Some((armed, sleep)) => {
                if *armed != at {
                    sleep.as_mut().reset(at);
                    *armed = at;
                }
                sleep.as_mut().poll(cx)
            }
            None => {
                let mut sleep = Box::pin(tokio::time::sleep_until(at));
                let res = sleep.as_mut().poll(cx);
                self.sleep = Some((at, sleep));
                res
            }
        }
    }
}

/// Output handling: following our responses, or replacing hyper's error head.
enum Writer {
    Track(Out),
    /// Holding back an automatic error head (bytes so far).
    Capture(Vec<u8>),
    /// The replacement went out; hyper's own bytes are dropped.
    Swallow,
}

pub struct ConnIo {
    tcp: TcpStream,
    shared: Shared,
    limits: Limits,
    read_deadline: Deadline,
    write_deadline: Deadline,
    /// When the current blocked write started waiting.
    write_blocked_since: Option<Instant>,
    writer: Writer,
    /// Replacement bytes still to send, and how many are sent.
    pending: Option<(Vec<u8>, usize)>,
}

impl ConnIo {
    pub fn new(tcp: TcpStream, shared: Shared, limits: Limits) -> Self {
        Self {
            tcp,
            shared,
            limits,
            read_deadline: Deadline::default(),
            write_deadline: Deadline::default(),
            write_blocked_since: None,
            writer: Writer::Track(Out::Boundary),
            pending: None,
        }
    }

    /// Writes to the socket, failing once a write has been blocked for the idle timeout.
    fn raw_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.tcp).poll_write(cx, buf) {
            Poll::Ready(res) => {
                self.write_blocked_since = None;
                Poll::Ready(res)
            }
            Poll::Pending => {
                let since = *self.write_blocked_since.get_or_insert_with(Instant::now);
                match self
                    .write_deadline
                    .poll(since + self.limits.idle_timeout, cx)
                {
                    Poll::Ready(()) => {
                        tracing::debug!("closing a connection whose client stopped reading");
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client stopped reading",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// Sends whatever is left of a replacement response.
    fn drain_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = self.pending.take() {
            if sent >= bytes.len() {
                break;
            }
            let res = self.raw_write(cx, &bytes[sent..]);
            let n = match res {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.pending = Some((bytes, sent));
                    return Poll::Pending;
                }
            };
            self.pending = Some((bytes, sent + n));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let mut s = lock(&this.shared);
                    if s.in_flight == 0 && s.head_since.is_none() {
                        s.head_since = Some(Instant::now());
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let deadline = {
                    let s = lock(&this.shared);
                    if s.in_flight > 0 {
                        None
                    } else {
                        Some(match s.head_since {
                            Some(t) => (t + this.limits.header_timeout, "header"),
                            None => (s.idle_since + this.limits.idle_timeout, "idle"),
                        })
                    }
                };
                let Some((at, which)) = deadline else {
                    return Poll::Pending;
                };
                match this.read_deadline.poll(at, cx) {
                    Poll::Ready(()) => {
                        tracing::debug!(timeout = which, "closing a connection that timed out");
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("{which} timeout"),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain_pending(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match &mut this.writer {
            Writer::Swallow => Poll::Ready(Ok(buf.len())),
            Writer::Capture(held) => {
                let from = held.len().saturating_sub(3);
                held.extend_from_slice(buf);
                match framing::find(&held[from..], b"\r\n\r\n") {
                    Some(_) => {
                        let status = framing::status_of(held).unwrap_or(400);
                        let refusal = Refusal::from_status(status);
                        tracing::debug!(status, "answering an unparsable request");
                        this.pending = Some((refusal.wire(), 0));
                        this.writer = Writer::Swallow;
                        let _ = this.drain_pending(cx)?;
                    }
                    None if held.len() > 16 * 1024 => {
                        // Not the short head hyper writes: let it out as it is.
                        this.pending = Some((std::mem::take(held), 0));
                        this.writer = Writer::Track(Out::Rest);
                    }
                    None => {}
                }
                Poll::Ready(Ok(buf.len()))
            }
            Writer::Track(out) => {
                let front = {
                    let s = lock(&this.shared);
                    if *out == Out::Boundary && s.awaiting.is_empty() {
                        None
                    } else {
                        Some(s.awaiting.front().copied().unwrap_or(false))
                    }
                };
                let Some(is_head) = front else {
                    // A head no request was dispatched for: hyper's automatic error.
                    this.writer = Writer::Capture(Vec::new());
                    return Pin::new(this).poll_write(cx, buf);
                };
                // Write at most up to the end of the current message, so the next head is
                // always seen at the start of a write. The tracker moves on only by what
                // was written: all of it (the usual case, one pass) or a part (again).
                let mut next = out.clone();
                let whole = next.advance(buf, is_head);
                let limit = whole.consumed.max(1);
                let n = ready!(this.raw_write(cx, &buf[..limit]))?;
                if let Writer::Track(out) = &mut this.writer {
                    let answered = if n == whole.consumed {
                        *out = next;
                        whole.answered
                    } else {
                        out.advance(&buf[..n], is_head).answered
                    };
                    if answered {
                        lock(&this.shared).awaiting.pop_front();
                    }
                }
                Poll::Ready(Ok(n))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain_pending(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain_pending(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
