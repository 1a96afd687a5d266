//! In-process router suite: `router(platform).oneshot(request)` on the embedded platform
//! (SQLite in a temporary directory, the local vault, queues and runtime), no socket and no
//! child process. Each route group is checked against API.md: success status and body
//! shape, validation errors (`invalid_request` with `details`), authentication (401 with the
//! error body), other accounts' ids (404, never 403) and cursor errors.
//!
//! No worker runs here, so an instance stays `provisioning` (which is what the relay
//! routes' "must be active" answer needs) and queued agent work runs only where a test
//! hands the job to the agent's handler itself (a chat turn against the scripted fake
//! model).

#[path = "../support/fake_llm.rs"]
mod fake_llm;
mod harness;
#[path = "../support/sse.rs"]
mod sse;

mod automations;
mod billing;
mod chat;
mod cli;
mod completions;
mod console;
mod cors;
mod experiments;
mod gateway;
mod health;
mod instances;
mod keys;
mod mcp;
mod reference;
mod secrets;
mod webhooks;
