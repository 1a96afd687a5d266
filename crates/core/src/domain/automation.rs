//! Automations (cron-scheduled prompts) and the record of each fire.

use super::{CronExpr, TimeZoneName, Timestamp};
use crate::error::Error;
use crate::ids::{AccountId, AutomationId, ChatId, RunId};
use serde::{Deserialize, Serialize};

pub const MAX_PROMPT_CHARS: usize = 20_000;

/// 1–100 characters (as sent, so the documented `maxLength` is exact), not all white space,
/// without control or invisible formatting characters; stored trimmed.
pub fn validate_title(field: &str, s: &str) -> Result<String, Error> {
    let t = s.trim();
    if t.is_empty() || s.chars().count() > 100 || s.chars().any(is_hidden_or_control) {
        Err(Error::invalid(
            field,
            "must be 1-100 characters without control, bidirectional or invisible formatting characters",
        ))
    } else {
        Ok(t.to_owned())
    }
}

/// Characters that must not appear in a name shown to people: C0/C1 controls (terminal
/// escapes, NUL), bidirectional overrides and isolates (text that displays reordered), and
/// invisible formatting (zero-width characters, line and paragraph separators, BOM).
pub fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

pub fn validate_prompt(field: &str, s: &str) -> Result<String, Error> {
    if s.trim().is_empty() {
        Err(Error::invalid(field, "must not be empty"))
    } else if s.chars().count() > MAX_PROMPT_CHARS {
        Err(Error::invalid(
            field,
            format!("must be at most {MAX_PROMPT_CHARS} characters"),
        ))
    } else {
        Ok(s.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Automation {
    pub id: AutomationId,
    pub account_id: AccountId,
    pub name: String,
    pub prompt: String,
    pub cron: CronExpr,
    pub timezone: TimeZoneName,
    pub enabled: bool,
    /// The next fire; `None` while disabled.
    pub next_run_at: Option<Timestamp>,
    /// The automation's own chat thread, where every fire runs.
    pub chat_id: ChatId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Automation {
    /// The fire after `after`, or `None` when disabled.
    pub fn compute_next(&self, after: Timestamp) -> Option<Timestamp> {
        if self.enabled {
            self.cron
                .next_after(after, self.timezone.tz())
                .map(super::ts)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why a run exists: the schedule or a manual `POST .../run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunTrigger {
    Schedule,
    Manual,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "manual" {
            Self::Manual
        } else {
            Self::Schedule
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AutomationRun {
    pub id: RunId,
    pub automation_id: AutomationId,
    pub account_id: AccountId,
    pub trigger: RunTrigger,
    pub status: RunStatus,
    /// The schedule slot this run is for; unique per automation for scheduled runs, so a
    /// slot enqueued twice (crash, redelivery) still runs once.
    pub scheduled_for: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub chat_id: Option<ChatId>,
    pub error: Option<String>,
    pub created_at: Timestamp,
}

impl AutomationRun {
    /// A new run of `automation` for `scheduled_for`, queued at `now`.
    pub fn queued(
        automation: &Automation,
        trigger: RunTrigger,
        scheduled_for: Timestamp,
        now: Timestamp,
    ) -> Self {
        Self {
            id: RunId::generate(),
            automation_id: automation.id.clone(),
            account_id: automation.account_id.clone(),
            trigger,
            status: RunStatus::Queued,
            scheduled_for,
            started_at: None,
            finished_at: None,
            chat_id: None,
            error: None,
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_refuse_controls_bidi_overrides_and_invisible_characters() {
        assert_eq!(
            validate_title("name", " morning brief ").unwrap(),
            "morning brief"
        );
        assert_eq!(
            validate_title("name", "café – ünïcode").unwrap(),
            "café – ünïcode"
        );
        for bad in [
            "a\0b",
            "red\u{1b}[31mtext",
            "invoice\u{202E}fdp.exe",
            "a\u{2066}b\u{2069}",
            "zero\u{200B}width",
            "line\u{2028}sep",
            "bom\u{FEFF}",
            "",
            &"x".repeat(101),
        ] {
            assert!(validate_title("name", bad).is_err(), "{bad:?}");
        }
    }
}
