//! The CLI's browser login: `operator login` picks a random session id, opens
//! `/auth/cli?session=<id>` for the signed-in user to approve, and polls
//! `/api/cli/poll?session=<id>`; the first poll after the approval turns it into a new API key
//! (minted then, so no key is ever stored in the clear). The session id is the CLI's secret:
//! a UUID, 122 random bits.

use super::Timestamp;
use crate::error::Error;
use crate::ids::AccountId;
use serde::{Deserialize, Serialize};

/// How long an approval waits for the CLI's poll.
pub const CLI_LOGIN_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// The session id a CLI chose: a UUID in its canonical form (lower- or upper-case hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliSession(String);

impl CliSession {
    /// # Errors
    /// `InvalidRequest` on `session` unless it is a canonical UUID (8-4-4-4-12 hex digits).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let groups: Vec<&str> = s.split('-').collect();
        let shape = [8, 4, 4, 4, 12];
        let ok = groups.len() == shape.len()
            && groups
                .iter()
                .zip(shape)
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(Error::invalid(
                "session",
                "must be a UUID (8-4-4-4-12 hex digits)",
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    pub fn from_trusted(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An approved CLI login waiting for its poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CliLogin {
    pub session: CliSession,
    /// The account the new key will belong to (the approving user's).
    pub account_id: AccountId,
    pub approved_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_canonical_uuids() {
        let s = CliSession::parse("1B4E28BA-2FA1-11D2-883F-0016D3CCA427").unwrap();
        assert_eq!(s.as_str(), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
        for bad in [
            "",
            "1b4e28ba2fa111d2883f0016d3cca427",
            "1b4e28ba-2fa1-11d2-883f-0016d3cca42",
            "1b4e28ba-2fa1-11d2-883f-0016d3cca42g",
            "../../etc/passwd-2fa1-11d2-883f-0016",
        ] {
            assert!(CliSession::parse(bad).is_err(), "{bad}");
        }
    }
}
