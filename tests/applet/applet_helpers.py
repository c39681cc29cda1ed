"""Compiling Java sources for the applet tests exactly as `ant compile` compiles the applet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def compile_like_ant(sources: list[Path], out: Path) -> Path:
    """Class files of `sources` in `out`, by build.xml's `ecj-compile` (ecj -1.6 -g against jCardSim's API)."""
    ecj = shutil.which("ecj")
    if ecj is None:
        pytest.fail("ecj not found: install Debian's ecj (scripts/setup.sh does)")
    jcardsim = sorted((ROOT / "lib").glob("jcardsim-*.jar"))[-1]
    result = subprocess.run(
        [ecj, "-1.6", "-proc:none", "-g", "-encoding", "UTF-8", "-nowarn", "-cp", str(jcardsim), "-d", str(out),
         *map(str, sources)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return out
