#!/usr/bin/env bash
# Runs the test suite, installing first if needed. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import hilserl, torch, mujoco" >/dev/null 2>&1; then
    bash scripts/setup.sh
fi
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/python -m pytest -q "$@"
