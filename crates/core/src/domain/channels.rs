//! Chat channels of an `openclaw` instance: OpenClaw's own channel plugins, configured by the
//! platform (`PUT /api/instances/{id}` `{"channels": …}`, kept as the instance's
//! `config.channels`). Tokens are named by secret, never given: the instance gets the granted
//! secret as an environment variable and OpenClaw's config says `${NAME}`, so no token is
//! written into a config file or a record in plain text.
//!
//! Telegram is bundled with OpenClaw. Discord and Slack are separate OpenClaw plugins that the
//! pinned install does not carry yet; asking for them is a clear 400, not a gateway that
//! refuses to start.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `channels` of an `openclaw` instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Channels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub telegram: Option<TelegramChannel>,
}

/// A Telegram user id (digits), or `*` for anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(pattern = r"^(?:\*|[0-9]{1,20})$", example = "123456")]
pub struct TelegramUser(pub String);

/// A Telegram bot the instance's agent answers as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TelegramChannel {
    /// The name of a secret granted to the instance that holds the bot token.
    #[schema(example = "TELEGRAM_BOT_TOKEN", pattern = r"^[A-Z_][A-Z0-9_]{0,127}$")]
    pub bot_token_secret: String,
    /// Telegram user ids allowed to talk to the bot; `*` among them: anyone. Empty: a new
    /// sender must be approved first (OpenClaw's pairing).
    #[serde(default)]
    #[schema(inline, max_items = 1000)]
    pub allow_from: Vec<TelegramUser>,
}

impl Channels {
    /// Parses and checks `config.channels` as a client sent it.
    pub fn parse(v: &Value) -> Result<Self, Error> {
        let Some(obj) = v.as_object() else {
            return Err(Error::invalid("channels", "must be an object"));
        };
        for name in ["discord", "slack"] {
            if obj.contains_key(name) {
                return Err(Error::invalid(
                    "channels",
                    format!("{name} is not available yet: OpenClaw ships it as a separate plugin this server does not install; telegram is"),
                ));
            }
        }
        let c: Channels = serde_json::from_value(v.clone())
            .map_err(|e| Error::invalid("channels", e.to_string()))?;
        if let Some(t) = &c.telegram {
            crate::domain::SecretName::parse(&t.bot_token_secret).map_err(|_| {
                Error::invalid(
                    "channels.telegram.botTokenSecret",
                    "must be the name of a secret ([A-Z_][A-Z0-9_]*)",
                )
            })?;
            let ok = |a: &str| {
                a == "*"
                    || (!a.is_empty() && a.len() <= 20 && a.bytes().all(|b| b.is_ascii_digit()))
            };
            if t.allow_from.len() > 1000 || !t.allow_from.iter().all(|a| ok(&a.0)) {
                return Err(Error::invalid(
                    "channels.telegram.allowFrom",
                    "must be at most 1000 Telegram user ids (digits), or \"*\" for anyone",
                ));
            }
        }
        Ok(c)
    }

    /// The secrets the channels need granted.
    pub fn secrets(&self) -> Vec<&str> {
        self.telegram
            .iter()
            .map(|t| t.bot_token_secret.as_str())
            .collect()
    }

    /// OpenClaw's `channels` config: tokens as `${SECRET}`; `telegram_api_root` overrides the
    /// Bot API's address (a proxy, or a test's fake).
    pub fn openclaw_config(&self, telegram_api_root: Option<&str>) -> Value {
        let mut out = json!({});
        if let Some(t) = &self.telegram {
            let open = t.allow_from.iter().any(|a| a.0 == "*");
            let policy = match (open, t.allow_from.is_empty()) {
                (true, _) => "open",
                (false, true) => "pairing",
                (false, false) => "allowlist",
            };
            let allow: Vec<&str> = if open {
                vec!["*"]
            } else {
                t.allow_from.iter().map(|a| a.0.as_str()).collect()
            };
            let mut tg = json!({
                "enabled": true,
                "botToken": format!("${{{}}}", t.bot_token_secret),
                "dmPolicy": policy,
            });
            if !allow.is_empty() {
                tg["allowFrom"] = json!(allow);
            }
            if let Some(root) = telegram_api_root {
                tg["apiRoot"] = json!(root);
            }
            out["telegram"] = tg;
        }
        out
    }

    /// The channels an instance's `config` holds, if any.
    pub fn of_config(config: &Value) -> Option<Channels> {
        config
            .get("channels")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .filter(|c: &Channels| c.telegram.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_becomes_openclaw_config_with_the_token_by_name() {
        let c = Channels::parse(
            &json!({"telegram": {"botTokenSecret": "TELEGRAM_BOT_TOKEN", "allowFrom": ["123456"]}}),
        )
        .unwrap();
        let oc = c.openclaw_config(Some("http://127.0.0.1:9"));
        assert_eq!(
            oc["telegram"],
            json!({"enabled": true, "botToken": "${TELEGRAM_BOT_TOKEN}", "dmPolicy": "allowlist",
                   "allowFrom": ["123456"], "apiRoot": "http://127.0.0.1:9"})
        );
        assert_eq!(c.secrets(), ["TELEGRAM_BOT_TOKEN"]);
        let open =
            Channels::parse(&json!({"telegram": {"botTokenSecret": "T", "allowFrom": ["*"]}}))
                .unwrap();
        assert_eq!(open.openclaw_config(None)["telegram"]["dmPolicy"], "open");
    }

    #[test]
    fn bad_channels_are_refused_with_the_field() {
        for bad in [
            json!({"telegram": {"botTokenSecret": "lower"}}),
            json!({"telegram": {"botTokenSecret": "T", "allowFrom": ["12a"]}}),
            json!([null, null]),
            json!({"telegram": {"botToken": "123:abc"}}),
            json!({"discord": {"tokenSecret": "D"}}),
            json!({"irc": {}}),
        ] {
            assert!(Channels::parse(&bad).is_err(), "{bad}");
        }
    }
}
