//! A scripted fake of the Telegram Bot API (`POST /bot<token>/<method>`, JSON in and out, as
//! OpenClaw's Telegram channel calls it when its `apiRoot` points here): `getMe`, long-polled
//! `getUpdates` serving the messages a test queues, `sendMessage` recorded, anything else
//! `true`. Every call is kept with the token it carried.
#![allow(dead_code)]

use axum::extract::{Path, State};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Inner {
    /// Updates not yet confirmed (by a later `offset`).
    updates: Vec<Value>,
    next_update: i64,
    /// (token, method, body) of every call.
    calls: Vec<(String, String, Value)>,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            next_update: 1,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/{bot}/{method}", any(call))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self { url, inner }
    }

    /// A private message from user `from` to the bot.
    pub fn send_user_message(&self, from: i64, text: &str) {
        let mut i = self.inner.lock().unwrap();
        let id = i.next_update;
        i.next_update += 1;
        i.updates.push(json!({"update_id": id, "message": {
            "message_id": id,
            "from": {"id": from, "is_bot": false, "first_name": "Ada", "username": "ada"},
            "chat": {"id": from, "type": "private", "first_name": "Ada", "username": "ada"},
            "date": chrono::Utc::now().timestamp(),
            "text": text
        }}));
    }

    /// Every call: (token, method, body).
    pub fn calls(&self) -> Vec<(String, String, Value)> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// The bodies of `sendMessage` calls.
    pub fn sent(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|(_, m, _)| m == "sendMessage")
            .map(|(_, _, b)| b)
            .collect()
    }
}

async fn call(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let token = bot.strip_prefix("bot").unwrap_or(&bot).to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inner
        .lock()
        .unwrap()
        .calls
        .push((token, method.clone(), body.clone()));
    let result = match method.as_str() {
        "getMe" => {
            json!({"id": 4242, "is_bot": true, "first_name": "Fake", "username": "fake_operator_bot",
            "can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false})
        }
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let wait = body["timeout"].as_u64().unwrap_or(0).min(2);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
            loop {
                let ready: Vec<Value> = {
                    let mut i = inner.lock().unwrap();
                    i.updates
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    i.updates.clone()
                };
                if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
                    break json!(ready);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        "sendMessage" => json!({"message_id": 9000, "date": chrono::Utc::now().timestamp(),
            "chat": {"id": body["chat_id"], "type": "private"}, "text": body["text"]}),
        _ => json!(true),
    };
    Json(json!({"ok": true, "result": result}))
}
