#!/usr/bin/env bash
# Heartsong installer: makes .venv, installs torch first (the wheel that suits this machine), then the rest.
# Safe to run twice. `./install.sh --browser` also installs Chromium for the end-to-end browser tests;
# `./install.sh --ray` also installs the Ray extra (requirements-ray.txt: music on a Ray cluster).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
want_browser=0
want_ray=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --ray) want_ray=1 ;;
    -h|--help) echo "usage: ./install.sh [--browser] [--ray]"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
VPY=.venv/bin/python

# torch first, pinned, so that nothing later resolves an unpinned torch to a multi-GB build we did not ask for.
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  echo "==> installing torch==$TORCH_VERSION"
  "$VPY" -m pip install --disable-pip-version-check -q "torch==$TORCH_VERSION"
fi

echo "==> installing requirements"
"$VPY" -m pip install --disable-pip-version-check -q -r requirements.txt -r requirements-test.txt

if [ "$want_ray" = 1 ]; then
  # After the rest, with torch already there: the extra must not move torch (or anything else) to another version.
  echo "==> installing the Ray extra (requirements-ray.txt)"
  "$VPY" -m pip install --disable-pip-version-check -q -r requirements-ray.txt
fi

if [ "$want_browser" = 1 ] || [ "${CI:-}" = "true" ]; then
  # chromium for the browser tests, espeak-ng for a synthetic voice in the transcription test
  missing=""
  for tool in chromium espeak-ng; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    # Asked for them (or under CI): not getting them is a failure, never a warning, so that a test run can
    # never pass with the browser tests silently skipped.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing Debian$missing for the tests"
      # shellcheck disable=SC2086  # one package name per word
      if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null); then
        echo "install.sh: apt-get could not install$missing (needed by the browser and voice tests)" >&2
        exit 1
      fi
    else
      echo "install.sh:$missing missing and cannot be installed here (needs root and apt-get): install them" \
        "yourself (Debian: apt-get install$missing), or run ./install.sh without --browser" >&2
      exit 1
    fi
  fi
fi

"$VPY" - <<'PY'
import torch
cuda = "yes" if torch.cuda.is_available() else "no"
print(f"==> done: torch {torch.__version__} (CUDA available: {cuda})")
PY
