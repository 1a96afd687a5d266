//! Soak suite: the platform under the faults a self-hosted server meets, round after round.
//!
//! - `kill9`: `kill -9` of the server at a random moment of mixed load (creates, webhook
//!   triggers, chat turns), `SOAK_ROUNDS` times on one data directory: nothing acknowledged
//!   is lost, nothing is done twice, the database stays sound.
//! - `faults`: a model provider that hangs, stalls, resets the connection, sends garbage or
//!   500s: the turn fails with a recorded error and the worker keeps serving.
//! - `disk`: the data directory on a small tmpfs that fills up: a clear 507, no crash, no
//!   corruption, and service again once space returns.
//!
//! The tests are `#[ignore]`d so the workspace's `cargo test` builds them but does not run
//! them; they run in their own step: `scripts/soak.sh` (20 rounds) and the short run of
//! `scripts/test.sh` (`cargo test -p operator-cli --test soak -- --ignored`).

#[path = "../support/mod.rs"]
mod support;

mod disk;
mod faults;
mod kill9;

/// Rounds of the kill -9 soak: `SOAK_ROUNDS`, default 2 (the short run).
pub fn rounds() -> usize {
    match std::env::var("SOAK_ROUNDS") {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("SOAK_ROUNDS={v:?}: expected a positive number")),
        Err(_) => 2,
    }
}
