#!/usr/bin/env bash
# Installs hilserl on a fresh Debian/Ubuntu machine: the system libraries for offscreen rendering
# (EGL + Mesa, so MuJoCo renders on the CPU), a virtual environment in .venv, torch pinned to the
# 2.13.0 CPU build, and the package itself (editable) with its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libegl1 libgl1 libgl1-mesa-dri libegl-mesa0)
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
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: an unpinned torch pulls a CUDA build of several GB.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[test]"
echo "setup: done. Run .venv/bin/hilserl --help"
