//! The Operator agent's tools: one per platform operation, each executed through the same
//! service method REST uses (same validation, capacity and tenant checks). Secret values
//! go in through `create_secret`/`update_secret` but never come back out.

use crate::error::Error;
use crate::http::views::*;
use crate::llm::ToolSpec;
use crate::services::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Replaced for secret values in stored events and in the model's view of past calls.
pub const REDACTED: &str = "[redacted]";

fn spec(name: &str, description: &str, schema: Value) -> ToolSpec {
    ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        schema,
    }
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn s(desc: &str) -> Value {
    json!({"type": "string", "description": desc})
}

const ID: &str = "instance id (inst_...) or name";

pub fn catalogue() -> Vec<ToolSpec> {
    vec![
        spec("create_instance", "Create an agent instance (isolated workspace, terminal, browser, LLM). Starts as provisioning, active shortly after.",
            obj(json!({"name": s("1-63 chars [a-z0-9-]"), "kind": json!({"type": "string", "enum": ["prebuilt", "blank"]}), "checkpointRepo": s("git URL, owner/repo or path to clone into the workspace"), "env": json!({"type": "object", "additionalProperties": {"type": "string"}})}), &["name"])),
        spec("list_instances", "List the account's instances with their status.", obj(json!({}), &[])),
        spec("get_instance", "Get one instance.", obj(json!({"instance": s(ID)}), &["instance"])),
        spec("update_instance", "Rename an instance or change its env/config.",
            obj(json!({"instance": s(ID), "name": s("new name"), "env": json!({"type": "object", "additionalProperties": {"type": "string"}}), "config": json!({"type": "object"})}), &["instance"])),
        spec("restart_instance", "Restart an active or failed instance.", obj(json!({"instance": s(ID)}), &["instance"])),
        spec("clone_instance", "Create a new instance with a copy of another's workspace.", obj(json!({"instance": s(ID), "name": s("name of the copy")}), &["instance", "name"])),
        spec("delete_instance", "Delete an instance: stops it and removes its workspace.", obj(json!({"instance": s(ID)}), &["instance"])),
        spec("instance_activity", "Recent session transcript lines of an instance's own agent.", obj(json!({"instance": s(ID), "sessionId": s("optional session")}), &["instance"])),
        spec("read_file", "Read a file or list a folder in an instance's workspace.", obj(json!({"instance": s(ID), "path": s("path relative to the workspace root")}), &["instance"])),
        spec("write_file", "Write a file into an instance's workspace.", obj(json!({"instance": s(ID), "path": s("relative path"), "content": s("file content")}), &["instance", "path", "content"])),
        spec("run_command", "Run a shell command in an instance's workspace.", obj(json!({"instance": s(ID), "command": s("bash command"), "timeoutMs": json!({"type": "integer"})}), &["instance", "command"])),
        spec("message_instance", "Send a message to an instance's own agent and get its reply.", obj(json!({"instance": s(ID), "text": s("the message"), "sessionId": s("continue this session")}), &["instance", "text"])),
        spec("write_skill", "Install or replace a skill (skills/<name>/SKILL.md, Agent Skills format) in an instance.",
            obj(json!({"instance": s(ID), "name": s("skill name [a-z0-9-]"), "description": s("one line: when to use it"), "body": s("the instructions (Markdown)")}), &["instance", "name", "description", "body"])),
        spec("list_skills", "List the skills installed in an instance.", obj(json!({"instance": s(ID)}), &["instance"])),
        spec("remove_skill", "Remove a skill from an instance.", obj(json!({"instance": s(ID), "name": s("skill name")}), &["instance", "name"])),
        spec("create_secret", "Store a secret (encrypted). The value is never shown again, to you or anyone.",
            obj(json!({"name": s("ENV_VAR_STYLE name"), "value": s("the secret value"), "description": s("what it is for"), "isGlobal": json!({"type": "boolean", "description": "readable by every instance"})}), &["name", "value"])),
        spec("list_secrets", "List secrets (names, grants; never values).", obj(json!({}), &[])),
        spec("update_secret", "Rotate a secret's value or change its description/isGlobal.",
            obj(json!({"secret": s("secret id (sec_...) or name"), "value": s("new value"), "description": s("description"), "isGlobal": json!({"type": "boolean"})}), &["secret"])),
        spec("grant_secret", "Let an instance read a secret (as an env var from its next start, and on demand).", obj(json!({"secret": s("secret id or name"), "instance": s(ID)}), &["secret", "instance"])),
        spec("revoke_secret", "Withdraw an instance's access to a secret.", obj(json!({"secret": s("secret id or name"), "instance": s(ID)}), &["secret", "instance"])),
        spec("delete_secret", "Delete a secret.", obj(json!({"secret": s("secret id or name")}), &["secret"])),
        spec("create_automation", "Schedule a prompt for this agent on a 5-field cron in an IANA time zone.",
            obj(json!({"name": s("name"), "prompt": s("what to do each time"), "cronExpression": s("e.g. 0 9 * * 1-5"), "timezone": s("e.g. America/New_York; default UTC")}), &["name", "prompt", "cronExpression"])),
        spec("list_automations", "List automations with their next run.", obj(json!({}), &[])),
        spec("update_automation", "Change an automation (any field, or enabled).",
            obj(json!({"automation": s("auto_..."), "name": s("name"), "prompt": s("prompt"), "cronExpression": s("cron"), "timezone": s("zone"), "enabled": json!({"type": "boolean"})}), &["automation"])),
        spec("delete_automation", "Delete an automation.", obj(json!({"automation": s("auto_...")}), &["automation"])),
        spec("run_automation", "Run an automation now.", obj(json!({"automation": s("auto_...")}), &["automation"])),
        spec("create_webhook", "Create an inbound webhook whose requests run a prompt; the template must contain {{payload}}.",
            obj(json!({"name": s("name"), "promptTemplate": s("prompt with {{payload}}")}), &["name", "promptTemplate"])),
        spec("list_webhooks", "List webhooks with their URLs.", obj(json!({}), &[])),
        spec("update_webhook", "Change a webhook; regenerateToken invalidates the old URL.",
            obj(json!({"webhook": s("wh_..."), "name": s("name"), "promptTemplate": s("template"), "enabled": json!({"type": "boolean"}), "regenerateToken": json!({"type": "boolean"})}), &["webhook"])),
        spec("delete_webhook", "Delete a webhook.", obj(json!({"webhook": s("wh_...")}), &["webhook"])),
        spec("get_billing", "Plan, capacity (instances used/limit) and token usage.", obj(json!({}), &[])),
    ]
}

/// The input as it may be stored and shown to the model: secret values replaced.
pub fn redact(tool: &str, input: &Value) -> Value {
    let mut v = input.clone();
    if matches!(tool, "create_secret" | "update_secret") && v.get("value").is_some() {
        v["value"] = json!(REDACTED);
    }
    v
}

/// A tool failure, given back to the model as the tool's result (API.md's error shape).
pub fn error_output(e: Error) -> Value {
    let api = crate::http::error::ApiError::from(e);
    json!({"error": {"code": api.code, "message": api.message, "details": api.details}})
}

fn str_arg(input: &Value, key: &str) -> Result<String, Error> {
    input[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid(key, "is required (a string)"))
}

fn opt_str(input: &Value, key: &str) -> Option<String> {
    input[key].as_str().map(str::to_owned)
}

fn env_arg(input: &Value) -> Result<Option<std::collections::BTreeMap<String, String>>, Error> {
    match &input["env"] {
        Value::Null => Ok(None),
        v => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| Error::invalid("env", "must map names to string values")),
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

async fn secret_by_id_or_name(
    p: &Platform,
    caller: &Caller,
    key: &str,
) -> Result<crate::domain::Secret, Error> {
    if key.starts_with("sec_") {
        return p.get_secret(caller, key).await;
    }
    let name =
        crate::domain::SecretName::parse(key).map_err(|_| Error::not_found("secret", key))?;
    match p.store.get_secret_by_name(&caller.account.id, &name).await {
        Ok(s) => Ok(s),
        Err(crate::error::StoreError::NotFound) => Err(Error::not_found("secret", key)),
        Err(e) => Err(e.into()),
    }
}

fn relayed_json(r: Relayed) -> Result<Value, Error> {
    let v: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&r.body)}));
    if r.status >= 400 {
        let msg = v["error"]["message"]
            .as_str()
            .unwrap_or("instance error")
            .to_owned();
        return Err(match r.status {
            404 => Error::NotFound(msg),
            409 => Error::Conflict(msg),
            _ => Error::invalid("request", msg),
        });
    }
    Ok(v)
}

fn skill_name(input: &Value) -> Result<String, Error> {
    let n = str_arg(input, "name")?;
    if n.is_empty()
        || n.len() > 64
        || !n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::invalid(
            "name",
            "skill names are 1-64 characters of [a-z0-9-]",
        ));
    }
    Ok(n)
}

/// Executes one tool call for `caller`.
pub async fn execute(
    p: &Platform,
    caller: &Caller,
    name: &str,
    input: &Value,
) -> Result<Value, Error> {
    let page = || crate::domain::PageRequest::first(crate::domain::PageRequest::MAX_LIMIT);
    let inst = || str_arg(input, "instance");
    let get = reqwest::Method::GET;
    let t = Duration::from_secs(60);
    Ok(match name {
        "create_instance" => {
            let i = p
                .create_instance(
                    caller,
                    CreateInstance {
                        name: str_arg(input, "name")?,
                        kind: opt_str(input, "kind"),
                        checkpoint_repo: opt_str(input, "checkpointRepo"),
                        env: env_arg(input)?,
                    },
                )
                .await?;
            json!({"instance": to_value(InstanceView::from(i))})
        }
        "list_instances" => {
            let items = p.list_instances(caller, &page(), false).await?.items;
            json!({"instances": items.into_iter().map(|i| to_value(InstanceView::from(i))).collect::<Vec<_>>()})
        }
        "get_instance" => {
            json!({"instance": to_value(InstanceView::from(p.get_instance(caller, &inst()?).await?))})
        }
        "update_instance" => {
            let i = p
                .update_instance(
                    caller,
                    &inst()?,
                    UpdateInstance {
                        name: opt_str(input, "name"),
                        env: env_arg(input)?,
                        config: input.get("config").filter(|c| !c.is_null()).cloned(),
                    },
                )
                .await?;
            json!({"instance": to_value(InstanceView::from(i))})
        }
        "restart_instance" => {
            json!({"instance": to_value(InstanceView::from(p.restart_instance(caller, &inst()?).await?))})
        }
        "clone_instance" => {
            json!({"instance": to_value(InstanceView::from(p.clone_instance(caller, &inst()?, &str_arg(input, "name")?).await?))})
        }
        "delete_instance" => {
            p.delete_instance(caller, &inst()?).await?;
            json!({"ok": true})
        }
        "instance_activity" => {
            let mut path = "/activity".to_owned();
            if let Some(s) = opt_str(input, "sessionId") {
                path.push_str(&format!(
                    "?sessionId={}",
                    crate::http::routes::instances::encode(&s)
                ));
            }
            let mut v = relayed_json(
                p.call_instance(caller, &inst()?, get, &path, None, t)
                    .await?,
            )?;
            // Keep the model's context small: the last 40 lines.
            if let Some(lines) = v["lines"].as_array_mut() {
                let n = lines.len();
                lines.drain(..n.saturating_sub(40));
            }
            v
        }
        "read_file" => {
            let path = format!(
                "/files?path={}",
                crate::http::routes::instances::encode(&opt_str(input, "path").unwrap_or_default())
            );
            relayed_json(
                p.call_instance(caller, &inst()?, get, &path, None, t)
                    .await?,
            )?
        }
        "write_file" => {
            let path = format!(
                "/files?path={}",
                crate::http::routes::instances::encode(&str_arg(input, "path")?)
            );
            let body = str_arg(input, "content")?.into_bytes().into();
            relayed_json(
                p.call_instance(caller, &inst()?, reqwest::Method::PUT, &path, Some(body), t)
                    .await?,
            )?
        }
        "run_command" => {
            let timeout = input["timeoutMs"].as_u64().unwrap_or(30_000).min(600_000);
            let body = json!({"command": str_arg(input, "command")?, "timeoutMs": timeout})
                .to_string()
                .into_bytes()
                .into();
            relayed_json(
                p.call_instance(
                    caller,
                    &inst()?,
                    reqwest::Method::POST,
                    "/exec",
                    Some(body),
                    Duration::from_millis(timeout + 10_000),
                )
                .await?,
            )?
        }
        "message_instance" => {
            let mut body = json!({"text": str_arg(input, "text")?});
            if let Some(sid) = opt_str(input, "sessionId") {
                body["sessionId"] = json!(sid);
            }
            relayed_json(
                p.call_instance(
                    caller,
                    &inst()?,
                    reqwest::Method::POST,
                    "/messages",
                    Some(body.to_string().into_bytes().into()),
                    Duration::from_secs(900),
                )
                .await?,
            )?
        }
        "write_skill" => {
            let name = skill_name(input)?;
            let description = str_arg(input, "description")?.replace('\n', " ");
            let content = format!(
                "---\nname: {name}\ndescription: {description}\n---\n\n{}\n",
                str_arg(input, "body")?
            );
            let path = format!("/files?path=skills/{name}/SKILL.md");
            relayed_json(
                p.call_instance(
                    caller,
                    &inst()?,
                    reqwest::Method::PUT,
                    &path,
                    Some(content.into_bytes().into()),
                    t,
                )
                .await?,
            )?;
            json!({"ok": true, "skill": name, "path": format!("skills/{name}/SKILL.md")})
        }
        "list_skills" => {
            let v = relayed_json(
                p.call_instance(caller, &inst()?, get, "/files?path=skills", None, t)
                    .await?,
            )?;
            let names: Vec<Value> = v["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["type"] == "directory")
                .map(|e| e["name"].clone())
                .collect();
            json!({"skills": names})
        }
        "remove_skill" => {
            let name = skill_name(input)?;
            relayed_json(
                p.call_instance(
                    caller,
                    &inst()?,
                    reqwest::Method::DELETE,
                    &format!("/files?path=skills/{name}"),
                    None,
                    t,
                )
                .await?,
            )?;
            json!({"ok": true})
        }
        "create_secret" => {
            let s = p
                .create_secret(
                    caller,
                    CreateSecret {
                        name: str_arg(input, "name")?,
                        value: str_arg(input, "value")?.into(),
                        description: opt_str(input, "description"),
                        is_global: input["isGlobal"].as_bool().unwrap_or(false),
                    },
                )
                .await?;
            json!({"secret": to_value(SecretView::from(s))})
        }
        "list_secrets" => {
            let items = p.list_secrets(caller, &page()).await?.items;
            json!({"secrets": items.into_iter().map(|s| to_value(SecretView::from(s))).collect::<Vec<_>>()})
        }
        "update_secret" => {
            let sec = secret_by_id_or_name(p, caller, &str_arg(input, "secret")?).await?;
            let s = p
                .update_secret(
                    caller,
                    sec.id.as_str(),
                    UpdateSecret {
                        value: opt_str(input, "value").map(Into::into),
                        description: opt_str(input, "description")
                            .map(|d| Some(d).filter(|d| !d.is_empty())),
                        is_global: input["isGlobal"].as_bool(),
                    },
                )
                .await?;
            json!({"secret": to_value(SecretView::from(s))})
        }
        "grant_secret" => {
            let sec = secret_by_id_or_name(p, caller, &str_arg(input, "secret")?).await?;
            json!({"secret": to_value(SecretView::from(p.grant_secret(caller, sec.id.as_str(), &inst()?).await?))})
        }
        "revoke_secret" => {
            let sec = secret_by_id_or_name(p, caller, &str_arg(input, "secret")?).await?;
            let i = p.get_instance(caller, &inst()?).await?;
            p.revoke_grant(caller, sec.id.as_str(), i.id.as_str())
                .await?;
            json!({"ok": true})
        }
        "delete_secret" => {
            let sec = secret_by_id_or_name(p, caller, &str_arg(input, "secret")?).await?;
            p.delete_secret(caller, sec.id.as_str()).await?;
            json!({"ok": true})
        }
        "create_automation" => {
            let a = p
                .create_automation(
                    caller,
                    CreateAutomation {
                        name: str_arg(input, "name")?,
                        prompt: str_arg(input, "prompt")?,
                        cron_expression: str_arg(input, "cronExpression")?,
                        timezone: opt_str(input, "timezone"),
                        enabled: input["enabled"].as_bool(),
                    },
                )
                .await?;
            json!({"automation": to_value(AutomationView::from(a))})
        }
        "list_automations" => {
            let items = p.list_automations(caller, &page()).await?.items;
            json!({"automations": items.into_iter().map(|a| to_value(AutomationView::from(a))).collect::<Vec<_>>()})
        }
        "update_automation" => {
            let a = p
                .update_automation(
                    caller,
                    &str_arg(input, "automation")?,
                    UpdateAutomation {
                        name: opt_str(input, "name"),
                        prompt: opt_str(input, "prompt"),
                        cron_expression: opt_str(input, "cronExpression"),
                        timezone: opt_str(input, "timezone"),
                        enabled: input["enabled"].as_bool(),
                    },
                )
                .await?;
            json!({"automation": to_value(AutomationView::from(a))})
        }
        "delete_automation" => {
            p.delete_automation(caller, &str_arg(input, "automation")?)
                .await?;
            json!({"ok": true})
        }
        "run_automation" => {
            json!({"run": to_value(RunView::from(p.run_automation_now(caller, &str_arg(input, "automation")?).await?))})
        }
        "create_webhook" => {
            let w = p
                .create_webhook(
                    caller,
                    CreateWebhook {
                        name: str_arg(input, "name")?,
                        prompt_template: str_arg(input, "promptTemplate")?,
                        enabled: input["enabled"].as_bool(),
                    },
                )
                .await?;
            json!({"webhook": to_value(WebhookView::new(p, w))})
        }
        "list_webhooks" => {
            let items = p.list_webhooks(caller, &page()).await?.items;
            json!({"webhooks": items.into_iter().map(|w| to_value(WebhookView::new(p, w))).collect::<Vec<_>>()})
        }
        "update_webhook" => {
            let w = p
                .update_webhook(
                    caller,
                    &str_arg(input, "webhook")?,
                    UpdateWebhook {
                        name: opt_str(input, "name"),
                        prompt_template: opt_str(input, "promptTemplate"),
                        enabled: input["enabled"].as_bool(),
                        regenerate_token: input["regenerateToken"].as_bool().unwrap_or(false),
                    },
                )
                .await?;
            json!({"webhook": to_value(WebhookView::new(p, w))})
        }
        "delete_webhook" => {
            p.delete_webhook(caller, &str_arg(input, "webhook")?)
                .await?;
            json!({"ok": true})
        }
        "get_billing" => to_value(BillingView::from(p.billing(caller).await?)),
        other => return Err(Error::invalid("tool", format!("unknown tool {other}"))),
    })
}
