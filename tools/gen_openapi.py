"""Writes the issuer server's OpenAPI description to docs/openapi.json (tests/server/test_service.py fails while
the file and the code differ): python tools/gen_openapi.py"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "openapi.json"


def render() -> str:
    from cardsmith_server.app import create_app
    from cardsmith_server.settings import ServerSettings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(ServerSettings(f"sqlite:///{tmp}/openapi.sqlite"))
        text = json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
        app.state.engine.dispose()
    return text


if __name__ == "__main__":
    OUT.write_text(render())
    sys.stdout.write(f"wrote {OUT.relative_to(ROOT)}\n")
