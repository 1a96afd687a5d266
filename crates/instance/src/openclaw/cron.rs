//! OpenClaw's scheduler in the platform's shapes: its jobs as [`api::CronJob`], and
//! `cron.add`'s parameters for a job the platform asks for.

use super::ms_to_rfc3339;
use operator_instance_api as api;
use serde_json::{json, Value};

/// A job of OpenClaw's scheduler as the platform shows it.
pub fn cron_job(j: &Value) -> api::CronJob {
    let state = &j["state"];
    let ms = |v: &Value| v.as_i64().map(ms_to_rfc3339);
    api::CronJob {
        id: j["id"].as_str().unwrap_or_default().to_owned(),
        name: j["name"].as_str().unwrap_or_default().to_owned(),
        enabled: j["enabled"].as_bool().unwrap_or(false),
        schedule: cron_schedule(&j["schedule"]),
        message: j["payload"]["message"].as_str().map(str::to_owned),
        built_in: j["declarationKey"].is_string(),
        next_run_at: ms(&state["nextRunAtMs"]).or_else(|| ms(&j["nextRunAtMs"])),
        last_run_at: ms(&state["lastRunAtMs"]),
        last_status: state["lastRunStatus"]
            .as_str()
            .or(state["lastStatus"].as_str())
            .map(str::to_owned),
    }
}

fn cron_schedule(s: &Value) -> api::CronSchedule {
    api::CronSchedule {
        cron: s["expr"].as_str().map(str::to_owned),
        tz: s["tz"].as_str().map(str::to_owned),
        every_seconds: s["everyMs"].as_u64().map(|ms| ms / 1000),
        at: s["at"].as_str().map(str::to_owned),
    }
}

/// `cron.add`'s parameters for a job the platform asked for: an isolated agent turn that
/// announces nothing (its transcript is the record).
pub fn cron_add_params(req: &api::CronJobRequest) -> Value {
    let schedule = match &req.schedule {
        api::ScheduleRequest::Cron(c) => {
            let mut v = json!({"kind": "cron", "expr": c.cron});
            if let Some(tz) = &c.tz {
                v["tz"] = json!(tz);
            }
            v
        }
        api::ScheduleRequest::Interval(i) => {
            json!({"kind": "every", "everyMs": i.every_seconds.saturating_mul(1000)})
        }
        api::ScheduleRequest::Once(o) => json!({"kind": "at", "at": o.at}),
    };
    json!({
        "name": req.name,
        "schedule": schedule,
        "sessionTarget": "isolated",
        "wakeMode": "now",
        "payload": {"kind": "agentTurn", "message": req.message},
        "delivery": {"mode": "none"},
        "deleteAfterRun": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_shown_with_its_schedule_and_last_run() {
        let j = json!({"id": "j1", "name": "aqi", "enabled": true,
            "schedule": {"kind": "cron", "expr": "0 8 * * *", "tz": "UTC"},
            "payload": {"kind": "agentTurn", "message": "check"},
            "state": {"nextRunAtMs": 0, "lastRunAtMs": 1000, "lastRunStatus": "ok"}});
        let job = cron_job(&j);
        assert_eq!(job.schedule.cron.as_deref(), Some("0 8 * * *"));
        assert_eq!(job.last_status.as_deref(), Some("ok"));
        assert_eq!(job.last_run_at.as_deref(), Some("1970-01-01T00:00:01.000Z"));
        assert!(!job.built_in);
    }
}
