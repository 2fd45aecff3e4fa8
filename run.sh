#!/usr/bin/env bash
# ./run.sh            start the Heartsong web app (http://127.0.0.1:7860)
# ./run.sh test [...] run the whole test suite (extra arguments go to pytest)
# ./run.sh ARGS...    anything else goes to `python -m app ARGS...`
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  echo "run.sh: no .venv here; run ./install.sh first" >&2
  exit 2
fi
VPY=.venv/bin/python
if [ "${1:-}" = "test" ]; then
  shift
  exec "$VPY" -m pytest "$@"
fi
exec "$VPY" -m app "$@"
