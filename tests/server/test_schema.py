"""schemathesis (PyPI) against the served OpenAPI description, with a key of each role, on SQLite and on
PostgreSQL: no answer is a 5xx, every answer fits the schema the description gives for its status. Bounded: a
fixed number of examples per operation and a fixed seed, so a run takes seconds and repeats itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = 8


@pytest.mark.parametrize("role", ["admin", "station", "terminal"])
def test_no_5xx_and_no_schema_violation_for_any_role(deployment, role: str, tmp_path: Path) -> None:
    exe = str(SCHEMATHESIS) if SCHEMATHESIS.exists() else shutil.which("schemathesis")
    assert exe, "schemathesis is missing: it is in the test extras (pip install -e '.[test]')"
    key = getattr(deployment, role)
    done = subprocess.run([exe, "run", f"{deployment.server.url}/openapi.json", "-H", f"Authorization: Bearer {key}",
                           "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
                           "--max-examples", str(EXAMPLES), "--seed", "13", "--no-color", "--request-timeout", "20",
                           "--report-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
                          env={**deployment.env, "SCHEMATHESIS_HOOKS": ""})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert tested and int(tested.group(1)) >= 34, done.stdout[-2000:]  # every operation was run (34 today)
