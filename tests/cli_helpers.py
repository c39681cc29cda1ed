"""Running the `cardsmith` command as a user does: a real process with its own CARDSMITH_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CARDSMITH = [sys.executable, "-m", "cardsmith.cli"]


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CARDSMITH, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CARDSMITH_READER",)}
    env["CARDSMITH_HOME"] = str(home)
    return env
