"""`cardsmith server ...` given bad input: one line saying what to do, the documented exit code, no traceback."""

from __future__ import annotations

import pytest
from server_helpers import free_port

from cli_helpers import base_env, run


@pytest.mark.parametrize(("args", "code", "says"), [
    (["server", "run", "--listen", "nowhere"], 2, "give HOST:PORT"),
    (["server", "run", "--db", "mysql://x@h/db"], 2, "only SQLite and PostgreSQL"),
    (["server", "run", "--db", "::not a url::"], 2, "is not a database URL"),
    (["server", "key", "add", "--issuer", "acme corp", "--role", "station", "--name", "d"], 2, "issuer 'acme corp'"),
    (["server", "key", "add", "--issuer", "acme", "--role", "boss", "--name", "d"], 2, "'boss' is not one of"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, args: list[str], code: int, says: str) -> None:
    done = run(base_env(tmp_path), *args)
    assert done.returncode == code, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    for args in (["server", "run", "--db", url, "--listen", f"127.0.0.1:{free_port()}"],
                 ["server", "key", "add", "--db", url, "--issuer", "acme", "--role", "admin", "--name", "o"]):
        done = run(base_env(tmp_path), *args, timeout=60)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: cannot migrate the database") and "check that it runs" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
