//! MCP sessions without server state, so they work on Lambda as they do locally: the
//! `Mcp-Session-Id` is a token signed with the deployment's token key (HMAC-SHA256) that
//! binds the account, the negotiated protocol version and an expiry. Nothing is stored; a
//! session is valid wherever the key is. The id alone grants nothing: every request still
//! needs the API key, and a session issued to one account is unknown to every other.
//!
//! Format (visible ASCII, as the transport requires):
//! `v1.<account id>.<expiry, unix seconds>.<protocol version>.<hex HMAC of the rest>`.

use super::methods::SUPPORTED_VERSIONS;
use crate::domain::Timestamp;
use crate::ids::AccountId;
use crate::services::Platform;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

/// How long a session lasts; after it the client gets 404 and initializes again.
pub const TTL_HOURS: i64 = 24;

fn mac(p: &Platform, account: &str, expires: i64, version: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(p.config.token_key.expose_secret())
        .expect("HMAC takes any key length");
    mac.update(b"operator mcp session v1:");
    mac.update(account.as_bytes());
    mac.update(b"\0");
    mac.update(expires.to_string().as_bytes());
    mac.update(b"\0");
    mac.update(version.as_bytes());
    mac
}

/// A session id for `account` that speaks `version` until `expires`.
pub fn issue(p: &Platform, account: &AccountId, version: &str, expires: Timestamp) -> String {
    let expires = expires.timestamp();
    let sig = hex::encode(
        mac(p, account.as_str(), expires, version)
            .finalize()
            .into_bytes(),
    );
    format!("v1.{account}.{expires}.{version}.{sig}")
}

/// The negotiated protocol version of a session id that this deployment issued to `account`
/// and that has not expired at `now`; `None` for anything else (forged, altered, expired,
/// another account's, or not a session id at all).
pub fn verify(p: &Platform, account: &AccountId, id: &str, now: Timestamp) -> Option<&'static str> {
    let mut parts = id.split('.');
    let (Some("v1"), Some(acct), Some(expires), Some(version), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let expires: i64 = expires.parse().ok()?;
    let sig = hex::decode(sig).ok()?;
    mac(p, acct, expires, version).verify_slice(&sig).ok()?;
    if acct != account.as_str() || expires <= now.timestamp() {
        return None;
    }
    SUPPORTED_VERSIONS.iter().copied().find(|v| *v == version)
}
