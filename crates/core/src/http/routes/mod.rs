//! Route handlers: parse, call one service method, wrap the result as API.md shows.

pub mod automations;
pub mod billing;
pub mod chat;
pub mod cli;
pub mod completions;
pub mod experiments;
pub mod gateway;
pub mod health;
pub mod instances;
pub mod keys;
pub mod mcp;
pub mod secrets;
pub mod turns;
pub mod webhooks;
