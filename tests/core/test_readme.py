"""README.md and the docs' walk-throughs are tested scripts: every shell block runs, in order, on the
simulator, and must succeed.

Each file in WALKTHROUGHS runs on its own (its own scratch folder and CARDSMITH_HOME).

The blocks run one after another with bash (`set -euo pipefail`) in a scratch folder (the repository's
`docs`, `bench` and `.venv` linked in) with a scratch CARDSMITH_HOME, so the simulator service they start is
their own. A block that cannot run here (real hardware, the Oracle kit, the suite itself) carries the line
``<!-- readme-test: skip: <why> -->`` right above its fence; the test reports each skip with its reason.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGS = {"sh", "bash", "shell", "console"}
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(.+?)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")
#: the Markdown files whose shell blocks are a walk-through, each with the fewest blocks it must run
WALKTHROUGHS = {"README.md": 5, "docs/backup.md": 1, "docs/duplication.md": 1}


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with its language and skip reason."""
    lines = path.read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        i += 1
        body = []
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        above = lines[start - 1] if start else ""
        reason = SKIP.search(above)
        out.append(Block(start + 1, lang, "\n".join(body) + "\n", reason.group(1) if reason else None))
        i += 1
    return out


@pytest.mark.parametrize("doc", sorted(WALKTHROUGHS))
def test_every_block_says_what_it_is(doc: str) -> None:
    # an untagged fence would escape the walk-through: every block names its language
    untagged = [b.line for b in blocks(ROOT / doc) if not b.lang]
    assert not untagged, f"{doc} fences without a language at lines {untagged}"


def test_skip_marker_is_read(tmp_path: Path) -> None:
    md = "intro\n<!-- readme-test: skip: needs a real card -->\n```sh\ngp --list\n```\n```sh\ncardsmith info\n```\n"
    path = tmp_path / "sample.md"
    path.write_text(md)
    got = [(b.line, b.lang, b.skip) for b in blocks(path)]
    assert got == [(3, "sh", "needs a real card"), (6, "sh", None)]


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, str]:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("docs", "bench", ".venv"):
        (work / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSMITH_")}
    env.update(CARDSMITH_HOME=str(tmp_path / "home"), HOME=str(tmp_path),
               PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("VIRTUAL_ENV", None)
    yield {"cwd": str(work), **env}
    subprocess.run(["cardsmith", "sim", "stop"], env=env, cwd=work, capture_output=True, timeout=60)


@pytest.mark.parametrize("doc", sorted(WALKTHROUGHS))
def test_the_walkthrough_runs_as_written(scratch: dict[str, str], doc: str) -> None:
    cwd = scratch.pop("cwd")
    shell = [b for b in blocks(ROOT / doc) if b.lang in SHELL_LANGS]
    ran = 0
    skipped = []
    # the blocks share one shell's variables (LOST, KEY1, an exported family key), as a user's terminal does
    script = ["set -euo pipefail"]
    for block in shell:
        if block.skip:
            skipped.append(f"{doc}:{block.line}: {block.skip}")
            continue
        script.append(f"echo '>>> {doc}:{block.line}' >&2")
        script.append(block.text)
        ran += 1
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=scratch, capture_output=True,
                            text=True, timeout=600, stdin=subprocess.DEVNULL)
    markers = re.findall(rf">>> ({re.escape(doc)}:\d+)", result.stderr)
    where = markers[-1] if markers else "before the first block"
    assert result.returncode == 0, (
        f"the {doc} block at {where} failed (exit {result.returncode})\n--- stdout\n{result.stdout[-3000:]}"
        f"\n--- stderr\n{result.stderr[-3000:]}")
    assert ran >= WALKTHROUGHS[doc] and len(markers) == ran
    assert "Traceback" not in result.stderr
    # without a terminal, progress bars draw nothing: no bare label lines in a pipe or a log
    assert not re.search(r"^(backup|restore|issuing)$", result.stdout + result.stderr, re.M)
    for line in skipped:
        print(f"skipped {line}")
