#!/usr/bin/env bash
# Benchmarks of the embedded platform (release build), in one run, ending in one table that is
# also written to target/bench/results.json (benches/platform.rs and benches/load.rs):
#   idle RSS; instance create -> active; chat turn overhead with an instant model;
#   REST reads (GET /api/instances, 64 connections) as a share of a bare axum server serving
#   the same body (benches/hello.rs, the ceiling); creates/s (POST /api/secrets) and webhook
#   intake/s at 32 connections; chat turns/s with 64 chats at once; 64 chats at once against a
#   model that takes 1 s; RSS after the load; the Lambda artifact's size and cold init.
# BENCH_LOAD_SECS (default 10) sets each load run's length. Needs wrk (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "installing wrk (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi
# The Lambda artifact is built with the size-optimised `lambda` profile (LTO; a few minutes).
cargo build --profile lambda --locked -p operator-api-function
cargo build --release --locked -p operator-cli --example hello
OPERATOR_HELLO_BIN="$PWD/target/release/examples/hello" \
OPERATOR_LAMBDA_BIN="$PWD/target/lambda/api" cargo bench --locked -p operator-cli --bench platform
