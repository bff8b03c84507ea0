#!/usr/bin/env bash
# Runs the test suite, installing first if needed (.venv with Ray, and .venv-gym-hil for the gym-hil tests,
# which tests/test_panda_pick.py runs there). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import hilserl, torch, mujoco, ray" >/dev/null 2>&1; then
    bash scripts/setup.sh
fi
if ! .venv-gym-hil/bin/python -c "import hilserl, gym_hil" >/dev/null 2>&1; then
    bash scripts/setup.sh --gym-hil
fi
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/python -m pytest -q "$@"
