#!/usr/bin/env bash
# One set-up step for a fresh machine: Debian packages, Java jars, applet build, Python virtualenv.
# Idempotent: a second run finds everything in place and does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ant ecj pcscd vsmartcard-vpcd swig libpcsclite-dev opensc pcsc-tools maven openjdk-17-jdk-headless
  postgresql chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages. Install them, then run this again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# Java side: pinned jars into lib/ (only when missing), then the applet + simulator bridge (only what changed).
ant -q -noinput compile >/dev/null

# Python side: a virtualenv with the package and its test extras, reinstalled when pyproject.toml changes.
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
stamp=.venv/.cardsmith-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "setup: installing the cardsmith package into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
