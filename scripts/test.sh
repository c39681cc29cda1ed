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
# Likewise PostgreSQL (Debian's, started by tests/server/conftest.py as the postgres user) must work as root.
if [[ $(id -u) -eq 0 && -z ${CARDSMITH_REQUIRE_POSTGRES:-} ]]; then
  export CARDSMITH_REQUIRE_POSTGRES=1
fi
# A test that fails on a PC/SC transport error (vpcd/pcscd losing a virtual card: docs/transports.md) is run
# again, at most twice, with a fresh card; assertion failures and every other error are never re-run.
exec .venv/bin/pytest -q -p no:cacheprovider --reruns 2 --reruns-delay 2 \
  --only-rerun "CardRemovedError" --only-rerun "NoCardError" --only-rerun "Card was reset" "$@"
