//! Operator core: the domain, its ports, the services that implement every platform
//! operation, the HTTP router, and the job worker. No AWS and no SQLite types in here:
//! adapters live in `operator-local` and `operator-aws`.

pub mod agent;
pub mod domain;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod job;
pub mod jobs;
pub mod llm;
pub mod ports;
pub mod services;
pub mod views;

pub use error::{Error, Result};
pub use services::{Platform, PlatformConfig, PlatformParts};
