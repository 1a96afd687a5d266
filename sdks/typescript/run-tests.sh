#!/usr/bin/env bash
# The TypeScript SDK's suite, runnable from anywhere: installs the pinned dev dependencies
# (package-lock.json), builds dist/ with tsc, type-checks test/types.ts against it, and runs
# node's test runner on the built SDK against the embedded server (target/debug/operator:
# `cargo build -p operator-cli` first) and a scripted fake OpenAI-compatible model.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null 2>&1 || { echo "node is required (Node 20+)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npm test   # runs `npm run build` first (pretest): the tests always see a fresh dist/
