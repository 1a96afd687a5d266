//! The instance's own agent: a tool-calling loop over the control plane's LLM gateway
//! (OpenAI Chat Completions wire format), with bash, file, http, skill and browser tools.
//! Every step is appended to the session transcript.

use crate::workspace::Workspace;
use crate::{exec, sessions, AppState};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::time::Duration;

const MAX_STEPS: usize = 20;
const MAX_TOOL_OUTPUT: usize = 16 * 1024;

fn tool(name: &str, description: &str, params: Value) -> Value {
    json!({"type": "function", "function": {"name": name, "description": description, "parameters": params}})
}

fn tools() -> Vec<Value> {
    vec![
        tool(
            "bash",
            "Run a bash command in the workspace; returns exit code, stdout and stderr.",
            json!({"type": "object", "properties": {"command": {"type": "string"}, "timeoutMs": {"type": "integer"}}, "required": ["command"]}),
        ),
        tool(
            "read_file",
            "Read a text file of the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        ),
        tool(
            "write_file",
            "Create or replace a file of the workspace (parent folders are created).",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        tool(
            "list_files",
            "List a folder of the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        ),
        tool(
            "http_request",
            "Make an HTTP request; returns status and body (truncated).",
            json!({"type": "object", "properties": {"method": {"type": "string"}, "url": {"type": "string"}, "headers": {"type": "object"}, "body": {"type": "string"}}, "required": ["url"]}),
        ),
        tool(
            "load_skill",
            "Load the full instructions of a skill from skills/<name>/SKILL.md.",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        ),
        tool(
            "browser_open",
            "Open a URL in the headless browser and return the page title and text.",
            json!({"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}),
        ),
    ]
}

/// `name: description` from each skill's front matter (bodies load on demand).
pub fn skill_index(ws: &Workspace) -> Vec<(String, String)> {
    let mut out = vec![];
    let Ok(dir) = ws.dir().read_dir("skills") else {
        return out;
    };
    for entry in dir.flatten() {
        let folder = entry.file_name().to_string_lossy().into_owned();
        let Ok(text) = ws.read_to_string(&format!("skills/{folder}/SKILL.md")) else {
            continue;
        };
        let (mut name, mut desc) = (
            entry.file_name().to_string_lossy().into_owned(),
            String::new(),
        );
        if let Some(front) = text
            .strip_prefix("---")
            .and_then(|r| r.split("\n---").next())
        {
            for line in front.lines() {
                if let Some(v) = line.strip_prefix("name:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("description:") {
                    desc = v.trim().to_owned();
                }
            }
        }
        out.push((name, desc));
    }
    out.sort();
    out
}

fn system_prompt(ws: &Workspace) -> String {
    let read = |f: &str| ws.read_to_string(f).unwrap_or_default();
    let skills = skill_index(ws)
        .into_iter()
        .map(|(n, d)| format!("- {n}: {d}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "{}\n\n{}\n\n{}\n\n# Skills\n{}\n",
        read("AGENTS.md"),
        read("IDENTITY.md"),
        read("USER.md"),
        if skills.is_empty() {
            "(none)".to_owned()
        } else {
            skills
        }
    )
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_TOOL_OUTPUT {
        let mut cut = MAX_TOOL_OUTPUT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n[truncated]");
    }
    s
}

async fn run_tool(state: &AppState, name: &str, args: &Value) -> anyhow::Result<String> {
    let ws = &state.workspace;
    let arg = |k: &str| args[k].as_str().unwrap_or_default().to_owned();
    Ok(match name {
        "bash" => {
            let timeout = args["timeoutMs"]
                .as_u64()
                .unwrap_or(operator_instance_api::DEFAULT_EXEC_TIMEOUT_MS)
                .min(operator_instance_api::MAX_EXEC_TIMEOUT_MS);
            let r = exec::run(
                ws.dir(),
                &arg("command"),
                Duration::from_millis(timeout),
                &state.env,
            )
            .await?;
            serde_json::to_string(&r)?
        }
        "read_file" => ws.read_to_string(&arg("path"))?,
        "write_file" => {
            let content = arg("content");
            ws.write(&arg("path"), content.as_bytes())?;
            format!("wrote {} bytes to {}", content.len(), arg("path"))
        }
        "list_files" => ws
            .list(&arg("path"))?
            .iter()
            .map(|e| match e.kind {
                operator_instance_api::EntryKind::Directory => format!("{}/", e.name),
                operator_instance_api::EntryKind::Symlink => format!("{}@", e.name),
                _ => e.name.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "http_request" => {
            let method = reqwest::Method::from_bytes(arg("method").to_uppercase().as_bytes())
                .unwrap_or(reqwest::Method::GET);
            let mut rb = state
                .http
                .request(method, arg("url"))
                .timeout(Duration::from_secs(30));
            if let Some(h) = args["headers"].as_object() {
                for (k, v) in h {
                    rb = rb.header(k, v.as_str().unwrap_or_default());
                }
            }
            if let Some(b) = args["body"].as_str() {
                rb = rb.body(b.to_owned());
            }
            let res = rb.send().await?;
            let status = res.status().as_u16();
            format!("status {status}\n{}", res.text().await.unwrap_or_default())
        }
        "load_skill" => {
            let name = arg("name");
            if name.contains('/') || name.contains("..") {
                bail!("invalid skill name");
            }
            ws.read_to_string(&format!("skills/{name}/SKILL.md"))
                .with_context(|| format!("no skill named {name}"))?
        }
        "browser_open" => {
            let page = state.browser.open(&arg("url")).await?;
            format!("{}\n\n{}", page.title, page.text)
        }
        other => bail!("unknown tool {other}"),
    })
}

/// One user message through the loop; returns the final assistant text.
pub async fn respond(state: &AppState, session: &str, text: &str) -> anyhow::Result<String> {
    let root = state.workspace.dir();
    sessions::ensure(root, session, text)?;
    let mut messages = vec![json!({"role": "system", "content": system_prompt(&state.workspace)})];
    messages.extend(sessions::history(root, session));
    messages.push(json!({"role": "user", "content": text}));
    sessions::append(
        root,
        session,
        &json!({"type": "message", "role": "user", "content": text, "timestamp": sessions::now()}),
    )?;

    for _ in 0..MAX_STEPS {
        let reply = state.control.chat(&messages, &tools()).await?;
        let msg = reply["choices"][0]["message"].clone();
        let calls = msg["tool_calls"].as_array().cloned().unwrap_or_default();
        if calls.is_empty() {
            let content = msg["content"].as_str().unwrap_or_default().to_owned();
            sessions::append(
                root,
                session,
                &json!({"type": "message", "role": "assistant", "content": content, "timestamp": sessions::now()}),
            )?;
            return Ok(content);
        }
        messages.push(json!({"role": "assistant", "content": msg["content"], "tool_calls": calls}));
        for call in calls {
            let id = call["id"].as_str().unwrap_or_default().to_owned();
            let name = call["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let args: Value = call["function"]["arguments"]
                .as_str()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or(json!({}));
            sessions::append(
                root,
                session,
                &json!({"type": "tool_call", "id": id, "name": name, "input": args, "timestamp": sessions::now()}),
            )?;
            let (output, is_error) = match run_tool(state, &name, &args).await {
                Ok(o) => (truncate(o), false),
                Err(e) => (format!("error: {e:#}"), true),
            };
            sessions::append(
                root,
                session,
                &json!({"type": "tool_result", "id": id, "output": output, "isError": is_error, "timestamp": sessions::now()}),
            )?;
            messages.push(json!({"role": "tool", "tool_call_id": id, "content": output}));
        }
    }
    let note = format!("stopped after {MAX_STEPS} steps without a final answer");
    sessions::append(
        root,
        session,
        &json!({"type": "message", "role": "assistant", "content": note, "timestamp": sessions::now()}),
    )?;
    Ok(note)
}
