#!/usr/bin/env bash
# Installs the Python SDK and its pinned test dependencies into sdks/python/.venv (created if
# missing) and runs its suite against the embedded server (target/debug/operator, or
# $OPERATOR_BIN; built with `cargo build -p operator-cli` when missing). Extra arguments go to
# pytest. Usage, from anywhere: bash sdks/python/run-tests.sh [-k chat]
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
# the SDK as a user gets it (pip install ./sdks/python), rebuilt from the current source
.venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .
.venv/bin/pip check --disable-pip-version-check >/dev/null
echo "python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])'), operator-sdk $(.venv/bin/python -c 'import operator_sdk; print(operator_sdk.__version__)')"
exec .venv/bin/python -m pytest -q -rs tests "$@"
