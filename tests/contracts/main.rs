//! Port contract suites. Each suite is written against the trait (`Arc<dyn JobQueue>`,
//! `Arc<dyn Store>`, `Arc<dyn Vault>`) and run here against the embedded adapters; the AWS
//! adapters run the very same functions against the emulator.

#[path = "../support/mod.rs"]
#[allow(unused)]
mod support;
use support::emulator;

mod aws;
mod backends;
mod concurrency;
mod queue;
mod runtime;
mod scheduler;
mod store;
mod vault;
mod worker;
