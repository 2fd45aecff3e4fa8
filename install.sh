#!/usr/bin/env bash
# Heartsong installer: makes .venv, installs torch first (the wheel that suits this machine), then the rest.
# Safe to run twice. `./install.sh --browser` also installs Chromium for the end-to-end browser tests.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    -h|--help) echo "usage: ./install.sh [--browser]"; exit 0 ;;
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

if [ "$want_browser" = 1 ] || [ "${CI:-}" = "true" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing Debian chromium for the browser tests"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: chromium could not be installed; browser tests will be skipped" >&2
    else
      echo "warning: chromium is missing and cannot be installed here (needs root and apt-get); browser tests will be skipped" >&2
    fi
  fi
fi

"$VPY" - <<'PY'
import torch
cuda = "yes" if torch.cuda.is_available() else "no"
print(f"==> done: torch {torch.__version__} (CUDA available: {cuda})")
PY
