#!/usr/bin/env bash
# Installs hilserl on a fresh Debian/Ubuntu machine: the system libraries for offscreen rendering
# (EGL + Mesa, so MuJoCo renders on the CPU), a virtual environment in .venv, torch pinned to the
# 2.13.0 CPU build, and the package itself (editable) with its test extras and Ray (the sweep's
# extra, which the tests run). Safe to run again.
#
#   bash scripts/setup.sh            # .venv
#   bash scripts/setup.sh --gym-hil  # also .venv-gym-hil: the same, plus LeRobot's gym-hil, whose
#                                    # controller needs mujoco<3.9 (the project's own envs use any 3.x)
#   bash scripts/setup.sh --lerobot  # also .venv-lerobot: hilserl and LeRobot 0.4.4 in one environment,
#                                    # resolved by pip as a user would (torch 2.10 from PyPI, a CUDA build
#                                    # of about 3 GB), and FFmpeg, whose libraries LeRobot's video decoder
#                                    # (torchcodec) loads. For scripts/lerobot_fixtures.py and
#                                    # benchmarks/lerobot_compat.py; nothing in the tests needs it.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libegl1 libgl1 libgl1-mesa-dri libegl-mesa0)
if [ "${1:-}" = "--lerobot" ]; then
    packages+=(ffmpeg)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} for offscreen rendering"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

python=${PYTHON:-python3}
make_venv() {  # make_venv DIR EXTRAS
    if [ ! -x "$1/bin/python" ]; then
        "$python" -m venv "$1"
    fi
    "$1/bin/python" -m pip install -q --upgrade pip
    # torch first and pinned: an unpinned torch pulls a CUDA build of several GB.
    "$1/bin/python" -m pip install -q torch==2.13.0
    "$1/bin/python" -m pip install -q -e ".[$2]"
}

make_venv .venv test,sweep
echo "setup: done. Run .venv/bin/hilserl --help"
if [ "${1:-}" = "--gym-hil" ]; then
    make_venv .venv-gym-hil test,gym-hil
    echo "setup: gym-hil done. Run .venv-gym-hil/bin/hilserl check-env hilserl/PandaPickCube-v0"
fi
if [ "${1:-}" = "--lerobot" ]; then
    [ -x .venv-lerobot/bin/python ] || "$python" -m venv .venv-lerobot
    .venv-lerobot/bin/python -m pip install -q --upgrade pip
    .venv-lerobot/bin/python -m pip install -q -e ".[test]" "lerobot==0.4.4"
    echo "setup: LeRobot done. Run MUJOCO_GL=egl .venv-lerobot/bin/python -m benchmarks.lerobot_compat"
fi
