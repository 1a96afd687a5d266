//! Automations and their runs on the wire: the REST bodies (also the Operator agent's tool
//! arguments) and views.

use crate::domain::*;
use crate::services::{CreateAutomation, UpdateAutomation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAutomationBody {
    #[schema(example = "morning-brief", max_length = 100)]
    pub name: String,
    /// What the Operator agent is asked each time.
    #[schema(
        example = "Summarise what every instance did overnight.",
        max_length = 20000
    )]
    pub prompt: String,
    /// 5-field cron (minute hour day-of-month month day-of-week).
    #[schema(example = "0 9 * * 1-5", format = "cron")]
    pub cron_expression: String,
    /// IANA name, default `UTC`.
    #[schema(example = "America/New_York", format = "iana-time-zone")]
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAutomationBody {
    #[schema(max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 20000)]
    pub prompt: Option<String>,
    #[schema(example = "0 9 * * 1-5", format = "cron")]
    pub cron_expression: Option<String>,
    #[schema(example = "America/New_York", format = "iana-time-zone")]
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

impl From<CreateAutomationBody> for CreateAutomation {
    fn from(b: CreateAutomationBody) -> Self {
        CreateAutomation {
            name: b.name,
            prompt: b.prompt,
            cron_expression: b.cron_expression,
            timezone: b.timezone,
            enabled: b.enabled,
        }
    }
}

impl From<UpdateAutomationBody> for UpdateAutomation {
    fn from(b: UpdateAutomationBody) -> Self {
        UpdateAutomation {
            name: b.name,
            prompt: b.prompt,
            cron_expression: b.cron_expression,
            timezone: b.timezone,
            enabled: b.enabled,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomationView {
    pub id: String,
    pub name: String,
    pub prompt: String,
    pub cron_expression: String,
    pub timezone: String,
    pub enabled: bool,
    #[serde(serialize_with = "super::ts::ser_opt")]
    pub next_run_at: Option<DateTime<Utc>>,
    pub chat_id: String,
    #[serde(serialize_with = "super::ts::ser")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::ts::ser")]
    pub updated_at: DateTime<Utc>,
}

impl From<Automation> for AutomationView {
    fn from(a: Automation) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name,
            prompt: a.prompt,
            cron_expression: a.cron.as_str().to_owned(),
            timezone: a.timezone.as_str().to_owned(),
            enabled: a.enabled,
            next_run_at: a.next_run_at,
            chat_id: a.chat_id.to_string(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AutomationEnvelope {
    pub automation: AutomationView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomationList {
    pub automations: Vec<AutomationView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: String,
    pub automation_id: String,
    pub status: RunStatus,
    /// `schedule` or `manual`.
    pub trigger: String,
    #[serde(serialize_with = "super::ts::ser")]
    pub scheduled_for: DateTime<Utc>,
    #[serde(serialize_with = "super::ts::ser_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::ts::ser_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    pub chat_id: Option<String>,
    pub error: Option<String>,
    #[serde(serialize_with = "super::ts::ser")]
    pub created_at: DateTime<Utc>,
}

impl From<AutomationRun> for RunView {
    fn from(r: AutomationRun) -> Self {
        Self {
            id: r.id.to_string(),
            automation_id: r.automation_id.to_string(),
            status: r.status,
            trigger: r.trigger.as_str().to_owned(),
            scheduled_for: r.scheduled_for,
            started_at: r.started_at,
            finished_at: r.finished_at,
            chat_id: r.chat_id.map(|c| c.to_string()),
            error: r.error,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RunEnvelope {
    pub run: RunView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunList {
    pub runs: Vec<RunView>,
    pub next_cursor: Option<String>,
}

/// `GET /api/automations/next-runs`: a schedule to preview.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NextRunsQuery {
    /// 5-field cron.
    #[param(example = "0 9 * * 1-5", format = "cron")]
    pub cron_expression: String,
    /// IANA name, default `UTC`.
    #[param(example = "America/New_York", format = "iana-time-zone")]
    pub timezone: Option<String>,
    /// How many fire times, default 5.
    #[param(minimum = 1, maximum = 20)]
    pub count: Option<usize>,
}

/// The next fire times of a schedule, soonest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NextRuns {
    pub cron_expression: String,
    pub timezone: String,
    /// UTC instants; render them in `timezone` for the wall-clock times.
    #[serde(serialize_with = "super::ts::ser_vec")]
    pub next_runs: Vec<DateTime<Utc>>,
}
