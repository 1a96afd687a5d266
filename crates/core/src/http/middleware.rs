//! Cross-cutting request handling: API-key authentication and `Idempotency-Key` replay.

use super::error::{ApiError, ApiResult};
use crate::idempotency::{self, IdempotencyBegin};
use crate::ports::StoredResponse;
use crate::services::{Caller, Platform};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Resolves `Authorization: Bearer ck_live_...` to a [`Caller`] in the request extensions.
/// A key revoked through this server fails on its very next request (see AuthCache).
pub async fn authenticate(
    State(platform): State<Platform>,
    mut req: Request,
    next: Next,
) -> ApiResult<Response> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let caller = platform.authenticate(bearer).await?;
    tracing::Span::current().record("account", caller.account.id.as_str());
    req.extensions_mut().insert(caller);
    // Idempotency needs the caller; it runs here rather than as a layer of its own (each
    // layer clones the boxed routes below it on every request).
    idempotency(State(platform), req, next).await
}

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Set on a response whose body holds a secret (a new API key, a secret's value): a replay
/// under the same `Idempotency-Key` returns this redacted body instead, so the plaintext is
/// never stored.
#[derive(Clone)]
pub struct ReplayBody(pub Vec<u8>);

impl ReplayBody {
    pub fn json(v: &impl serde::Serialize) -> Self {
        Self(serde_json::to_vec(v).unwrap_or_default())
    }
}
/// Largest response kept for replay.
const MAX_STORED_RESPONSE: usize = 1024 * 1024;

/// Replays the first response for a repeated `Idempotency-Key` (same account, same request);
/// a different request under the same key is a 409, as is one still in flight.
pub async fn idempotency(
    State(platform): State<Platform>,
    req: Request,
    next: Next,
) -> ApiResult<Response> {
    let is_write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(key) = req.headers().get(IDEMPOTENCY_HEADER).filter(|_| is_write) else {
        return Ok(next.run(req).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()))
        .ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key must be 1-255 visible ASCII characters")
        })?
        .to_owned();
    let caller = req.extensions().get::<Caller>().cloned().ok_or_else(|| {
        ApiError::from(crate::error::Error::Unexpected(anyhow::anyhow!(
            "idempotency layer runs before authentication"
        )))
    })?;
    let account = caller.account.id;

    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, super::extract::MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large",
            )
        })?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.path());
    hasher.update(b"?");
    hasher.update(parts.uri.query().unwrap_or_default());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());

    let now = platform.clock.now();
    match idempotency::begin(platform.store.as_ref(), &account, &key, &fingerprint, now)
        .await
        .map_err(crate::error::Error::from)?
    {
        IdempotencyBegin::Started => {}
        IdempotencyBegin::Completed(stored) => return Ok(replay(stored)),
        IdempotencyBegin::InProgress => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "a request with this Idempotency-Key is still in progress",
            ))
        }
        IdempotencyBegin::Mismatch => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "this Idempotency-Key was already used with a different request",
            ))
        }
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_STORED_RESPONSE).await {
        Ok(b) => b,
        Err(e) => {
            if let Err(release) = platform.store.idempotency_release(&account, &key).await {
                // The claim then blocks the key until it counts as abandoned (5 minutes).
                tracing::warn!(error = %release, "could not release an idempotency claim");
            }
            return Err(
                crate::error::Error::Unexpected(anyhow::anyhow!("response body: {e}")).into(),
            );
        }
    };
    let status = parts.status.as_u16();
    let outcome = if parts.status.is_server_error() {
        platform.store.idempotency_release(&account, &key).await
    } else {
        // A response carrying a secret stores its redacted form: no plaintext at rest.
        let body = match parts.extensions.get::<ReplayBody>() {
            Some(ReplayBody(redacted)) => redacted.clone(),
            None => bytes.to_vec(),
        };
        let stored = StoredResponse { status, body };
        idempotency::complete(platform.store.as_ref(), &account, &key, &stored, now).await
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "could not record the idempotent response");
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = (status, stored.body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}
