#!/usr/bin/env bash
# The project's two entry points. Each creates ./.venv when it is missing or stale
# and installs the pinned versions of requirements.txt into it.
#   ./run.sh demo [options]   the main job on the embedded synthetic default data
#   ./run.sh test [pytest options]   the whole test suite, offline
set -euo pipefail
cd "$(dirname "$0")"
venv="${GLACIER_FACIES_VENV:-.venv}"
stamp="$venv/.glacier-facies-installed"
want="$(cat requirements.txt setup.cfg | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Setting up $venv (pinned versions from requirements.txt) ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >&2
    "$venv/bin/python" -m pip install -q -r requirements.txt >&2
    "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e . >&2
    echo "$want" > "$stamp"
fi
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    demo) exec "$venv/bin/python" scripts/demo.py "$@" ;;
    test) HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 exec "$venv/bin/python" -m pytest "$@" ;;
    python) exec "$venv/bin/python" "$@" ;;
    *) echo "usage: ./run.sh {demo|test|python} [args...]" >&2; exit 2 ;;
esac
