//! End-to-end suite: the real `operator` binary on port 0 with a fresh data directory,
//! exercised over real HTTP route by route (API.md shapes, errors, isolation, durability).

#[path = "../support/mod.rs"]
mod support;

mod automations;
mod aws;
mod aws_workspaces;
mod basics;
mod browser;
mod browser_suite;
mod chat;
mod cli;
mod clients;
mod console;
mod console_experiments;
mod docs_ui;
mod durability;
mod experiments;
mod hardening;
mod idempotency;
mod instances;
mod isolation;
mod limits;
mod live;
mod mcp;
mod openclaw;
mod rate_limits;
mod readme;
mod sandbox;
mod secrets;
mod webhooks;
