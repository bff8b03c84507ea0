#!/usr/bin/env bash
# Runs the test suite (scripts/test.sh) beside N CPU-bound processes (default 3), as on a shared or busy
# machine: the suite must pass there too. Usage: bash scripts/test_under_load.sh [N] [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
n=3
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    n=$1
    shift
fi
busy=()
stop_busy() { [ ${#busy[@]} -eq 0 ] || kill "${busy[@]}" 2>/dev/null || true; }
trap stop_busy EXIT
for _ in $(seq "$n"); do
    python3 -c "while True: pass" &
    busy+=($!)
done
echo "test_under_load: the suite beside $n CPU-bound processes (pids ${busy[*]:-none})"
bash scripts/test.sh "$@"
