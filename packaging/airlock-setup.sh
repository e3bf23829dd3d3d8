#!/usr/bin/env bash
# Sets up Airlock from this checkout on Debian 12 (Python 3.11) and then starts it or runs the tests.
#   bash packaging/airlock-setup.sh start   # tray app where there is a display, headless daemon otherwise
#   bash packaging/airlock-setup.sh test    # the whole test suite, under a throwaway desktop (../shared/desktop-env.sh)
# Everything it needs it installs itself: Debian packages (when root or sudo is available), a venv in .venv, pip deps.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
log() { echo "airlock-setup: $*" >&2; }

# Debian packages: venv support, a C compiler (the learned detector's scoring kernel, setup.py),
# the sandbox (bubblewrap + seccomp bindings), Qt's xcb runtime libraries.
APT_PKGS="python3-venv python3-pip gcc libc6-dev bubblewrap python3-seccomp
  libegl1 libgl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libx11-xcb1 libxkbcommon-x11-0 libxcb-cursor0
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0
  libxcb-xfixes0 libxcb-xkb1"

apt_install() {
  local missing="" p
  for p in $APT_PKGS; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  local SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      log "missing Debian packages:$missing (not root and no sudo: install them yourself)"; return 0; fi
  fi
  log "apt-get install:$missing"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
}

setup() {
  command -v dpkg-query >/dev/null && apt_install
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.airlock-installed" want
  want=$(cat pyproject.toml setup.py core/airlock/injection/_kernel.c | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want-$1" ]; then
    log "installing Python packages ($1)"
    "$PY" -m pip install -q --upgrade pip >&2
    "$PY" -m pip install -q -e ".[$1]" >&2
    echo "$want-$1" >"$stamp"
  fi
}

case "${1:-}" in
  start)
    setup desktop
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      exec "$VENV/bin/airlock" tray
    else
      log "no display: starting the headless daemon (airlock serve)"
      exec "$VENV/bin/airlock" serve
    fi
    ;;
  test)
    setup "desktop,test,train"   # train: the training script is tested too
    SHARED="$ROOT/../shared"
    started_desktop=0
    if [ -x "$SHARED/desktop-env.sh" ] || [ -f "$SHARED/desktop-env.sh" ]; then
      if [ -z "${DISPLAY:-}" ]; then
        eval "$(bash "$SHARED/desktop-env.sh" start)"
        started_desktop=1
        trap 'bash "$SHARED/desktop-env.sh" stop >/dev/null 2>&1 || true' EXIT
      fi
    else
      log "../shared/desktop-env.sh not found: real-desktop tests will skip"
    fi
    shift
    set +e
    "$PY" -m pytest -p no:cacheprovider "$@"
    rc=$?
    set -e
    # pytest exit 5 = no tests collected: that is a failure for CI, not a pass.
    exit $rc
    ;;
  *)
    echo "usage: bash packaging/airlock-setup.sh start|test [pytest args]" >&2
    exit 2
    ;;
esac
