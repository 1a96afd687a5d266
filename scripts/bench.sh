#!/usr/bin/env bash
# Benchmarks of the embedded platform (release build). Prints one line per measurement:
#   instance_create_to_active: POST /api/instances -> status active, median of 20
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked -p operator-cli --bench platform
