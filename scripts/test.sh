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

# System packages the suites use: chromium (the instance browser), bubblewrap (instance
# sandboxing), git (checkpoint repositories), curl (the README walk-through).
step "system packages"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "chromium: $(chromium --version 2>/dev/null | head -1); bwrap: $(bwrap --version 2>/dev/null)"

# The AWS API emulator (moto server, pinned in tests/emulator/requirements.txt) for the
# AWS adapter contract suites; the tests start it themselves on a free port.
step "AWS emulator"
if [ ! -x .venv/bin/moto_server ] || ! .venv/bin/pip freeze 2>/dev/null | grep -qxF "$(grep -v '^#' tests/emulator/requirements.txt | sed 's/\[server\]//')"; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/emulator/requirements.txt
fi
echo "moto $(.venv/bin/pip show moto 2>/dev/null | sed -n 's/^Version: //p')"

# The AI SDK (pinned in tests/aisdk/package-lock.json) parses /api/chat streams in a test.
step "AI SDK for the stream-compatibility test"
command -v node >/dev/null 2>&1 || { echo "node is required (Node 20+)" >&2; exit 1; }
if [ ! -d tests/aisdk/node_modules/ai ]; then
  npm ci --prefix tests/aisdk --no-audit --no-fund --loglevel=error
fi
echo "node $(node --version), ai $(node -p "require('./tests/aisdk/node_modules/ai/package.json').version")"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The AWS end-to-end test runs the `api` and `worker` binaries: build every binary first
# (cargo test only builds the binaries of the package whose tests it runs).
step "cargo build (all binaries)"
cargo build --workspace --locked

step "cargo test (unit, contracts, end-to-end)"
cargo test --workspace --locked
