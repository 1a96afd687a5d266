//! The Operator agent's tools: one per platform operation, each executed through the same
//! service method REST uses (same validation, capacity and tenant checks). Secret values go
//! in through `create_secret`/`update_secret` but never come back out.
//!
//! **One definition per tool.** Each tool is a unit struct implementing [`ToolDef`]: its
//! name, description, typed arguments, the input fields that carry secrets, and its
//! execution, side by side. Everything else comes from that definition through the
//! object-safe [`Tool`] (implemented for every `ToolDef`): the catalogue entry, the JSON
//! schema (derived from the argument type, which is the very request type REST deserialises,
//! see [`crate::views`]; a tool only adds the path part, e.g. `instance`, with [`On`]),
//! argument validation (errors name the field), and redaction. [`ALL`] lists each tool once.
//!
//! Why a trait object per tool rather than one enum: an enum needs its names, schemas and
//! execution written as separate `match`es over every variant (the 300-line `match` this
//! replaced); a trait keeps each tool's parts in one place and the registry is a plain list
//! of values. [`Tool`] is exactly what an MCP server lists and calls (`name`, `description`,
//! `inputSchema`, `tools/call`), so the same definitions can be served as MCP tools as they
//! are.

mod args;
mod automations;
mod experiments;
mod instances;
mod secrets;
mod webhooks;
pub(crate) mod workspace;

pub use args::{Args, NoArgs, On, PathParam};

use crate::error::Error;
use crate::llm::{ToolSpec, Tools};
use crate::services::{Caller, Platform};
use crate::views::ErrorReply;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

/// Replaced for secret values in stored events and in the model's view of past calls.
pub const REDACTED: &str = "[redacted]";

/// What a tool does to the account: MCP clients show it (`readOnlyHint`, `destructiveHint`)
/// and may ask the user before a call that changes or removes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Only reads.
    Reads,
    /// Only adds (creates, grants, starts, sends): nothing existing is changed or removed.
    Adds,
    /// May change or remove what exists (updates, deletes, overwrites, commands).
    Changes,
}

/// A tool defined by its typed arguments; see the module doc.
#[async_trait]
pub trait ToolDef: Send + Sync + 'static {
    /// The name the model calls it by (`[a-z_]`, unique).
    const NAME: &'static str;
    /// When to use it, for the model.
    const DESCRIPTION: &'static str;
    /// Top-level input fields whose values are secrets: replaced by [`REDACTED`] wherever
    /// the input is stored or shown again.
    const SECRET_FIELDS: &'static [&'static str] = &[];
    /// What running it does to the account; by default it may change or remove things.
    const EFFECT: Effect = Effect::Changes;
    type Args: Args + Send;

    /// Runs the tool for `caller` with validated arguments.
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error>;
}

/// A tool as the agent loop (and an MCP server) uses it: object-safe, implemented for every
/// [`ToolDef`].
#[async_trait]
pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// JSON Schema of the input: an object schema, self-contained (no `$ref`).
    fn input_schema(&self) -> Value;
    /// Input fields whose values are secrets (declared by the tool).
    fn secret_fields(&self) -> &'static [&'static str];
    /// What running it does to the account.
    fn effect(&self) -> Effect;
    /// The input as it may be stored and shown to the model: secret values replaced.
    fn redact(&self, input: &Value) -> Value;
    /// True when a secret field holds [`REDACTED`]: a call replayed from the log after a
    /// restart, whose secret was (rightly) not kept.
    fn lost_a_secret(&self, input: &Value) -> bool;
    /// Checks `input` against the arguments without running anything; an error names the
    /// field at fault.
    fn validate(&self, input: Value) -> Result<(), Error>;
    /// Validates `input` (an error names the field) and runs the tool.
    async fn call(&self, p: &Platform, caller: &Caller, input: Value) -> Result<Value, Error>;
}

#[async_trait]
impl<T: ToolDef> Tool for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        T::Args::schema()
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        T::SECRET_FIELDS
    }

    fn effect(&self) -> Effect {
        T::EFFECT
    }

    fn redact(&self, input: &Value) -> Value {
        let mut v = input.clone();
        if let Some(obj) = v.as_object_mut() {
            for field in T::SECRET_FIELDS {
                if let Some(value) = obj.get_mut(*field) {
                    *value = json!(REDACTED);
                }
            }
        }
        v
    }

    fn lost_a_secret(&self, input: &Value) -> bool {
        T::SECRET_FIELDS
            .iter()
            .any(|f| input.get(*f).and_then(Value::as_str) == Some(REDACTED))
    }

    fn validate(&self, input: Value) -> Result<(), Error> {
        T::Args::parse(input).map(drop)
    }

    async fn call(&self, p: &Platform, caller: &Caller, input: Value) -> Result<Value, Error> {
        let args = T::Args::parse(input)?;
        T::run(p, caller, args).await
    }
}

/// Every tool, once.
pub static ALL: &[&dyn Tool] = &[
    &instances::Create,
    &instances::List,
    &instances::Get,
    &instances::Update,
    &instances::Restart,
    &instances::Clone,
    &instances::Delete,
    &workspace::Activity,
    &workspace::ReadFile,
    &workspace::WriteFile,
    &workspace::RunCommand,
    &workspace::Message,
    &workspace::WriteSkill,
    &workspace::ListSkills,
    &workspace::RemoveSkill,
    &workspace::ListCron,
    &workspace::AddCron,
    &secrets::Create,
    &secrets::List,
    &secrets::Update,
    &secrets::Grant,
    &secrets::Revoke,
    &secrets::Delete,
    &automations::Create,
    &automations::List,
    &automations::Update,
    &automations::Delete,
    &automations::Run,
    &webhooks::Create,
    &webhooks::List,
    &webhooks::Update,
    &webhooks::Delete,
    &instances::Billing,
    &instances::SearchCheckpoints,
    &experiments::CreateVariants,
    &experiments::Run,
    &experiments::Get,
    &experiments::List,
    &experiments::Cancel,
    &experiments::Delete,
    &experiments::Evolve,
];

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static dyn Tool> {
    ALL.iter().copied().find(|t| t.name() == name)
}

/// What the model is offered: built on first use (deriving every schema), then shared.
pub fn catalogue() -> Arc<Tools> {
    static CATALOGUE: OnceLock<Arc<Tools>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| {
            Tools::new(
                ALL.iter()
                    .map(|t| ToolSpec {
                        name: t.name().to_owned(),
                        description: t.description().to_owned(),
                        schema: t.input_schema(),
                    })
                    .collect(),
            )
        })
        .clone()
}

/// The input as it may be stored and shown to the model: secret values replaced (an
/// unknown tool's input is kept as it is: it never ran).
pub fn redact(tool: &str, input: &Value) -> Value {
    find(tool).map_or_else(|| input.clone(), |t| t.redact(input))
}

/// Executes one tool call for `caller`.
pub async fn execute(
    p: &Platform,
    caller: &Caller,
    name: &str,
    input: &Value,
) -> Result<Value, Error> {
    let tool = find(name).ok_or_else(|| Error::invalid("tool", format!("unknown tool {name}")))?;
    tool.call(p, caller, input.clone()).await
}

/// A tool failure, given back to the model as the tool's result (API.md's error shape).
pub fn error_output(e: Error) -> Value {
    let r = ErrorReply::from(e);
    json!({"error": {"code": r.code, "message": r.message, "details": r.details}})
}

/// A view as a tool's output.
fn output(v: impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Unexpected(e.into()))
}

/// `{"ok": true}`: the answer of tools that return nothing else.
fn ok() -> Value {
    json!({"ok": true})
}

#[cfg(test)]
mod tests;
