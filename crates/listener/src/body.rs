//! The request body timeout: a body that goes quiet for the body timeout ends the request
//! with `408 request_timeout` (JSON, connection closed) instead of holding a handler forever.
//!
//! The wrapper errors the body stream (so the handler stops waiting, whatever it does with
//! the error) and raises a flag; the service wrapper in [`crate::serve`] sees the flag once the
//! handler answered and replaces that answer with the 408. The clock runs only while the
//! handler waits for the next piece of the body.
//!
//! A body that keeps trickling (a byte just inside every timeout) is cut off too: after the
//! first timeout's worth of time it must keep up an average of [`MIN_BODY_RATE`] bytes a
//! second, so slow bodies cannot hold connections (and the connection cap) for ever.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The slowest average a request body may keep up once its first timeout has passed.
pub const MIN_BODY_RATE: u64 = 1024;

/// The body stopped arriving.
#[derive(Debug, thiserror::Error)]
#[error("the request body stopped arriving for {0:?}")]
pub struct BodyTimeout(Duration);

/// A request body with a deadline on every frame.
pub struct TimeoutBody<B> {
    inner: B,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
    /// When the handler first asked for the body, and how much has arrived since.
    started: Option<Instant>,
    received: u64,
}

impl<B> TimeoutBody<B> {
    pub fn new(inner: B, timeout: Duration, timed_out: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            timeout,
            sleep: None,
            timed_out,
            started: None,
            received: 0,
        }
    }

    /// The next piece must come before the timeout from now, and before the body falls
    /// under the minimum average rate.
    fn deadline(&mut self) -> Instant {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let by_rate = started
            + self.timeout
            + Duration::from_secs_f64(self.received as f64 / MIN_BODY_RATE as f64);
        (now + self.timeout).min(by_rate)
    }
}

impl<B> Body for TimeoutBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyTimeout(this.timeout).into())));
        }
        this.started.get_or_insert_with(Instant::now);
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                    this.received += data.map_or(0, |d| d.len() as u64);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                if this.sleep.is_none() {
                    this.sleep = Some(Box::pin(tokio::time::sleep_until(this.deadline())));
                }
                let Some(sleep) = this.sleep.as_mut() else {
                    return Poll::Pending;
                };
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!("a request body stopped arriving");
                        this.timed_out.store(true, Ordering::Relaxed);
                        Poll::Ready(Some(Err(BodyTimeout(timeout).into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Runs `on_drop` when the response body is finished or dropped (hyper drops it once the
/// last frame is out), so the connection knows no request is in progress.
pub struct GuardedBody<B, G> {
    inner: B,
    _guard: G,
}

impl<B, G> GuardedBody<B, G> {
    pub fn new(inner: B, guard: G) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<B: Body + Unpin, G: Unpin> Body for GuardedBody<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
