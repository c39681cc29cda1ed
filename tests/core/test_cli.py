"""The `cardsmith` command as a user runs it: a real process, the simulator service, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cardsmith.cli import exitcodes
from cardsmith.protocol.codes import PIN_TRY_LIMIT
from cli_helpers import base_env, run


def test_help_is_fast_and_touches_no_card() -> None:
    """--help imports no card, transport or simulator code (so it starts no JVM and opens no reader)."""
    probe = (
        "import sys\n"
        "from cardsmith.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in ('cardsmith.card', 'cardsmith.simulator', 'cardsmith.transport.pcsc', 'smartcard')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, code)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "HEAVY [] 0" in out.stdout, out.stdout + out.stderr
    for command in ("readers", "info", "apdu", "sim"):
        assert command in out.stdout


def test_info_json_describes_the_simulated_card(service: dict[str, str]) -> None:
    out = run(service, "--json", "info")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["reader"] == "cardsmith-sim 0"
    assert len(info["card_id"]) == 16 and info["lifecycle"] == "INSTALLED"
    assert info["data_area"] == {"page_size": 128, "page_count": 32, "bytes": 4096}
    # the production build (what `cardsmith sim` runs) asks the platform: jCardSim's getMaxCommitCapacity
    tx = info["transactions"]
    assert tx["commit_capacity"] > 0 and 16 <= tx["max_write"] <= 1021
    text = run(service, "info").stdout
    assert f"commit buffer {tx['commit_capacity']} bytes, largest write {tx['max_write']} bytes" in text


def test_cards_keep_state_between_invocations(service: dict[str, str]) -> None:
    first = json.loads(run(service, "--json", "info").stdout)
    assert run(service, "apdu", "--strict", "803C0000").returncode == 0  # CLOSE PERSONALISATION
    again = json.loads(run(service, "--json", "info").stdout)
    assert again["card_id"] == first["card_id"] and again["lifecycle"] == "ISSUED"
    other = json.loads(run(service, "-r", "sim 1", "--json", "info").stdout)
    assert other["card_id"] != first["card_id"] and other["lifecycle"] == "INSTALLED"


def test_apdu_prints_responses_and_the_trace(service: dict[str, str]) -> None:
    out = run(service, "-v", "apdu", "8032000003AABBCC00", "80320100020020")  # the 2nd answers 6120
    assert out.returncode == 0, out.stderr
    assert "< AABBCC 9000 (success)" in out.stdout
    assert "> ECHO: 80 32 00 00 03 AA BB CC 00" in out.stderr  # the -v trace, on stderr, naming the command
    assert "< " + bytes(range(32)).hex().upper() + " 9000" in out.stdout


def test_apdu_json_and_strict_exit_code(service: dict[str, str]) -> None:
    out = run(service, "--json", "apdu", "--strict", "80FE0000")
    assert out.returncode == exitcodes.EXIT_CARD_REFUSED
    assert json.loads(out.stdout)[0]["sw"] == "6D00"


def test_bad_hex_is_a_usage_error(service: dict[str, str]) -> None:
    out = run(service, "apdu", "80ZZ")
    assert out.returncode == exitcodes.EXIT_USAGE and "not hexadecimal" in out.stderr


def test_unknown_reader_lists_the_readers(service: dict[str, str]) -> None:
    out = run(service, "-r", "no such reader", "info")
    assert out.returncode == exitcodes.EXIT_NO_CARD
    assert "no reader matches 'no such reader'" in out.stderr and "cardsmith-sim 1" in out.stderr


def test_ambiguous_reader_names_the_candidates(service: dict[str, str]) -> None:
    out = run(service, "-r", "sim", "info")
    assert out.returncode == exitcodes.EXIT_NO_CARD
    assert "readers match 'sim'" in out.stderr and "cardsmith-sim 0" in out.stderr


def test_pulled_card_is_reported_and_comes_back(service: dict[str, str]) -> None:
    assert run(service, "sim", "eject", "1").returncode == 0
    out = run(service, "-r", "sim 1", "info")
    assert out.returncode == exitcodes.EXIT_NO_CARD and "no card" in out.stderr
    readers = json.loads(run(service, "--json", "readers").stdout)["readers"]
    assert {"name": "cardsmith-sim 1", "card": False} == {k: readers[1][k] for k in ("name", "card")}
    assert run(service, "sim", "insert", "1").returncode == 0
    assert run(service, "-r", "sim 1", "info").returncode == 0


def test_status_without_a_service(tmp_path: Path) -> None:
    out = run(base_env(tmp_path), "sim", "status")
    assert out.returncode == exitcodes.EXIT_NO_CARD and "not running" in out.stdout


def test_service_status_and_double_start(service: dict[str, str]) -> None:
    status = json.loads(run(service, "--json", "sim", "status").stdout)
    assert status["running"] and status["cards"] == 2
    again = run(service, "sim", "start")
    assert again.returncode == 0 and "already running" in again.stdout


def test_without_a_service_each_command_gets_a_passing_simulator(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    a = json.loads(run(env, "--json", "info").stdout)
    b = json.loads(run(env, "--json", "info").stdout)
    assert a["card_id"] != b["card_id"]  # nothing kept: the simulator lived for one command


def test_missing_simulator_build_is_an_environment_error(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env["CARDSMITH_SIM_CLASSPATH"] = str(tmp_path / "missing.jar")
    out = run(env, "info")
    assert out.returncode == exitcodes.EXIT_ENVIRONMENT
    assert "missing.jar does not exist" in out.stderr and len(out.stderr.splitlines()) == 1
    env["CARDSMITH_SIM_CLASSPATH"] = str(tmp_path)  # exists, but holds no simulator: the JVM says so, on one line
    out = run(env, "info")
    assert out.returncode == exitcodes.EXIT_ENVIRONMENT
    assert "simulator exited at start" in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr


def test_an_unwritable_home_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = run(base_env(blocker / "home"), "sim", "status")
    assert out.returncode == 1
    assert "check the path" in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- conventions users bring (gp, ykman, opensc-tool)

def test_a_mistyped_command_gets_a_suggestion(tmp_path: Path) -> None:
    out = run(base_env(tmp_path), "inof")
    assert out.returncode == exitcodes.EXIT_USAGE and "Did you mean 'info'?" in out.stderr
    far = run(base_env(tmp_path), "zzzz")
    assert far.returncode == exitcodes.EXIT_USAGE and "No such command 'zzzz'" in far.stderr
    assert "Did you mean" not in far.stderr


def test_dash_v_capital_prints_the_version(tmp_path: Path) -> None:
    out = run(base_env(tmp_path), "-V")
    assert out.returncode == 0 and "version 0.1.0" in out.stdout


def test_global_options_after_the_subcommand(service: dict[str, str]) -> None:
    before = json.loads(run(service, "-r", "sim 1", "--json", "info").stdout)
    after = run(service, "info", "--json", "-r", "sim 1")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["card_id"] == before["card_id"]
    traced = run(service, "apdu", "8030000000", "-v", "--reader=sim 1")
    assert traced.returncode == 0 and "> GET_INFO: 80 30 00 00 00" in traced.stderr
    assert "9000 success (" in traced.stderr


def test_sim_eject_without_a_service_is_no_reader(tmp_path: Path) -> None:
    out = run(base_env(tmp_path), "sim", "eject", "1")
    assert out.returncode == exitcodes.EXIT_NO_CARD and "`cardsmith sim start` first" in out.stderr


def test_ctrl_c_exits_130(monkeypatch, capsys) -> None:  # noqa: ANN001
    import pytest

    from cardsmith.cli import context, main

    def interrupted(self, reader=None):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(context.Settings, "open_card", interrupted)
    with pytest.raises(SystemExit) as exc:
        main(["info"])
    assert exc.value.code == 130 and "interrupted" in capsys.readouterr().err


def test_secrets_are_never_required_on_the_command_line(service: dict[str, str]) -> None:
    # no terminal and no variable: one line naming both ways, nothing sent (the card stays INSTALLED)
    out = run(service, "-r", "sim 1", "key", "personalise")
    assert out.returncode == exitcodes.EXIT_USAGE, out.stderr
    assert "no terminal to ask for the new PIN" in out.stderr and "$CARDSMITH_NEW_PIN" in out.stderr
    assert "GetPassWarning" not in out.stderr and len(out.stderr.splitlines()) == 1
    status = json.loads(run(service, "-r", "sim 1", "--json", "key", "status").stdout)
    assert not status["pin"]["set"]
    change = run(service, "-r", "sim 1", "pin", "change")
    assert change.returncode == exitcodes.EXIT_USAGE and "$CARDSMITH_PIN" in change.stderr


def test_secrets_come_from_files_for_scripts(tmp_path: Path) -> None:
    """--pin-file and $CARDSMITH_..._FILE, as ykman reads them: one line, its trailing newline stripped."""
    env = base_env(tmp_path / "home")
    assert run(env, "sim", "start", "--cards", "1").returncode == 0
    try:
        (tmp_path / "new.pin").write_text("1234\n")
        (tmp_path / "key1").write_text("11" * 32 + "\n")
        out = run(env, "key", "personalise", "--pin-file", str(tmp_path / "new.pin"),
                  "--key1-file", str(tmp_path / "key1"))
        assert out.returncode == 0, out.stderr
        assert run(dict(env, CARDSMITH_PIN_FILE=str(tmp_path / "new.pin")), "pin", "verify").returncode == 0
        (tmp_path / "next.pin").write_text("5678\n")
        out = run(dict(env, CARDSMITH_NEW_PIN_FILE=str(tmp_path / "next.pin")), "pin", "change",
                  "--old-file", str(tmp_path / "new.pin"))
        assert out.returncode == 0, out.stderr
        assert run(env, "pin", "verify", "--pin-file", str(tmp_path / "next.pin")).returncode == 0
        # a missing file: one line naming the option and the file, exit 2, no try spent
        out = run(env, "pin", "verify", "--pin-file", str(tmp_path / "nope"))
        assert out.returncode == exitcodes.EXIT_USAGE and len(out.stderr.splitlines()) == 1, out.stderr
        assert "--pin-file: cannot read" in out.stderr and "nope" in out.stderr
        out = run(dict(env, CARDSMITH_PIN_FILE=str(tmp_path / "nope")), "pin", "verify")
        assert out.returncode == exitcodes.EXIT_USAGE and "$CARDSMITH_PIN_FILE: cannot read" in out.stderr
        status = json.loads(run(env, "--json", "key", "status").stdout)
        assert status["pin"]["tries_left"] == PIN_TRY_LIMIT, status
    finally:
        run(env, "sim", "stop")


def test_a_card_that_will_not_outlive_the_command_says_so(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    out = run(env, "data", "define", "1", "--first-page", "0", "--pages", "4")
    assert out.returncode == 0
    assert "cardsmith-sim 0 lives for this command only" in out.stderr and "`cardsmith sim start`" in out.stderr
    assert run(env, "--json", "info").stderr == ""  # --json output stays clean


def test_a_dead_service_is_reported_not_replaced(tmp_path: Path) -> None:
    import os
    import signal
    import time

    env = base_env(tmp_path)
    assert run(env, "sim", "start", "--cards", "2").returncode == 0
    try:
        pid = json.loads((tmp_path / "sim.json").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # until it is gone (reaped by init, or a zombie of nobody we know)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        out = run(env, "info")
        assert out.returncode == exitcodes.EXIT_NO_CARD, out.stdout + out.stderr
        assert "no longer running, and its cards are gone" in out.stderr and "sim start" in out.stderr
        status = run(env, "sim", "status")
        assert status.returncode == exitcodes.EXIT_NO_CARD and "died" in status.stdout
    finally:
        run(env, "sim", "stop")
    assert run(env, "info").returncode == 0  # forgotten: an ephemeral card again


def test_doctor_checks_what_troubleshooting_describes(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    out = run(env, "--json", "doctor")
    assert out.returncode == 0, out.stdout + out.stderr
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert {"java", "simulator build", "simulator service", "pyscard"} <= set(checks)
    assert checks["card in simulated card 0"]["status"] == "ok"
    assert "cardsmith applet" in checks["card in simulated card 0"]["detail"]
    env["CARDSMITH_SIM_CLASSPATH"] = str(tmp_path / "missing.jar")
    broken = run(env, "doctor")
    assert broken.returncode == exitcodes.EXIT_ENVIRONMENT
    assert "fail  simulator build" in broken.stdout and "fix: `make setup`" in broken.stdout
    assert broken.stderr.strip().splitlines() == ["error: doctor: simulator build failed (the fix is printed "
                                                  "beside each)"]


def test_every_command_shows_an_example_in_its_help() -> None:
    import click

    from cardsmith.cli import cli

    ctx = click.Context(cli)
    seen, missing = [], []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
            return
        seen.append(" ".join(path))
        example = [line for line in (command.help or "").splitlines() if line.strip().startswith("Example:")]
        if not example or "cardsmith " not in example[0] or not all(f" {word}" in example[0] for word in path):
            missing.append(" ".join(path))

    walk(cli, [])
    assert len(seen) > 30 and not missing, missing
