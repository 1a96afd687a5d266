//! One round's load: its account, webhooks and chats, and the clients that write until the
//! server is killed, each noting what it sent and what it heard back.

use crate::support::sse::parse_sse;
use crate::support::App;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Clients of each kind.
const CREATE_CLIENTS: usize = 3;
const TRIGGER_CLIENTS: usize = 3;
const CHAT_CLIENTS: usize = 3;
/// Webhooks the triggers go to.
const HOOKS: usize = 3;
/// Webhooks and automations the create clients may make per round (an account holds 200
/// of each, the round's own webhooks included).
const KIND_BUDGET: usize = 150;
/// Bound on any one request: a hang fails the round instead of stalling it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Secret,
    Webhook,
    Automation,
}

impl Kind {
    /// The collection path and the field of one item in its answers.
    pub fn path(self) -> (&'static str, &'static str) {
        match self {
            Kind::Secret => ("/api/secrets", "secret"),
            Kind::Webhook => ("/api/webhooks", "webhook"),
            Kind::Automation => ("/api/automations", "automation"),
        }
    }
}

/// A create a client sent: `id` once a 201 acknowledged it.
#[derive(Clone, Debug)]
pub struct Create {
    pub kind: Kind,
    pub name: String,
    pub idempotency_key: String,
    pub body: Value,
    pub id: Option<String>,
}

/// A webhook trigger a client sent: `delivery` once a 202 acknowledged it.
#[derive(Clone, Debug)]
pub struct Trigger {
    pub hook: usize,
    pub idempotency_key: String,
    pub marker: String,
    pub delivery: Option<String>,
}

/// A chat message a client sent: acknowledged once the 200 head of its stream arrived.
#[derive(Clone, Debug)]
pub struct ChatSend {
    pub chat: usize,
    pub text: String,
    pub acked: bool,
    /// The stream ran to `[DONE]` before the kill.
    pub finished: bool,
}

/// Everything the round's clients sent and heard.
#[derive(Default)]
pub struct Log {
    pub creates: Mutex<Vec<Create>>,
    pub triggers: Mutex<Vec<Trigger>>,
    pub chats: Mutex<Vec<ChatSend>>,
    /// Requests cut off by the kill (sent, no complete answer).
    pub cut: AtomicUsize,
    acked_creates: AtomicUsize,
    acked_triggers: AtomicUsize,
    acked_chats: AtomicUsize,
    hooks_made: AtomicUsize,
    automations_made: AtomicUsize,
    /// How long after the load started the kill came, and the counts at that moment.
    pub kill: Mutex<Option<(Duration, String)>>,
}

impl Log {
    /// Every kind of write has been acknowledged often enough for the kill.
    pub fn enough(&self) -> bool {
        self.acked_creates.load(Ordering::SeqCst) >= super::MIN_CREATES
            && self.acked_triggers.load(Ordering::SeqCst) >= super::MIN_TRIGGERS
            && self.acked_chats.load(Ordering::SeqCst) >= super::MIN_CHAT_TURNS
    }

    pub fn summary(&self) -> String {
        format!(
            "{} creates, {} triggers, {} chat turns acknowledged",
            self.acked_creates.load(Ordering::SeqCst),
            self.acked_triggers.load(Ordering::SeqCst),
            self.acked_chats.load(Ordering::SeqCst)
        )
    }

    pub fn note_kill(&self, after: Duration, counts: String) {
        *self.kill.lock().unwrap() = Some((after, counts));
    }
}

/// A webhook of the round: where triggers go and the chat its deliveries run in.
pub struct Hook {
    pub id: String,
    pub token: String,
    pub chat_id: String,
}

/// The round's account and what its clients write to.
pub struct RoundSetup {
    pub round: usize,
    pub key: String,
    pub hooks: Vec<Hook>,
    pub chats: Vec<String>,
    /// The first message of each chat (sent before the load, answered in full).
    pub openers: Vec<String>,
}

/// A fresh account (webhooks and automations are capped per account) with its webhooks and
/// chats, each chat opened by one whole turn.
pub async fn setup(app: &App, round: usize) -> RoundSetup {
    let (_, key) = app.create_account("pro");
    let mut hooks = vec![];
    for h in 0..HOOKS {
        let (s, v) = app
            .call_as(
                &key,
                Method::POST,
                "/api/webhooks",
                Some(json!({"name": format!("hook-{round}-{h}"), "promptTemplate": "Handle {{payload}}"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        hooks.push(Hook {
            id: v["webhook"]["id"].as_str().unwrap().to_owned(),
            token: v["webhook"]["token"].as_str().unwrap().to_owned(),
            chat_id: v["webhook"]["chatId"].as_str().unwrap().to_owned(),
        });
    }
    let (mut chats, mut openers) = (vec![], vec![]);
    for c in 0..CHAT_CLIENTS {
        let text = format!("open r{round} c{c}");
        let res = app
            .request(Method::POST, "/api/chat", Some(&key))
            .json(&json!({"messages": [user(&text)]}))
            .send()
            .await
            .expect("open a chat");
        assert_eq!(res.status(), 200);
        let frames = parse_sse(&res.text().await.expect("the opening turn"));
        let chat = frames[0].json()["messageMetadata"]["chatId"]
            .as_str()
            .unwrap_or_else(|| panic!("no chat id in {frames:?}"))
            .to_owned();
        assert!(
            frames.iter().any(|f| f.json()["type"] == "finish"),
            "{frames:?}"
        );
        chats.push(chat);
        openers.push(text);
    }
    RoundSetup {
        round,
        key,
        hooks,
        chats,
        openers,
    }
}

pub fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"type": "text", "text": text}]})
}

/// Starts every client; each runs until the server stops answering.
pub fn start(app: &App, setup: &RoundSetup, log: &Arc<Log>) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![];
    let round = setup.round;
    for c in 0..CREATE_CLIENTS {
        let (base, key, log) = (app.base.clone(), setup.key.clone(), log.clone());
        tasks.push(tokio::spawn(creates(base, key, round, c, log)));
    }
    for c in 0..TRIGGER_CLIENTS {
        let base = app.base.clone();
        let tokens: Vec<String> = setup.hooks.iter().map(|h| h.token.clone()).collect();
        tasks.push(tokio::spawn(triggers(base, tokens, round, c, log.clone())));
    }
    for (c, chat) in setup.chats.iter().enumerate() {
        let (base, key, chat) = (app.base.clone(), setup.key.clone(), chat.clone());
        tasks.push(tokio::spawn(chat_turns(
            base,
            key,
            chat,
            round,
            c,
            log.clone(),
        )));
    }
    tasks
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client")
}

/// What a create of `kind` sends.
fn create_body(kind: Kind, name: &str) -> Value {
    match kind {
        Kind::Secret => json!({"name": name, "value": format!("value of {name}")}),
        Kind::Webhook => json!({"name": name, "promptTemplate": "Look at {{payload}}"}),
        // Feb 29th at midnight: never due while the soak runs.
        Kind::Automation => {
            json!({"name": name, "prompt": "Summarise the day", "cronExpression": "0 0 29 2 *"})
        }
    }
}

/// Secrets, webhooks and automations in turn (webhooks and automations within the budget).
async fn creates(base: String, key: String, round: usize, client: usize, log: Arc<Log>) {
    let http = http();
    for i in 0.. {
        let kind = match i % 3 {
            1 if log.hooks_made.fetch_add(1, Ordering::SeqCst) < KIND_BUDGET => Kind::Webhook,
            2 if log.automations_made.fetch_add(1, Ordering::SeqCst) < KIND_BUDGET => {
                Kind::Automation
            }
            _ => Kind::Secret,
        };
        let name = match kind {
            Kind::Secret => format!("S{round}_{client}_{i}"),
            Kind::Webhook => format!("w{round}-{client}-{i}"),
            Kind::Automation => format!("a{round}-{client}-{i}"),
        };
        let mut create = Create {
            kind,
            body: create_body(kind, &name),
            name,
            idempotency_key: format!("soak-{round}-{client}-{i}"),
            id: None,
        };
        let (path, field) = kind.path();
        let answer = send(
            http.post(format!("{base}{path}"))
                .bearer_auth(&key)
                .header("Idempotency-Key", &create.idempotency_key)
                .json(&create.body),
        )
        .await;
        let Some((status, v)) = answer else {
            log.creates.lock().unwrap().push(create);
            log.cut.fetch_add(1, Ordering::SeqCst);
            return;
        };
        assert_eq!(status, 201, "{kind:?} {}: {v}", create.name);
        create.id = Some(v[field]["id"].as_str().expect("an id").to_owned());
        log.creates.lock().unwrap().push(create);
        log.acked_creates.fetch_add(1, Ordering::SeqCst);
    }
}

/// Triggers of the round's webhooks in turn, each with its own key and marker.
async fn triggers(base: String, tokens: Vec<String>, round: usize, client: usize, log: Arc<Log>) {
    let http = http();
    for i in 0.. {
        let hook = i % tokens.len();
        let mut t = Trigger {
            hook,
            idempotency_key: format!("dlv-{round}-{client}-{i}"),
            marker: format!("t{round}-{client}-{i}"),
            delivery: None,
        };
        let answer = send(
            http.post(format!("{base}/api/webhooks/trigger/{}", tokens[hook]))
                .header("Idempotency-Key", &t.idempotency_key)
                .json(&json!({"marker": t.marker})),
        )
        .await;
        let Some((status, v)) = answer else {
            log.triggers.lock().unwrap().push(t);
            log.cut.fetch_add(1, Ordering::SeqCst);
            return;
        };
        assert_eq!(status, 202, "trigger {}: {v}", t.marker);
        t.delivery = Some(v["deliveryId"].as_str().expect("a delivery id").to_owned());
        log.triggers.lock().unwrap().push(t);
        log.acked_triggers.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Messages to one chat, one turn at a time, each streamed to its end.
async fn chat_turns(
    base: String,
    key: String,
    chat: String,
    round: usize,
    client: usize,
    log: Arc<Log>,
) {
    let http = http();
    for i in 0.. {
        let mut sent = ChatSend {
            chat: client,
            text: format!("c{round}-{client}-{i}"),
            acked: false,
            finished: false,
        };
        let res = http
            .post(format!("{base}/api/chat"))
            .bearer_auth(&key)
            .json(&json!({"id": chat, "messages": [user(&sent.text)]}))
            .send()
            .await;
        let Ok(res) = res else {
            log.chats.lock().unwrap().push(sent);
            log.cut.fetch_add(1, Ordering::SeqCst);
            return;
        };
        assert_eq!(res.status(), 200, "chat message {}", sent.text);
        sent.acked = true;
        log.acked_chats.fetch_add(1, Ordering::SeqCst);
        let body = res.text().await;
        sent.finished = body
            .as_deref()
            .is_ok_and(|b| b.ends_with("data: [DONE]\n\n"));
        let done = sent.finished;
        if done {
            let frames = parse_sse(body.as_deref().unwrap_or_default());
            assert!(
                frames.iter().any(|f| f.json()["type"] == "finish"),
                "turn {} did not finish: {frames:?}",
                sent.text
            );
        }
        log.chats.lock().unwrap().push(sent);
        if !done {
            log.cut.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}

/// Sends and reads a JSON answer; `None` when the connection failed before a whole answer.
async fn send(rb: reqwest::RequestBuilder) -> Option<(reqwest::StatusCode, Value)> {
    let res = rb.send().await.ok()?;
    let status = res.status();
    let text = res.text().await.ok()?;
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}"));
    Some((status, v))
}
