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
# The slowest tests are listed at the end: CI must stay well under its limit.
exec .venv/bin/python -m pytest -q --durations=25 "$@"
