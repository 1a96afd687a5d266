#!/usr/bin/env bash
# Benchmarks of the embedded platform (release build). Prints one line per measurement:
#   instance_create_to_active: POST /api/instances -> status active, median of 20
#   chat_turn_overhead: POST /api/chat with an instant fake LLM -> first SSE byte and
#                       data: [DONE], median of 50
#   lambda_api: stripped size of the API Lambda binary and its init time through a Lambda
#               Runtime API emulator, median of 10
set -euo pipefail
cd "$(dirname "$0")/.."
# The Lambda artifact is built with the size-optimised `lambda` profile (LTO; a few minutes).
cargo build --profile lambda --locked -p operator-api-function
OPERATOR_LAMBDA_BIN="$PWD/target/lambda/api" cargo bench --locked -p operator-cli --bench platform
