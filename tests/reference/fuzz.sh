#!/usr/bin/env bash
# Fuzzes the embedded server against its own OpenAPI document with schemathesis (pinned in
# tests/reference/requirements.txt, installed into .venv-reference/ by scripts/test.sh).
# Every check is on: no 5xx, every status and body as documented, schema-valid requests
# accepted and schema-violating ones rejected. Exclusions and fixed parameters, each with its
# reason, are in tests/reference/schemathesis.toml. The seed is fixed so a run is reproducible;
# OPERATOR_FUZZ_SEED and OPERATOR_FUZZ_EXAMPLES change it and the volume.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${OPERATOR_BIN:-target/debug/operator}
[ -x "$bin" ] || { echo "build the server first: cargo build -p operator-cli" >&2; exit 1; }
[ -x .venv-reference/bin/schemathesis ] || { echo "schemathesis is not installed: scripts/test.sh installs it into .venv-reference/" >&2; exit 1; }

dir=$(mktemp -d)
key="ck_live_$(head -c 1024 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 40)"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
# No OpenClaw for the fuzzed server (an empty directory): `openclaw` instances are then a 503,
# and no fuzzed request starts a 1.2 GB gateway.
mkdir -p "$dir/no-openclaw"
env -u OPERATOR_MASTER_KEY -u OPERATOR_PUBLIC_URL -u OPERATOR_LLM OPERATOR_BOOTSTRAP_KEY="$key" RUST_LOG=warn \
  OPERATOR_OPENCLAW_DIR="$dir/no-openclaw" \
  "$bin" serve --addr 127.0.0.1:0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/log" &
pid=$!
for _ in $(seq 1 100); do
  url=$(sed -n 's/^Listening on \([^ ]*\).*/\1/p' "$dir/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "the server did not start:" >&2; cat "$dir/log" >&2; exit 1; }

# Fixtures the fuzzer cannot create itself: an active instance (the relay routes need one),
# a secret and a webhook (their ids and token are bound in the config), through the API.
api() { curl -sS --fail-with-body -H "Authorization: Bearer $key" -H 'content-type: application/json' "$@"; }
inst=$(api "$url/api/instances" -d '{"name":"fuzz-target","kind":"blank"}' | sed -n 's/.*"id":"\(inst_[a-z0-9]*\)".*/\1/p')
export OPERATOR_FUZZ_INSTANCE=$inst
for _ in $(seq 1 200); do
  api "$url/api/instances/$inst" | grep -q '"status":"active"' && break
  sleep 0.1
done

export OPERATOR_FUZZ_KEY=$key
cd tests/reference
export PYTHONPATH=. SCHEMATHESIS_HOOKS=hooks
../../.venv-reference/bin/schemathesis run "$url/api/openapi.json" \
  --url "$url" \
  --seed "${OPERATOR_FUZZ_SEED:-20261130}" \
  --max-examples "${OPERATOR_FUZZ_EXAMPLES:-25}" \
  --workers 1 \
  --no-color
