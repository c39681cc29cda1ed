"""The layout's rules, checked: the CLI holds no protocol or workflow logic, the session layer does not
import the simulator, and exit codes belong to the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

HOST = Path(__file__).resolve().parents[2] / "host" / "cardsmith"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(("." * node.level) + node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_cli_sends_no_command_itself() -> None:
    """A CLI command parses options, calls one library function and formats the result: no card.call, no
    protocol names (the raw `apdu` command sends bytes the user typed, through Card.transmit_raw)."""
    offenders = []
    for path in sorted((HOST / "cli").glob("*.py")):
        text = path.read_text()
        for needle in (".call(", "Ins.", "protocol.codes import Ins"):
            if needle in text:
                offenders.append(f"{path.name}: {needle}")
    assert not offenders


def test_the_session_layer_does_not_import_the_simulator_or_the_cli() -> None:
    for path in sorted((HOST / "core").glob("*.py")):
        imports = _imports(path)
        assert not any("simulator" in i or "readers" in i or i.startswith("..cli") for i in imports), path.name


def test_the_library_defines_no_exit_codes() -> None:
    for path in sorted(HOST.rglob("*.py")):
        if "cli" in path.relative_to(HOST).parts:
            continue
        assert "exit_code" not in path.read_text(), path
