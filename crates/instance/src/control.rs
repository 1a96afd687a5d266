//! The control plane as seen from an instance: the LLM gateway and secret reads, both
//! authenticated with this instance's token. Provider keys never enter the instance.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::time::Duration;

/// The gateway refused a model call: its HTTP status and API.md error code, so the
/// instance API can pass them on (503 `llm_unavailable`, 429 `quota_exceeded`) instead of
/// reading them out of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LLM gateway answered {} ({}): {}",
            self.status, self.code, self.message
        )
    }
}

impl std::error::Error for GatewayError {}

#[derive(Clone)]
pub struct Control {
    pub base: String,
    pub token: String,
    pub model: Option<String>,
    http: reqwest::Client,
}

impl Control {
    pub fn new(base: String, token: String, model: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            model,
            http: reqwest::Client::new(),
        }
    }

    /// One non-streaming Chat Completions call through the gateway. A refusal is a
    /// [`GatewayError`] (find it with `downcast_ref`).
    pub async fn chat(&self, messages: &[Value], tools: &[Value]) -> anyhow::Result<Value> {
        if self.base.is_empty() {
            bail!("no control plane configured (OPERATOR_CONTROL_URL)");
        }
        let mut body = json!({"messages": messages, "tools": tools});
        if let Some(m) = &self.model {
            body["model"] = json!(m);
        }
        let res = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .context("reach the LLM gateway")?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(GatewayError {
                status: status.as_u16(),
                code: v["error"]["code"]
                    .as_str()
                    .unwrap_or("bad_gateway")
                    .to_owned(),
                message: v["error"]["message"]
                    .as_str()
                    .unwrap_or("no detail")
                    .to_owned(),
            }
            .into());
        }
        Ok(v)
    }

    /// GET a control-plane path with the instance token; the JSON body, or the API's error
    /// message (`missing` when it gives none).
    async fn get_json(&self, path: &str, missing: &str) -> anyhow::Result<Value> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .context("reach the control plane")?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{}", v["error"]["message"].as_str().unwrap_or(missing));
        }
        Ok(v)
    }

    /// Every secret granted to this instance (and the global ones), with current values.
    pub async fn all_secrets(&self) -> anyhow::Result<Vec<(String, String)>> {
        let v = self
            .get_json("/v1/secrets", "secrets not available")
            .await?;
        Ok(v["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["name"].as_str()?.to_owned(),
                    s["value"].as_str()?.to_owned(),
                ))
            })
            .collect())
    }

    /// The current value of a secret granted to this instance (follows rotations).
    pub async fn secret(&self, name: &str) -> anyhow::Result<String> {
        let v = self
            .get_json(&format!("/v1/secrets/{name}"), "secret not available")
            .await?;
        Ok(v["value"].as_str().unwrap_or_default().to_owned())
    }

    /// The models the gateway serves (`GET /v1/models`), by id.
    pub async fn models(&self) -> anyhow::Result<Vec<String>> {
        let v = self.get_json("/v1/models", "models not available").await?;
        Ok(v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect())
    }
}
