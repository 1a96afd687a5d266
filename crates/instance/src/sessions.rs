//! Session transcripts: `sessions/<id>.jsonl`, one JSON object per line, the first line
//! describing the session. `GET /activity` pages through them by line cursor.
//!
//! Every access goes through the workspace handle (`cap_std::fs::Dir`): a `sessions` folder
//! or transcript replaced by a symlink cannot lead the activity API outside the workspace.

use cap_std::fs::Dir;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;

pub use operator_instance_api::SessionMeta;

pub fn new_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "ses_{}{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 8)
            .to_lowercase()
    )
}

pub fn valid_id(id: &str) -> bool {
    id.starts_with("ses_")
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn path(id: &str) -> PathBuf {
    PathBuf::from("sessions").join(format!("{id}.jsonl"))
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Creates the session file with its header line if it does not exist.
pub fn ensure(root: &Dir, id: &str, title: &str) -> anyhow::Result<()> {
    if root.exists(path(id)) {
        return Ok(());
    }
    root.create_dir_all("sessions")?;
    let title: String = title.chars().take(80).collect();
    append(
        root,
        id,
        &json!({"type": "session", "id": id, "title": title, "createdAt": now(), "parentId": null}),
    )
}

/// Appends one line (flushed and synced: the transcript survives a crash of the instance).
pub fn append(root: &Dir, id: &str, line: &Value) -> anyhow::Result<()> {
    let mut f = root.open_with(
        path(id),
        cap_std::fs::OpenOptions::new().create(true).append(true),
    )?;
    let mut text = serde_json::to_string(line)?;
    text.push('\n');
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    Ok(())
}

pub fn lines(root: &Dir, id: &str) -> anyhow::Result<Vec<String>> {
    let text = root.read_to_string(path(id))?;
    Ok(text.lines().map(str::to_owned).collect())
}

pub fn exists(root: &Dir, id: &str) -> bool {
    valid_id(id) && root.exists(path(id))
}

/// Every session, most recently updated first.
pub fn list(root: &Dir) -> Vec<SessionMeta> {
    let mut out = vec![];
    let Ok(dir) = root.read_dir("sessions") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".jsonl") else {
            continue;
        };
        let updated = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t.into_std())
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
            .unwrap_or_default();
        let header: Value = root
            .read_to_string(path(id))
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned))
            .and_then(|l| serde_json::from_str(&l).ok())
            .unwrap_or(Value::Null);
        out.push(SessionMeta {
            id: id.to_owned(),
            title: header["title"].as_str().unwrap_or(id).to_owned(),
            created_at: header["createdAt"].as_str().unwrap_or(&updated).to_owned(),
            updated_at: updated,
            parent_id: header["parentId"].as_str().map(str::to_owned),
        });
    }
    out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
    out
}

/// Prior user/assistant turns of a session as chat messages (tool traffic is summarised in
/// the assistant's own words, so it is not replayed).
pub fn history(root: &Dir, id: &str) -> Vec<Value> {
    lines(root, id)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "message")
        .map(|v| json!({"role": v["role"], "content": v["content"]}))
        .collect()
}
