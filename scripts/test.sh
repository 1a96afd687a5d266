#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings as errors, and all tests
# (unit, port contracts, end-to-end against the real binary). Installs nothing beyond the
# Rust toolchain's own components; later suites that need more (the AWS emulator) install
# it here, into .venv/.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, contracts, end-to-end)"
cargo test --workspace --locked
