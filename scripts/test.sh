#!/usr/bin/env bash
# The whole test suite: lint, then pytest on every transport (embedded simulator and PC/SC via vpcd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check host tests tools scripts bench
# As root (CI), PC/SC must work: the session starts pcscd itself. Elsewhere PC/SC tests skip without it.
if [[ $(id -u) -eq 0 && -z ${CARDSMITH_REQUIRE_PCSC:-} ]]; then
  export CARDSMITH_REQUIRE_PCSC=1
fi
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
