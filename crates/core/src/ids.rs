//! Prefixed, time-sortable identifiers (`inst_01j...`), one newtype per resource.
//!
//! Ids sort by creation time (48-bit milliseconds then 80 random bits, Crockford base32,
//! like a ULID), so every backend can page through lists by id alone.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// 26 lowercase Crockford base32 characters: 10 for the millisecond timestamp, 16 random.
pub fn ulid_body(millis: u64) -> String {
    let mut rnd = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut rnd);
    body_of(
        (u128::from(millis & 0xffff_ffff_ffff) << 80)
            | rnd.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b)),
    )
}

/// 128 bits as 26 lowercase Crockford base32 characters (an id body).
pub fn body_of(mut value: u128) -> String {
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn now_millis() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// True when `s` is `prefix` followed by a well-formed id body.
fn has_shape(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|body| {
        !body.is_empty()
            && body.len() <= 64
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id, sortable by creation time.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid_body(now_millis())))
            }

            /// Accepts only strings with this type's prefix; `None` otherwise.
            pub fn parse(s: &str) -> Option<Self> {
                has_shape(s, $prefix).then(|| Self(s.to_owned()))
            }

            /// Wraps a value read back from a store the adapter itself wrote.
            pub fn from_trusted(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id without its prefix.
            pub fn body(&self) -> &str {
                self.0.strip_prefix($prefix).unwrap_or(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(/// An account (tenant); every resource belongs to exactly one.
    AccountId, "acct_");
id_type!(/// The user that owns an account (one per account for now).
    UserId, "user_");
id_type!(/// An API key's public id (the secret part is never stored).
    KeyId, "key_");
id_type!(/// An agent instance.
    InstanceId, "inst_");
id_type!(/// One HTTP request (`X-Request-Id`), when the caller did not name it.
    RequestId, "req_");
id_type!(/// A stored secret's metadata record.
    SecretId, "sec_");
id_type!(/// An automation (cron-scheduled prompt).
    AutomationId, "auto_");
id_type!(/// One fire of an automation.
    RunId, "run_");
id_type!(/// A webhook (inbound HTTP trigger).
    WebhookId, "wh_");
id_type!(/// One inbound call of a webhook.
    DeliveryId, "dlv_");
id_type!(/// A chat thread with the Operator agent.
    ChatId, "chat_");
id_type!(/// A queued job.
    JobId, "job_");
id_type!(/// An experiment: a dataset scored on a set of variants (instances).
    ExperimentId, "exp_");
id_type!(/// One user message through the Operator agent. Turns of a chat run in id order; a turn
    /// for an automation run or a webhook delivery shares that id's body
    /// ([`TurnId::for_source`]), so queuing it again is idempotent.
    TurnId, "turn_");
id_type!(/// A chat message: `msg_u<turn body>` for the user's message of a turn,
    /// `msg_a<turn body>` for the assistant's answer (see [`TurnId::user_message`]).
    MessageId, "msg_");

impl TurnId {
    /// The pseudo turn a chat's running summary is logged under: it belongs to no turn, so
    /// no turn's stream shows it.
    pub fn summary() -> Self {
        Self("summary".to_owned())
    }

    /// The turn that runs the prompt of an automation run or a webhook delivery.
    pub fn for_source(source_body: &str) -> Self {
        Self(format!("{}{source_body}", Self::PREFIX))
    }

    /// The id of the user message this turn answers.
    pub fn user_message(&self) -> MessageId {
        MessageId(format!("{}{}", MessageId::USER, self.body()))
    }

    /// The id of the assistant message this turn writes.
    pub fn assistant_message(&self) -> MessageId {
        MessageId(format!("{}{}", MessageId::ASSISTANT, self.body()))
    }
}

impl MessageId {
    const USER: &'static str = "msg_u";
    const ASSISTANT: &'static str = "msg_a";

    /// True for the user's message of a turn (false for the assistant's answer).
    pub fn is_user(&self) -> bool {
        self.0.starts_with(Self::USER)
    }

    /// The body of the turn this message belongs to: it orders messages by turn and groups
    /// a turn's two messages.
    pub fn turn_body(&self) -> Option<&str> {
        self.0
            .strip_prefix(Self::USER)
            .or_else(|| self.0.strip_prefix(Self::ASSISTANT))
    }

    /// Conversation order: by turn, a turn's user message before its answer.
    pub fn conversation_order(&self, other: &Self) -> std::cmp::Ordering {
        (self.turn_body(), !self.is_user()).cmp(&(other.turn_body(), !other.is_user()))
    }

    /// True when this message belongs to a turn older than `turn`.
    pub fn is_before(&self, turn: &TurnId) -> bool {
        self.turn_body().is_some_and(|b| b < turn.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_prefix_and_sort_by_time() {
        let a = InstanceId(format!("inst_{}", ulid_body(1_000)));
        let b = InstanceId(format!("inst_{}", ulid_body(2_000)));
        assert!(a < b);
        assert!(a.as_str().starts_with("inst_"));
        assert_eq!(a.as_str().len(), 5 + 26);
    }

    #[test]
    fn a_turn_names_its_two_messages_and_they_name_it_back() {
        // GIVEN a turn made for an automation run
        let run = RunId::from_trusted("run_01abc");
        let turn = TurnId::for_source(run.body());
        assert_eq!(turn.as_str(), "turn_01abc");
        // THEN its messages carry its body, and give it back
        assert_eq!(turn.user_message().as_str(), "msg_u01abc");
        assert_eq!(turn.assistant_message().as_str(), "msg_a01abc");
        assert_eq!(turn.assistant_message().turn_body(), Some("01abc"));
        // AND messages of older turns sort before it, its own and newer ones do not
        let older = TurnId::for_source("01abb");
        let newer = TurnId::for_source("01abd");
        assert!(older.user_message().is_before(&turn));
        assert!(!turn.user_message().is_before(&turn));
        assert!(!newer.assistant_message().is_before(&turn));
        // AND conversation order is by turn, the question before its answer
        let mut ids = vec![
            newer.user_message(),
            turn.assistant_message(),
            older.assistant_message(),
            turn.user_message(),
            older.user_message(),
        ];
        ids.sort_by(MessageId::conversation_order);
        assert_eq!(
            ids,
            vec![
                older.user_message(),
                older.assistant_message(),
                turn.user_message(),
                turn.assistant_message(),
                newer.user_message(),
            ]
        );
        assert_eq!(MessageId::from_trusted("msg_x1").turn_body(), None);
    }

    #[test]
    fn parse_rejects_other_prefixes_and_junk() {
        assert!(InstanceId::parse("inst_abc").is_some());
        assert!(InstanceId::parse("sec_abc").is_none());
        assert!(InstanceId::parse("inst_").is_none());
        assert!(InstanceId::parse("inst_a/b").is_none());
    }
}
