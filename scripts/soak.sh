#!/usr/bin/env bash
# The soak suite (tests/soak) at full length: kill -9 of the server at a random moment of
# mixed load (creates, webhook triggers, chat turns) for SOAK_ROUNDS rounds (20 unless set)
# on one data directory, each round checked for lost or duplicated effects and a sound
# database; a model provider that hangs, stalls, resets the connection, sends garbage or
# answers 500s; a full disk (a small tmpfs: run as root, or with unprivileged user
# namespaces). Prints each round's counts. scripts/test.sh runs the same suite with 2 rounds.
#
#   scripts/soak.sh                    # 20 rounds
#   SOAK_ROUNDS=50 scripts/soak.sh     # longer
#   SOAK_KEEP_DATA=1 scripts/soak.sh   # keep the kill -9 data directory (and its server.log)
#   scripts/soak.sh kill9              # one part only (a test name filter)
set -euo pipefail
cd "$(dirname "$0")/.."

export SOAK_ROUNDS="${SOAK_ROUNDS:-20}"
start=$(date +%s)
# One test at a time, so each round's line is printed as it ends, unmixed.
cargo test -p operator-cli --test soak --locked -- --ignored --nocapture --test-threads=1 "$@"
echo "soak: passed (${SOAK_ROUNDS} kill -9 rounds) in $(( $(date +%s) - start )) s"
