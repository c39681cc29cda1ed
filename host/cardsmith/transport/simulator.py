"""Starting and stopping the jCardSim card simulator (applet/sim SimBridge) in a JVM.

Two lifetimes, one program:
- ephemeral: started for one process (a CLI command with no simulator running, a test session) and
  ended with it; card state dies with it;
- the service (`cardsmith sim start`): runs in the background, keeps card state across CLI invocations,
  and is found through ``<CARDSMITH_HOME>/sim.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import EnvironmentProblem
from ..core.paths import home, repo_root
from ..protocol.codes import DEFAULT_PAGE_COUNT, DEFAULT_PAGE_SIZE, Tag
from .sim import OP_INFO, OP_QUIT, SimConnection, SimTransport

READY = "CARDSMITH-SIM READY"
START_TIMEOUT = 60.0


def classpath(build: str = "prod") -> str:
    """The simulator's class path: the applet + bridge jar and jCardSim, both built by `ant compile`.

    ``build`` "prod" is the applet as it goes onto cards; "test" adds the fault injector (TEST_FAULT) that
    the power-loss tests use, and is never converted to a CAP file.
    """
    override = os.environ.get("CARDSMITH_SIM_CLASSPATH")
    if override:
        missing = [p for p in override.split(os.pathsep) if p and not Path(p).exists()]
        if missing:
            raise EnvironmentProblem(f"the card simulator is not where CARDSMITH_SIM_CLASSPATH points ({missing[0]} "
                                     "does not exist): fix or unset the variable")
        return override
    root = repo_root()
    jar = root / "build" / ("cardsmith-sim.jar" if build == "prod" else "cardsmith-sim-test.jar")
    sims = sorted((root / "lib").glob("jcardsim-*.jar"))
    if not jar.exists() or not sims:
        raise EnvironmentProblem(
            f"the card simulator is not built ({jar} or lib/jcardsim-*.jar missing): "
            f"run `make setup` (or `ant compile`) in {root}"
        )
    return os.pathsep.join([str(jar), str(sims[-1])])


def java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if not found:
        raise EnvironmentProblem("no `java` on PATH: install a JDK 17 (Debian: openjdk-17-jdk-headless)")
    return found


def install_params(page_size: int | None = None, page_count: int | None = None) -> bytes:
    """The applet's install parameters (tag, length, value), as `gp --install --params` takes them."""
    out = b""
    if page_size is not None:
        out += bytes([Tag.INSTALL_PAGE_SIZE, 2]) + page_size.to_bytes(2, "big")
    if page_count is not None:
        out += bytes([Tag.INSTALL_PAGE_COUNT, 2]) + page_count.to_bytes(2, "big")
    return out


@dataclass
class SimOptions:
    cards: int = 2
    page_size: int | None = None
    page_count: int | None = None
    vpcd: str | None = None  # "host:port" of vpcd's first slot
    build: str = "prod"  # or "test": the applet build with the fault injector

    def argv(self) -> list[str]:
        args = [java(), "-cp", classpath(self.build), "cardsmith.sim.SimBridge", "--listen", "127.0.0.1:0",
                "--cards", str(self.cards)]
        params = install_params(self.page_size, self.page_count)
        if params:
            args += ["--install", params.hex()]
        if self.vpcd:
            args += ["--vpcd", self.vpcd]
        return args


def _parse_ready(line: str) -> int:
    if not line.startswith(READY):
        raise EnvironmentProblem(f"the card simulator did not start: {line.strip() or 'no output'}")
    return int(line.split("port=")[1].split()[0])


class EphemeralSimulator:
    """A simulator that lives as long as this object (or this process)."""

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        # stderr to a file, never an unread pipe: jCardSim's chatter would fill it and stall the JVM.
        # CARDSMITH_SIM_LOG_DIR keeps these logs for debugging.
        log_dir = os.environ.get("CARDSMITH_SIM_LOG_DIR")
        self._log = (tempfile.NamedTemporaryFile(mode="w+", dir=log_dir, prefix="sim-", suffix=".log", delete=False)
                     if log_dir else tempfile.TemporaryFile(mode="w+"))
        self._proc = subprocess.Popen(
            self.options.argv() + ["--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        self.port = self._wait_ready()

    def _wait_ready(self) -> int:
        """Reads the bridge's stdout until its READY line; on failure, stops it and reports its stderr."""
        assert self._proc.stdout is not None
        result: list[str] = []

        def read() -> None:
            for line in self._proc.stdout:  # type: ignore[union-attr]
                if line.startswith(READY):
                    result.append(line)
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if result:
            return _parse_ready(result[0])
        exited = not reader.is_alive()  # its stdout ended: the JVM quit before READY
        self._proc.kill()
        self._proc.wait()
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read()[-4000:].splitlines() if line.strip()]
        self.stop()
        why = lines[0] if lines else "no output"  # the JVM's own first line names the problem
        if exited:
            raise EnvironmentProblem(f"the card simulator exited at start ({why}): run `make setup` and check "
                                     "CARDSMITH_SIM_CLASSPATH")
        raise EnvironmentProblem(f"the card simulator did not start within {START_TIMEOUT:.0f} s ({why})")

    def transport(self, slot: int = 0, owns: bool = False) -> SimTransport:
        return SimTransport(SimConnection(self.port), slot, owner=self if owns else None)

    def stop(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            if proc.stdin:
                proc.stdin.close()  # the bridge exits on stdin EOF
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
        self._log.close()


# ------------------------------------------------------------------ the background service

def state_file() -> Path:
    return home() / "sim.json"


def log_file() -> Path:
    return home() / "sim.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def service_state() -> dict | None:
    """The running service's state (pid, port, cards, ...), or None. Removes a stale state file."""
    path = state_file()
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(state.get("pid", 0))):
        return None  # dead: the state file stays, so that commands report it (dead_service) until sim stop/start
    try:
        conn = SimConnection(int(state["port"]), timeout=5)
        try:
            state["info"] = conn.request(OP_INFO).decode()
        finally:
            conn.close()
    except Exception:
        return None
    return state


def dead_service() -> dict | None:
    """The state of a service that was started and is no longer answering (its cards are gone), or None."""
    try:
        state = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    return None if service_state() else state


def start_service(options: SimOptions) -> dict:
    """Starts the background simulator unless one runs; returns its state."""
    running = service_state()
    if running:
        return {**running, "already_running": True}
    log = log_file()
    with open(log, "w") as out:
        proc = subprocess.Popen(options.argv(), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith(READY):
                state = {"pid": proc.pid, "port": _parse_ready(line), "cards": options.cards,
                         "vpcd": options.vpcd, "page_size": options.page_size or DEFAULT_PAGE_SIZE,
                         "page_count": options.page_count or DEFAULT_PAGE_COUNT,
                         "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                state_file().write_text(json.dumps(state, indent=2))
                return state
        if proc.poll() is not None:
            first = next((line.strip() for line in text.splitlines() if line.strip()), "no output")
            raise EnvironmentProblem(f"the card simulator exited at start ({first}): run `make setup`; "
                                     f"its whole log: {log}")
        time.sleep(0.1)
    proc.kill()
    raise EnvironmentProblem(f"the card simulator did not start within {START_TIMEOUT:.0f} s; see {log}")


def stop_service() -> bool:
    """Stops the background simulator; False when none was running. Card state is lost."""
    state = service_state()
    if not state:
        state_file().unlink(missing_ok=True)
        return False
    pid = int(state["pid"])
    try:
        conn = SimConnection(int(state["port"]), timeout=5)
        conn.request(OP_QUIT)
        conn.close()
    except Exception:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    state_file().unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def service_transport(slot: int) -> SimTransport | None:
    state = service_state()
    if not state:
        return None
    return SimTransport(SimConnection(int(state["port"])), slot)
