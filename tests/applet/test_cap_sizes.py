"""tools/cap_sizes.py: per-component sizes of a CAP file (a JAR of javacard/*.cap components)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import cap_sizes  # noqa: E402


def _cap(path: Path, components: dict[str, int]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        for name, size in components.items():
            z.writestr(f"cardsmith/applet/javacard/{name}.cap", bytes(size))
    return path


def test_sizes_in_load_order_and_totals_without_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _cap(tmp_path / "a.cap", {"Method": 900, "Header": 30, "Debug": 500, "Directory": 35, "Class": 60})
    b = _cap(tmp_path / "b.cap", {"Header": 30, "Directory": 35, "Class": 62, "Method": 880})
    assert list(cap_sizes.component_sizes(a)) == ["Header", "Directory", "Class", "Method", "Debug"]
    assert cap_sizes.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["Header", "30", "30"]
    assert out[-3].split() == ["Debug", "500", "-"]
    assert out[-2].split() == ["load", "total", str(30 + 35 + 60 + 900), str(30 + 35 + 62 + 880)]


def test_not_a_cap_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jar = tmp_path / "x.jar"
    with zipfile.ZipFile(jar, "w") as z:
        z.writestr("a/B.class", b"")
    assert cap_sizes.main([str(jar)]) == 1
    assert "no javacard/*.cap components: not a CAP file" in capsys.readouterr().err
