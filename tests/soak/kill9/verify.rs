//! After a kill and a restart: clients retry what they never heard back about (with the
//! same `Idempotency-Key`), then every acknowledged effect must be there exactly once and
//! nothing unacknowledged more than once; interrupted turns finish, each answered once.

use super::load::{Create, Kind, Log, RoundSetup};
use crate::support::sse::parse_sse;
use crate::support::{eventually, App};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// How long recovery may take to run every queued turn of a round.
const RECOVERY_SECS: u64 = 180;

/// Every item of a paged list (`?limit=200&cursor=`).
pub async fn list_all(app: &App, key: &str, path: &str, field: &str) -> Vec<Value> {
    let (mut items, mut cursor) = (vec![], None::<String>);
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
            None => format!("{path}{sep}limit=200"),
        };
        let (s, v) = app.call_as(key, Method::GET, &url, None).await;
        assert_eq!(s, 200, "{url}: {v}");
        items.extend(v[field].as_array().expect("a list").iter().cloned());
        match v["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

/// Checks the round; returns its counts as one line.
pub async fn round(app: &App, setup: &RoundSetup, log: &Log) -> String {
    let creates = creates(app, setup, log).await;
    let triggers = triggers(app, setup, log).await;
    let chats = chats(app, setup, log).await;
    let (after, at_kill) = log.kill.lock().unwrap().clone().unwrap_or_default();
    format!(
        "killed after {} ms ({at_kill}; {} requests cut); {creates}; {triggers}; {chats}; integrity ok",
        after.as_millis(),
        log.cut.load(std::sync::atomic::Ordering::SeqCst)
    )
}

/// Name → ids listed, for every kind.
async fn listed(app: &App, key: &str) -> HashMap<Kind, BTreeMap<String, Vec<String>>> {
    let mut all = HashMap::new();
    for kind in [Kind::Secret, Kind::Webhook, Kind::Automation] {
        let (path, field) = kind.path();
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for item in list_all(app, key, path, &format!("{field}s")).await {
            let name = item["name"].as_str().expect("a name").to_owned();
            let id = item["id"].as_str().expect("an id").to_owned();
            by_name.entry(name).or_default().push(id);
        }
        all.insert(kind, by_name);
    }
    all
}

/// Unacknowledged creates are retried with their key; then every acknowledged create is
/// listed once under its id, nothing twice, nothing the clients never sent.
async fn creates(app: &App, setup: &RoundSetup, log: &Log) -> String {
    let sent: Vec<Create> = log.creates.lock().unwrap().clone();
    let mut retried = 0;
    let mut confirmed = BTreeMap::new();
    for c in sent.iter().filter(|c| c.id.is_none()) {
        let (path, field) = c.kind.path();
        let res = crate::support::send(
            app.request(Method::POST, path, Some(&setup.key))
                .header("Idempotency-Key", &c.idempotency_key)
                .json(&c.body),
        )
        .await;
        match res.0.as_u16() {
            201 => {
                retried += 1;
                let id = res.1[field]["id"].as_str().expect("an id").to_owned();
                confirmed.insert((c.kind, c.name.clone()), id);
            }
            // Still claimed by the killed request (its key is held for 5 minutes), or for a
            // secret, the name is taken by what that request wrote.
            409 => assert_eq!(res.1["error"]["code"], "conflict", "{}", res.1),
            other => panic!("retry of {:?} {}: {other} {}", c.kind, c.name, res.1),
        }
    }
    let listed = listed(app, &setup.key).await;
    let mut acked = 0;
    for c in &sent {
        let ids = listed[&c.kind].get(&c.name).cloned().unwrap_or_default();
        assert!(
            ids.len() <= 1,
            "{:?} {} is there {} times",
            c.kind,
            c.name,
            ids.len()
        );
        let expected =
            c.id.clone()
                .or_else(|| confirmed.get(&(c.kind, c.name.clone())).cloned());
        if let Some(id) = expected {
            assert_eq!(
                ids,
                [id],
                "{:?} {} acknowledged but not listed once",
                c.kind,
                c.name
            );
            acked += usize::from(c.id.is_some());
        }
    }
    let names: BTreeSet<(Kind, &str)> = sent.iter().map(|c| (c.kind, c.name.as_str())).collect();
    let hooks: BTreeSet<String> = (0..setup.hooks.len())
        .map(|h| format!("hook-{}-{h}", setup.round))
        .collect();
    for (kind, by_name) in &listed {
        for name in by_name.keys() {
            assert!(
                names.contains(&(*kind, name.as_str()))
                    || (*kind == Kind::Webhook && hooks.contains(name)),
                "{kind:?} {name} was never sent"
            );
        }
    }
    let unacked = sent.len() - acked;
    let landed = listed.values().map(BTreeMap::len).sum::<usize>() - hooks.len() - acked;
    format!("creates: {acked} acked present once; {unacked} unacked: {retried} retried to 201, {landed} present in all")
}

/// Unacknowledged triggers are retried and acknowledged ones sent again, with their keys:
/// each key keeps one delivery; the webhooks list exactly those; each runs one turn.
async fn triggers(app: &App, setup: &RoundSetup, log: &Log) -> String {
    let sent = log.triggers.lock().unwrap().clone();
    let mut by_key: BTreeMap<String, (usize, String, String)> = BTreeMap::new();
    let mut retried = 0;
    for t in &sent {
        let (s, v) = crate::support::send(
            app.request(
                Method::POST,
                &format!("/api/webhooks/trigger/{}", setup.hooks[t.hook].token),
                None,
            )
            .header("Idempotency-Key", &t.idempotency_key)
            .json(&json!({"marker": t.marker})),
        )
        .await;
        assert_eq!(s, 202, "trigger {} again: {v}", t.marker);
        let id = v["deliveryId"].as_str().expect("a delivery id").to_owned();
        match &t.delivery {
            Some(first) => assert_eq!(&id, first, "trigger {} sent again", t.marker),
            None => retried += 1,
        }
        by_key.insert(t.idempotency_key.clone(), (t.hook, id, t.marker.clone()));
    }
    let ids: BTreeSet<&String> = by_key.values().map(|(_, id, _)| id).collect();
    assert_eq!(ids.len(), by_key.len(), "two trigger keys share a delivery");
    // Every delivery listed is one the clients' keys got, once.
    let (mut deliveries, mut asked_again) = (0, 0);
    for (h, hook) in setup.hooks.iter().enumerate() {
        let path = format!("/api/webhooks/{}/deliveries", hook.id);
        let want: BTreeSet<String> = by_key
            .values()
            .filter(|(k, _, _)| *k == h)
            .map(|(_, id, _)| id.clone())
            .collect();
        let listed = list_all(app, &setup.key, &path, "deliveries").await;
        let got: BTreeSet<String> = listed
            .iter()
            .map(|d| d["id"].as_str().expect("an id").to_owned())
            .collect();
        assert_eq!(
            got.len(),
            listed.len(),
            "a delivery listed twice on {}",
            hook.id
        );
        assert_eq!(got, want, "deliveries of {}", hook.id);
        deliveries += got.len();
        // AND each one runs, once
        let finished = eventually(RECOVERY_SECS, || async {
            let all = list_all(app, &setup.key, &path, "deliveries").await;
            all.iter()
                .all(|d| d["status"] == "succeeded" || d["status"] == "failed")
                .then_some(all)
        })
        .await;
        let Some(finished) = finished else {
            let all = list_all(app, &setup.key, &path, "deliveries").await;
            let stuck: Vec<&Value> = all
                .iter()
                .filter(|d| d["status"] != "succeeded" && d["status"] != "failed")
                .collect();
            panic!(
                "round {}: {} deliveries of {} never finished, e.g. {:?}\n{}",
                setup.round,
                stuck.len(),
                hook.id,
                stuck.first(),
                crate::support::tail(&app.server_log(), 30)
            );
        };
        for d in &finished {
            assert_eq!(d["status"], "succeeded", "{d}");
        }
        let markers: BTreeMap<String, String> = by_key
            .values()
            .filter(|(k, _, _)| *k == h)
            .map(|(_, id, m)| (id.clone(), m.clone()))
            .collect();
        asked_again += answered_once(app, setup, &hook.chat_id, &markers).await;
    }
    format!(
        "triggers: {} acked, {retried} retried, {deliveries} deliveries run once ({asked_again} replies cut by the kill asked again)",
        sent.iter().filter(|t| t.delivery.is_some()).count()
    )
}

/// The webhook chat holds one user message (with its marker) and one answer per delivery,
/// and nothing else.
async fn answered_once(
    app: &App,
    setup: &RoundSetup,
    chat: &str,
    markers: &BTreeMap<String, String>,
) -> usize {
    let messages = messages(app, &setup.key, chat).await;
    let mut asked_again = 0;
    for (delivery, marker) in markers {
        let body = delivery.strip_prefix("dlv_").expect("a delivery id");
        let user = &messages[&format!("msg_u{body}")];
        assert!(user.to_string().contains(marker.as_str()), "{user}");
        let answer = messages
            .get(&format!("msg_a{body}"))
            .unwrap_or_else(|| panic!("delivery {delivery} has no answer"));
        asked_again += usize::from(answered_at_most_twice(answer, true));
    }
    assert_eq!(
        messages.len(),
        2 * markers.len(),
        "chat {chat}: {messages:?}"
    );
    asked_again
}

/// A chat's messages by id, asserting no id comes twice.
async fn messages(app: &App, key: &str, chat: &str) -> BTreeMap<String, Value> {
    let (s, v) = app
        .call_as(key, Method::GET, &format!("/api/chat/{chat}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let list = v["messages"].as_array().expect("messages");
    let by_id: BTreeMap<String, Value> = list
        .iter()
        .map(|m| (m["id"].as_str().expect("an id").to_owned(), m.clone()))
        .collect();
    assert_eq!(by_id.len(), list.len(), "a message id twice in {chat}");
    by_id
}

/// A turn's answer is the model's, once — or, for a turn the kill cut off while its reply
/// streamed (`may_be_cut`), what had streamed and then the reply asked for again after the
/// restart: never a turn run twice over, never a second full reply to a finished turn.
/// True when the reply was asked for again.
fn answered_at_most_twice(answer: &Value, may_be_cut: bool) -> bool {
    let text = text_of(answer);
    let before = text
        .strip_suffix(super::ANSWER)
        .unwrap_or_else(|| panic!("the answer does not end with the model's reply: {answer}"));
    if may_be_cut {
        assert!(
            super::ANSWER.starts_with(before),
            "more than one reply again after the kill: {answer}"
        );
    } else {
        assert_eq!(
            before, "",
            "a turn finished before the kill was answered again: {answer}"
        );
    }
    !before.is_empty()
}

/// The text of a message's parts.
fn text_of(m: &Value) -> String {
    m["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// Every chat settles; each acknowledged message is there once with one answer; an
/// unacknowledged one at most once; no answer without its message.
async fn chats(app: &App, setup: &RoundSetup, log: &Log) -> String {
    let sent = log.chats.lock().unwrap().clone();
    let (mut interrupted, mut asked_again) = (0, 0);
    for (c, chat) in setup.chats.iter().enumerate() {
        // Wait for recovery to run what the kill interrupted: the stream is 204 once idle.
        let idle = eventually(RECOVERY_SECS, || async {
            let res = app
                .request(
                    Method::GET,
                    &format!("/api/chat/{chat}/stream"),
                    Some(&setup.key),
                )
                .send()
                .await
                .expect("re-attach");
            if res.status() == 204 {
                return Some(());
            }
            assert_eq!(res.status(), 200);
            // A turn that never ends must not stall the check: follow it for a while only.
            let text = tokio::time::timeout(Duration::from_secs(20), res.text()).await;
            let frames = parse_sse(&text.ok()?.unwrap_or_default());
            assert!(
                !frames.iter().any(|f| f.json()["type"] == "error"),
                "a turn of {chat} failed after the restart: {frames:?}"
            );
            None
        })
        .await;
        assert!(
            idle.is_some(),
            "chat {chat} never settled after the restart"
        );
        let messages = messages(app, &setup.key, chat).await;
        let mut texts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, m) in &messages {
            if m["role"] == "user" {
                texts.entry(text_of(m)).or_default().push(id.clone());
            } else {
                let body = id.strip_prefix("msg_a").expect("an answer's id");
                assert!(
                    messages.contains_key(&format!("msg_u{body}")),
                    "an answer without its message in {chat}: {id}"
                );
            }
        }
        let mine: Vec<_> = sent.iter().filter(|s| s.chat == c).collect();
        for s in &mine {
            let ids = texts.get(&s.text).cloned().unwrap_or_default();
            assert!(ids.len() <= 1, "{} stored {} times", s.text, ids.len());
            if s.acked {
                assert_eq!(ids.len(), 1, "acknowledged message {} lost", s.text);
                let body = ids[0].strip_prefix("msg_u").expect("a user message id");
                let answer = messages
                    .get(&format!("msg_a{body}"))
                    .unwrap_or_else(|| panic!("acknowledged message {} never answered", s.text));
                asked_again += usize::from(answered_at_most_twice(answer, !s.finished));
                interrupted += usize::from(!s.finished);
            }
        }
        let known: BTreeSet<&str> = mine
            .iter()
            .map(|s| s.text.as_str())
            .chain([setup.openers[c].as_str()])
            .collect();
        for text in texts.keys() {
            assert!(
                known.contains(text.as_str()),
                "{chat} holds a message never sent: {text}"
            );
        }
    }
    let acked = sent.iter().filter(|s| s.acked).count();
    format!("chat: {acked} acked turns answered once ({interrupted} cut by the kill and finished after it, {asked_again} of their replies asked again)")
}

/// Every create a round acknowledged is still listed once, under its id; returns how many.
pub async fn creates_still_there(app: &App, setup: &RoundSetup, log: &Log) -> usize {
    let listed = listed(app, &setup.key).await;
    let sent = log.creates.lock().unwrap().clone();
    let mut n = 0;
    for c in sent.iter().filter(|c| c.id.is_some()) {
        let ids = listed[&c.kind].get(&c.name).cloned().unwrap_or_default();
        assert_eq!(
            ids,
            [c.id.clone().unwrap_or_default()],
            "{:?} {} after all rounds",
            c.kind,
            c.name
        );
        n += 1;
    }
    n
}
