//! Tools that work inside a live instance — activity, files, commands, messages to its own
//! agent, and skills (`skills/<name>/SKILL.md`) — through the typed `InstanceClient`, with
//! the instance API's own request types as arguments.

use super::args::{Instance, NoArgs, On};
use super::{ok, output, Effect, ToolDef};
use crate::error::Error;
use crate::services::{skill_file, skill_name, Caller, Platform};
use async_trait::async_trait;
use operator_instance_api::{
    ActivityQuery, CronJobRequest, EntryKind, ExecRequest, FileNode, FilesQuery, MessageRequest,
};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// Activity lines the model is shown (the newest), to keep its context small.
const ACTIVITY_LINES: usize = 40;

pub struct Activity;
#[async_trait]
impl ToolDef for Activity {
    const NAME: &'static str = "instance_activity";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Recent session transcript lines of an instance's own agent.";
    type Args = On<Instance, ActivityQuery>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let client = p.instance_client(caller, &args.id).await?;
        let mut activity = client.activity(&args.body).await?.parse()?;
        let n = activity.lines.len();
        activity.lines.drain(..n.saturating_sub(ACTIVITY_LINES));
        output(activity)
    }
}

pub struct ReadFile;
#[async_trait]
impl ToolDef for ReadFile {
    const NAME: &'static str = "read_file";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Read a file or list a folder in an instance's workspace.";
    type Args = On<Instance, FilesQuery>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let client = p.instance_client(caller, &args.id).await?;
        output(client.read_files(&args.body).await?.parse()?)
    }
}

/// `write_file`'s arguments besides the instance.
#[derive(Deserialize, ToSchema)]
pub struct WriteFileArgs {
    /// Path relative to the workspace root.
    pub path: String,
    /// The file's content (text).
    pub content: String,
}

pub struct WriteFile;
#[async_trait]
impl ToolDef for WriteFile {
    const NAME: &'static str = "write_file";
    const DESCRIPTION: &'static str = "Write a file into an instance's workspace.";
    type Args = On<Instance, WriteFileArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let client = p.instance_client(caller, &args.id).await?;
        let q = FilesQuery::new(args.body.path);
        let written = client
            .write_file(&q, args.body.content.into_bytes().into())
            .await?;
        output(written.parse()?)
    }
}

pub struct RunCommand;
#[async_trait]
impl ToolDef for RunCommand {
    const NAME: &'static str = "run_command";
    const DESCRIPTION: &'static str = "Run a shell command in an instance's workspace.";
    type Args = On<Instance, ExecRequest>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let client = p.instance_client(caller, &args.id).await?;
        output(client.exec(&args.body).await?.parse()?)
    }
}

pub struct Message;
#[async_trait]
impl ToolDef for Message {
    const NAME: &'static str = "message_instance";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str =
        "Send a message to an instance's own agent and get its reply.";
    type Args = On<Instance, MessageRequest>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let client = p.instance_client(caller, &args.id).await?;
        output(client.message(&args.body).await?.parse()?)
    }
}

/// `write_skill`'s arguments besides the instance.
#[derive(Deserialize, ToSchema)]
pub struct SkillArgs {
    /// Skill name, `[a-z0-9-]`.
    pub name: String,
    /// One line: when to use it.
    pub description: String,
    /// The instructions (Markdown).
    pub body: String,
}

pub struct WriteSkill;
#[async_trait]
impl ToolDef for WriteSkill {
    const NAME: &'static str = "write_skill";
    const DESCRIPTION: &'static str =
        "Install or replace a skill (skills/<name>/SKILL.md, Agent Skills format) in an instance.";
    type Args = On<Instance, SkillArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let SkillArgs {
            name,
            description,
            body,
        } = args.body;
        let name = skill_name("name", &name)?;
        let content = skill_file(name, &description, &body);
        let path = format!("skills/{name}/SKILL.md");
        let client = p.instance_client(caller, &args.id).await?;
        client
            .write_file(&FilesQuery::new(path.clone()), content.into_bytes().into())
            .await?
            .parse()?;
        Ok(json!({"ok": true, "skill": name, "path": path}))
    }
}

pub struct ListSkills;
#[async_trait]
impl ToolDef for ListSkills {
    const NAME: &'static str = "list_skills";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List the skills installed in an instance.";
    type Args = On<Instance, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let client = p.instance_client(caller, &args.id).await?;
        let node = client
            .read_files(&FilesQuery::new("skills"))
            .await?
            .parse()?;
        let names: Vec<String> = match node {
            FileNode::Directory { entries, .. } => entries
                .into_iter()
                .filter(|e| e.kind == EntryKind::Directory)
                .map(|e| e.name)
                .collect(),
            FileNode::File { .. } => vec![],
        };
        Ok(json!({ "skills": names }))
    }
}

/// `remove_skill`'s arguments besides the instance.
#[derive(Deserialize, ToSchema)]
pub struct SkillName {
    /// Skill name.
    pub name: String,
}

pub struct RemoveSkill;
#[async_trait]
impl ToolDef for RemoveSkill {
    const NAME: &'static str = "remove_skill";
    const DESCRIPTION: &'static str = "Remove a skill from an instance.";
    type Args = On<Instance, SkillName>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let name = skill_name("name", &args.body.name)?;
        let client = p.instance_client(caller, &args.id).await?;
        client
            .delete_file(&FilesQuery::new(format!("skills/{name}")))
            .await?
            .parse()?;
        Ok(ok())
    }
}

pub struct ListCron;
#[async_trait]
impl ToolDef for ListCron {
    const NAME: &'static str = "list_instance_cron";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "List the jobs of an openclaw instance's own scheduler (they run inside the instance).";
    type Args = On<Instance, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let client = p.instance_client(caller, &args.id).await?;
        output(client.cron().await?.parse()?)
    }
}

pub struct AddCron;
#[async_trait]
impl ToolDef for AddCron {
    const NAME: &'static str = "add_instance_cron";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Schedule a prompt inside an openclaw instance, run by its own scheduler (keeps running with the instance's own context, channels and tools; no platform run history). For prompts the platform should fire and record (to you, to any instance kind), use create_automation instead; for prompts fired by an inbound HTTP call, create_webhook. Say which one you chose.";
    type Args = On<Instance, CronJobRequest>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        if let Some(why) = args.body.problem() {
            return Err(Error::invalid("job", why));
        }
        let client = p.instance_client(caller, &args.id).await?;
        output(client.add_cron(&args.body).await?.parse()?)
    }
}
