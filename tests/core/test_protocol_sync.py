"""protocol.toml is the one source of truth: the applet's Proto.java, the host's protocol/codes.py and
docs/protocol.md follow it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cardsmith.protocol import PROTOCOL

ROOT = Path(__file__).resolve().parents[2]
#: INS values ISO/IEC 7816-4 (2013, table 4) gives interindustry commands; a proprietary command avoids them
ISO_INTERINDUSTRY = {0x04, 0x06, 0x0C, 0x0E, 0x10, 0x12, 0x14, 0x20, 0x21, 0x22, 0x24, 0x26, 0x28, 0x2A, 0x2C,
                     0x44, 0x46, 0x47, 0x70, 0x82, 0x84, 0x86, 0x87, 0x88, 0xA0, 0xA1, 0xA2, 0xA4, 0xB0, 0xB1,
                     0xB2, 0xB3, 0xC0, 0xC2, 0xC3, 0xCA, 0xCB, 0xD0, 0xD1, 0xD2, 0xD6, 0xD7, 0xDA, 0xDB, 0xDC,
                     0xDD, 0xE0, 0xE2, 0xE4, 0xE6, 0xE8, 0xFE}


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_protocol.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_java_constants_match_the_spec() -> None:
    java = (ROOT / "applet/src/cardsmith/applet/Proto.java").read_text()
    pattern = r"(INS_\w+|SW_\w+|TAG_\w+) = \((?:byte|short)\) 0x([0-9A-F]+);"
    found = {m[0]: int(m[1], 16) for m in re.findall(pattern, java)}
    for name, ins in PROTOCOL.instructions.items():
        assert found[f"INS_{name}"] == ins.code
    for name, sw in PROTOCOL.status_words.items():
        assert found[f"SW_{name}"] == sw.code
    for name, code in PROTOCOL.tags.items():
        assert found[f"TAG_{name}"] == code


def test_applet_uses_no_literal_status_words() -> None:
    """Status words in the applet come from Proto (or ISO7816), never as bare hex literals."""
    offenders = []
    for path in (ROOT / "applet/src").rglob("*.java"):
        if path.name == "Proto.java":
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"throwIt\(\s*\(short\)\s*0x", line):
                offenders.append(f"{path.name}:{lineno}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_spec_is_consistent() -> None:
    codes = [i.code for i in PROTOCOL.instructions.values()]
    assert len(codes) == len(set(codes)), "two instructions share an INS code"
    for ins in PROTOCOL.instructions.values():
        assert not 0x60 <= ins.code <= 0x6F and not 0x90 <= ins.code <= 0x9F, f"{ins.name}: invalid INS"
        assert ins.code % 2 == 0, f"{ins.name}: odd INS"
        assert ins.lifecycle in ("installed", "any"), f"{ins.name}: lifecycle {ins.lifecycle!r}"
        if ins.cla == "proprietary":
            assert ins.code not in ISO_INTERINDUSTRY, f"{ins.name}: INS {ins.code:02X} is an ISO 7816-4 command's"
        for sw in ins.sw:
            assert sw in PROTOCOL.status_words, f"{ins.name} lists unknown status word {sw}"
    tags = list(PROTOCOL.tags.values())
    assert len(tags) == len(set(tags))


def test_every_instruction_is_documented() -> None:
    doc = (ROOT / "docs/protocol.md").read_text()
    for ins in PROTOCOL.instructions.values():
        assert f"#### {ins.name} (INS `{ins.code:02X}`)" in doc
