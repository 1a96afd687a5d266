//! The key schema of the one table, written down once: one function per kind of item, so no
//! other module spells a `pk`/`sk` string. A change of layout is a change here (and a data
//! migration), nowhere else.
//!
//! Key schema: `pk` (S) and `sk` (S); records are JSON documents in `d`, with the few
//! attributes conditions need (`status`, `deleted`, `revoked`, `grants`, `lease_*`, `seq`,
//! `next_pair`, `lane_pair`, `instance_id`) beside them. Items (pk / sk), each row a function below:
//!
//! | record | pk | sk | function |
//! |---|---|---|---|
//! | account | `ACCT#<id>` | `A` | [`account`] |
//! | first account marker | `META` | `FIRST_ACCOUNT` | [`first_account`] |
//! | API key | `ACCT#<a>` | `KEY#<id>` | [`api_key`], range [`api_keys`] |
//! | API key hash lookup | `KEYHASH#<sha256>` | `K` | [`api_key_hash`] |
//! | API key id lookup | `KEYID#<id>` | `K` | [`api_key_id`] |
//! | instance | `ACCT#<a>` | `INST#<id>` | [`instance`], range [`instances`] |
//! | instance name lock | `ACCT#<a>` | `INSTNAME#<name>` | [`instance_name_lock`] |
//! | instance id lookup | `INSTID#<id>` | `I` | [`instance_lookup`] |
//! | capacity version (optimistic lock) | `ACCT#<a>` | `CAPVER` | [`capacity_version`] |
//! | secret / name lock | `ACCT#<a>` | `SEC#<id>` / `SECNAME#<name>` | [`secret`], range [`secrets`] / [`secret_name_lock`] |
//! | automation / id lookup | `ACCT#<a>` / `AUTOID#<id>` | `AUTO#<id>` / `A` | [`automation`], range [`automations`] / [`automation_lookup`] |
//! | run / slot lock | `AUTO#<auto>` | `RUN#<id>` / `SLOT#<time>` | [`run`], range [`runs`] / [`run_slot_lock`]; all: [`automation_children`] |
//! | run id lookup | `RUNID#<id>` | `R` | [`run_lookup`] |
//! | webhook / token lookup | `ACCT#<a>` / `WHTOKEN#<token>` | `WH#<id>` / `W` | [`webhook`], range [`webhooks`] / [`webhook_token`] |
//! | delivery / dedup lock | `WH#<wh>` | `DLV#<id>` / `DEDUP#<key>` | [`delivery`], range [`deliveries`] / [`delivery_dedup_lock`]; all: [`webhook_children`] |
//! | delivery id lookup | `DLVID#<id>` | `D` | [`delivery_lookup`] |
//! | idempotency record (TTL) | `ACCT#<a>` | `IDEM#<key>` | [`idempotency`] |
//! | approved CLI login (TTL) | `CLILOGIN#<session>` | `L` | [`cli_login`] |
//! | billing events (runs, deliveries, turns) | `ACCTEVT#<a>` | `<time>#<kind>#<id>` | [`billing_event`], range [`billing_events`] |
//! | LLM usage by instance | `USAGE#<inst>` | `<time>#<rand>` | [`llm_usage_of_instance`], range [`llm_usage_by_instance`] |
//! | LLM usage by account | `ACCTUSAGE#<a>` | `<time>#<inst>#<rand>` | [`llm_usage_of_account`], range [`llm_usage_by_account`] |
//! | chat | `ACCT#<a>` | `CHAT#<id>` | [`chat`] |
//! | chat listing entry | `CHATS#<a>` | `<time>#<id>` | [`chat_listing`], range [`chat_listings`] |
//! | message / turn / open-turn marker / event | `CHAT#<a>#<chat>` | `MSG#<turn>#<0 user, 1 assistant>` / `TURN#<id>` / `OPEN#<turn>` / `EVT#<seq>` | [`chat_message`] / [`turn`] / [`open_turn`] / [`chat_event`]; ranges [`chat_messages`], [`turns`], [`open_turns`], [`chat_events`], [`chat_children`] |
//! | turn lookup | `TURNID#<id>` | `T` | [`turn_lookup`] |
//! | experiment (with its `next_pair` cursor) | `ACCT#<a>` | `EXP#<id>` | [`experiment`], range [`experiments`] |
//! | dataset item / lane / pair claim / result | `EXP#<a>#<exp>` | `ITEM#<index:010>` / `LANE#<lane>` / `CLAIM#<pair:010>` / `RES#<item index:010>#<instance>` | [`experiment_item`] / [`experiment_lane`] / [`experiment_claim`] / [`experiment_result`]; ranges [`experiment_results`], [`experiment_children`] |
//!
//! Uniqueness (names, hashes, slots, dedup keys) is a lock item written in the same
//! transaction with `attribute_not_exists`; a failed condition is `StoreError::Conflict`.
//! Lookups that must see the latest write (key hashes: revocation is immediate) are items
//! read with strong consistency rather than GSIs, which are eventually consistent.
//! Idempotency records carry `expires_at` for the table's TTL.

use super::codec::{s, ts, Item};
use operator_core::domain::{InstanceName, SecretName, Timestamp};
use operator_core::ids::*;

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }

    /// The item holding only this key (attributes are added by the caller).
    pub fn item(&self) -> Item {
        let mut i = Item::new();
        i.insert("pk".into(), s(self.pk.clone()));
        i.insert("sk".into(), s(self.sk.clone()));
        i
    }
}

/// The items of one partition whose sort key starts with `prefix` (all of them when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    pub pk: String,
    pub prefix: &'static str,
}

impl Range {
    fn new(pk: String, prefix: &'static str) -> Self {
        Self { pk, prefix }
    }

    /// The sort key of the item a page cursor (an id) names.
    pub fn sk_of(&self, cursor: &str) -> String {
        format!("{}{cursor}", self.prefix)
    }
}

fn acct(a: &AccountId) -> String {
    format!("ACCT#{a}")
}

pub(crate) fn account(id: &AccountId) -> Key {
    Key::new(acct(id), "A")
}

pub(crate) fn first_account() -> Key {
    Key::new("META".into(), "FIRST_ACCOUNT")
}

pub(crate) fn api_key(a: &AccountId, id: &KeyId) -> Key {
    Key::new(acct(a), format!("KEY#{id}"))
}

pub(crate) fn api_keys(a: &AccountId) -> Range {
    Range::new(acct(a), "KEY#")
}

pub(crate) fn api_key_hash(hash: &str) -> Key {
    Key::new(format!("KEYHASH#{hash}"), "K")
}

pub(crate) fn api_key_id(id: &KeyId) -> Key {
    Key::new(format!("KEYID#{id}"), "K")
}

pub(crate) fn instance(a: &AccountId, id: &InstanceId) -> Key {
    Key::new(acct(a), format!("INST#{id}"))
}

pub(crate) fn instances(a: &AccountId) -> Range {
    Range::new(acct(a), "INST#")
}

pub(crate) fn instance_name_lock(a: &AccountId, name: &InstanceName) -> Key {
    Key::new(acct(a), format!("INSTNAME#{}", name.as_str()))
}

pub(crate) fn instance_lookup(id: &InstanceId) -> Key {
    Key::new(format!("INSTID#{id}"), "I")
}

pub(crate) fn capacity_version(a: &AccountId) -> Key {
    Key::new(acct(a), "CAPVER")
}

pub(crate) fn secret(a: &AccountId, id: &SecretId) -> Key {
    Key::new(acct(a), format!("SEC#{id}"))
}

pub(crate) fn secrets(a: &AccountId) -> Range {
    Range::new(acct(a), "SEC#")
}

pub(crate) fn secret_name_lock(a: &AccountId, name: &SecretName) -> Key {
    Key::new(acct(a), format!("SECNAME#{}", name.as_str()))
}

pub(crate) fn automation(a: &AccountId, id: &AutomationId) -> Key {
    Key::new(acct(a), format!("AUTO#{id}"))
}

pub(crate) fn automations(a: &AccountId) -> Range {
    Range::new(acct(a), "AUTO#")
}

pub(crate) fn automation_lookup(id: &AutomationId) -> Key {
    Key::new(format!("AUTOID#{id}"), "A")
}

fn auto(id: &AutomationId) -> String {
    format!("AUTO#{id}")
}

pub(crate) fn run(automation: &AutomationId, id: &RunId) -> Key {
    Key::new(auto(automation), format!("RUN#{id}"))
}

pub(crate) fn runs(automation: &AutomationId) -> Range {
    Range::new(auto(automation), "RUN#")
}

/// The run id of an item of [`automation_children`], if it is a run.
pub(crate) fn run_id_of(sk: &str) -> Option<RunId> {
    sk.strip_prefix("RUN#").map(RunId::from_trusted)
}

pub(crate) fn run_slot_lock(automation: &AutomationId, scheduled_for: Timestamp) -> Key {
    Key::new(auto(automation), format!("SLOT#{}", ts(scheduled_for)))
}

/// Every item under an automation: its runs and slot locks.
pub(crate) fn automation_children(automation: &AutomationId) -> Range {
    Range::new(auto(automation), "")
}

pub(crate) fn run_lookup(id: &RunId) -> Key {
    Key::new(format!("RUNID#{id}"), "R")
}

pub(crate) fn webhook(a: &AccountId, id: &WebhookId) -> Key {
    Key::new(acct(a), format!("WH#{id}"))
}

pub(crate) fn webhooks(a: &AccountId) -> Range {
    Range::new(acct(a), "WH#")
}

pub(crate) fn webhook_token(token: &str) -> Key {
    Key::new(format!("WHTOKEN#{token}"), "W")
}

fn wh(id: &WebhookId) -> String {
    format!("WH#{id}")
}

pub(crate) fn delivery(webhook: &WebhookId, id: &DeliveryId) -> Key {
    Key::new(wh(webhook), format!("DLV#{id}"))
}

pub(crate) fn deliveries(webhook: &WebhookId) -> Range {
    Range::new(wh(webhook), "DLV#")
}

/// The delivery id of an item of [`webhook_children`], if it is a delivery.
pub(crate) fn delivery_id_of(sk: &str) -> Option<DeliveryId> {
    sk.strip_prefix("DLV#").map(DeliveryId::from_trusted)
}

pub(crate) fn delivery_dedup_lock(webhook: &WebhookId, dedup_key: &str) -> Key {
    Key::new(wh(webhook), format!("DEDUP#{dedup_key}"))
}

/// Every item under a webhook: its deliveries and dedup locks.
pub(crate) fn webhook_children(webhook: &WebhookId) -> Range {
    Range::new(wh(webhook), "")
}

pub(crate) fn delivery_lookup(id: &DeliveryId) -> Key {
    Key::new(format!("DLVID#{id}"), "D")
}

pub(crate) fn cli_login(session: &operator_core::domain::CliSession) -> Key {
    Key::new(format!("CLILOGIN#{}", session.as_str()), "L")
}

pub(crate) fn idempotency(a: &AccountId, key: &str) -> Key {
    Key::new(acct(a), format!("IDEM#{key}"))
}

/// What a billing event counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BillingKind {
    Run,
    Delivery,
    Turn,
    /// One experiment result (variant × item).
    Item,
}

impl BillingKind {
    fn as_str(self) -> &'static str {
        match self {
            BillingKind::Run => "run",
            BillingKind::Delivery => "delivery",
            BillingKind::Turn => "turn",
            BillingKind::Item => "item",
        }
    }
}

pub(crate) fn billing_event(a: &AccountId, at: Timestamp, kind: BillingKind, id: &str) -> Key {
    Key::new(
        format!("ACCTEVT#{a}"),
        format!("{}#{}#{id}", ts(at), kind.as_str()),
    )
}

pub(crate) fn billing_events(a: &AccountId) -> Range {
    Range::new(format!("ACCTEVT#{a}"), "")
}

/// The kind and time (as stored) of a billing event's sort key.
pub(crate) fn billing_event_of(sk: &str) -> Option<(BillingKind, &str)> {
    let mut parts = sk.splitn(3, '#');
    let at = parts.next()?;
    let kind = match parts.next()? {
        "run" => BillingKind::Run,
        "delivery" => BillingKind::Delivery,
        "turn" => BillingKind::Turn,
        "item" => BillingKind::Item,
        _ => return None,
    };
    Some((kind, at))
}

pub(crate) fn llm_usage_of_instance(instance: &InstanceId, at: Timestamp, rand: &str) -> Key {
    Key::new(format!("USAGE#{instance}"), format!("{}#{rand}", ts(at)))
}

pub(crate) fn llm_usage_by_instance(instance: &InstanceId) -> Range {
    Range::new(format!("USAGE#{instance}"), "")
}

pub(crate) fn llm_usage_of_account(
    a: &AccountId,
    at: Timestamp,
    instance: &InstanceId,
    rand: &str,
) -> Key {
    Key::new(
        format!("ACCTUSAGE#{a}"),
        format!("{}#{instance}#{rand}", ts(at)),
    )
}

pub(crate) fn llm_usage_by_account(a: &AccountId) -> Range {
    Range::new(format!("ACCTUSAGE#{a}"), "")
}

pub(crate) fn chat(a: &AccountId, id: &ChatId) -> Key {
    Key::new(acct(a), format!("CHAT#{id}"))
}

pub(crate) fn chat_listing(a: &AccountId, created_at: Timestamp, id: &ChatId) -> Key {
    Key::new(format!("CHATS#{a}"), format!("{}#{id}", ts(created_at)))
}

pub(crate) fn chat_listings(a: &AccountId) -> Range {
    Range::new(format!("CHATS#{a}"), "")
}

fn chat_pk(a: &AccountId, c: &ChatId) -> String {
    format!("CHAT#{a}#{c}")
}

/// A chat message, sorted by turn, the user's before the assistant's.
pub(crate) fn chat_message(a: &AccountId, chat: &ChatId, message_id: &MessageId) -> Key {
    let rank = if message_id.is_user() { 0 } else { 1 };
    let turn = message_id.turn_body().unwrap_or(message_id.as_str());
    Key::new(chat_pk(a, chat), format!("MSG#{turn}#{rank}"))
}

pub(crate) fn chat_messages(a: &AccountId, chat: &ChatId) -> Range {
    Range::new(chat_pk(a, chat), "MSG#")
}

pub(crate) fn turn(a: &AccountId, chat: &ChatId, id: &TurnId) -> Key {
    Key::new(chat_pk(a, chat), format!("TURN#{id}"))
}

pub(crate) fn turns(a: &AccountId, chat: &ChatId) -> Range {
    Range::new(chat_pk(a, chat), "TURN#")
}

/// Present while the turn is queued or running (written with the turn in one transaction),
/// so that a chat's next open turn is one short read however many turns have finished: a
/// webhook's or an automation's chat gains one per delivery or fire.
pub(crate) fn open_turn(a: &AccountId, chat: &ChatId, id: &TurnId) -> Key {
    Key::new(chat_pk(a, chat), format!("OPEN#{id}"))
}

pub(crate) fn open_turns(a: &AccountId, chat: &ChatId) -> Range {
    Range::new(chat_pk(a, chat), "OPEN#")
}

/// The turn id of an item of [`chat_children`], if it is a turn.
pub(crate) fn turn_id_of(sk: &str) -> Option<TurnId> {
    sk.strip_prefix("TURN#").map(TurnId::from_trusted)
}

/// Event sort keys are zero-padded so that string order is sequence order.
pub(crate) fn chat_event(a: &AccountId, chat: &ChatId, seq: u64) -> Key {
    Key::new(chat_pk(a, chat), format!("EVT#{seq:020}"))
}

pub(crate) fn chat_events(a: &AccountId, chat: &ChatId) -> Range {
    Range::new(chat_pk(a, chat), "EVT#")
}

/// The sequence number of a [`chat_event`] sort key.
pub(crate) fn chat_event_seq(sk: &str) -> Option<u64> {
    sk.strip_prefix("EVT#")?.parse().ok()
}

/// Every item of a chat's partition: messages, turns and events.
pub(crate) fn chat_children(a: &AccountId, chat: &ChatId) -> Range {
    Range::new(chat_pk(a, chat), "")
}

pub(crate) fn turn_lookup(id: &TurnId) -> Key {
    Key::new(format!("TURNID#{id}"), "T")
}

pub(crate) fn experiment(a: &AccountId, id: &ExperimentId) -> Key {
    Key::new(acct(a), format!("EXP#{id}"))
}

pub(crate) fn experiments(a: &AccountId) -> Range {
    Range::new(acct(a), "EXP#")
}

fn exp_pk(a: &AccountId, e: &ExperimentId) -> String {
    format!("EXP#{a}#{e}")
}

/// Indexes are zero-padded to the width of a `u32`, so that string order is index order.
pub(crate) fn experiment_item(a: &AccountId, e: &ExperimentId, index: u32) -> Key {
    Key::new(exp_pk(a, e), format!("ITEM#{index:010}"))
}

/// The pair a lane claimed last (attribute `lane_pair`).
pub(crate) fn experiment_lane(a: &AccountId, e: &ExperimentId, lane: u32) -> Key {
    Key::new(exp_pk(a, e), format!("LANE#{lane}"))
}

/// The lock that gives a pair to one lane (attribute `lane`).
pub(crate) fn experiment_claim(a: &AccountId, e: &ExperimentId, pair: u32) -> Key {
    Key::new(exp_pk(a, e), format!("CLAIM#{pair:010}"))
}

/// One (variant, item) result, sorted by item, then variant.
pub(crate) fn experiment_result(
    a: &AccountId,
    e: &ExperimentId,
    item_index: u32,
    instance: &InstanceId,
) -> Key {
    Key::new(exp_pk(a, e), format!("RES#{item_index:010}#{instance}"))
}

pub(crate) fn experiment_results(a: &AccountId, e: &ExperimentId) -> Range {
    Range::new(exp_pk(a, e), "RES#")
}

/// Every item of an experiment's partition: dataset items, lane claims and results.
pub(crate) fn experiment_children(a: &AccountId, e: &ExperimentId) -> Range {
    Range::new(exp_pk(a, e), "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn message_keys_order_by_turn_then_user_before_assistant() {
        // GIVEN two turns' messages
        let (a, c) = (
            AccountId::from_trusted("acct_1"),
            ChatId::from_trusted("chat_1"),
        );
        // WHEN their keys are built
        let keys = [
            chat_message(&a, &c, &MessageId::from_trusted("msg_a1")),
            chat_message(&a, &c, &MessageId::from_trusted("msg_u2")),
            chat_message(&a, &c, &MessageId::from_trusted("msg_u1")),
        ];
        // THEN sort-key order is conversation order
        let mut sks: Vec<&str> = keys.iter().map(|k| k.sk.as_str()).collect();
        sks.sort();
        assert_eq!(sks, ["MSG#1#0", "MSG#1#1", "MSG#2#0"]);
    }

    #[test]
    fn event_and_billing_sort_keys_round_trip() {
        // GIVEN an event key and a billing key
        let (a, c) = (
            AccountId::from_trusted("acct_1"),
            ChatId::from_trusted("chat_1"),
        );
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 9, 13, 0, 0).unwrap();
        // WHEN they are parsed back
        // THEN the sequence, kind and time come out
        assert_eq!(chat_event_seq(&chat_event(&a, &c, 42).sk), Some(42));
        let k = billing_event(&a, at, BillingKind::Delivery, "dlv_1");
        assert_eq!(
            billing_event_of(&k.sk),
            Some((BillingKind::Delivery, "2026-03-09T13:00:00.000Z"))
        );
        assert_eq!(
            run_id_of(
                &run(
                    &AutomationId::from_trusted("auto_1"),
                    &RunId::from_trusted("run_1")
                )
                .sk
            ),
            Some(RunId::from_trusted("run_1"))
        );
    }
}
