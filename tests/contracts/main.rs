//! Port contract suites. Each suite is written against the trait (`Arc<dyn JobQueue>`,
//! `Arc<dyn Store>`, `Arc<dyn Vault>`, ...) and lists its contracts once, in a
//! `contracts!` invocation (`backends.rs`) that runs every one of them on the embedded
//! adapters and on the AWS adapters against the emulator. What only one backend has lives
//! beside it under a "SQLite only" heading, or in `aws.rs`.

#[path = "../support/mod.rs"]
#[allow(unused)]
mod support;
use support::emulator;

// First: the `contracts!` macro the suites use.
#[macro_use]
mod backends;

mod aws;
mod concurrency;
mod experiments;
mod lifecycle;
mod queue;
mod runtime;
mod scheduler;
mod store;
mod vault;
mod worker;
