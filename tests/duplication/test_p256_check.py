"""The applet's own on-curve check (P256Check), driven through the test build's P256Vectors harness and
compared with Python's integers: products mod p, and points on, off and outside the curve."""

from __future__ import annotations

import os
import subprocess

from cryptography.hazmat.primitives.asymmetric import ec

from cardsmith.core import crypto
from cardsmith.core.paths import repo_root
from cardsmith.transport.simulator import classpath, java

P = 2**256 - 2**224 + 2**192 + 2**96 - 1
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _ask(lines: list[str]) -> list[str]:
    result = subprocess.run([java(), "-cp", classpath("test"), "cardsmith.applet.P256Vectors"], input="\n".join(lines),
                            capture_output=True, text=True, timeout=120, cwd=repo_root(), check=True)
    return result.stdout.split()


def _point(x: int, y: int) -> str:
    return "04" + x.to_bytes(32, "big").hex() + y.to_bytes(32, "big").hex()


def test_products_mod_p_match_python_at_the_edges_and_at_random() -> None:
    edges = [0, 1, 2, P - 1, P - 2, 2**255, 2**224, 2**256 - 2**224, (P - 1) // 2, 0xFF * (2**256 // 255)]
    edges = [e for e in edges if e < P]
    pairs = [(a, b) for a in edges for b in edges] + [
        (int.from_bytes(os.urandom(32), "big") % P, int.from_bytes(os.urandom(32), "big") % P) for _ in range(300)]
    got = _ask([f"mul {a:064x} {b:064x}" for a, b in pairs])
    assert got == [f"{a * b % P:064x}" for a, b in pairs]


def test_points_on_the_curve_pass_and_every_kind_of_bad_point_fails() -> None:
    good = [crypto.point_of(ec.generate_private_key(ec.SECP256R1()).public_key()).hex() for _ in range(40)]
    gx = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
    gy = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
    good.append(_point(gx, gy))
    bad = [
        _point(gx, (gy + 1) % P),  # y off by one
        _point(gx, P),  # y = p: outside the field
        _point(0, 0),
        _point(P, 0),  # x = p
        "05" + good[0][2:],  # not an uncompressed point
    ]
    for _ in range(40):  # random x, y: on the curve with negligible probability
        x, y = (int.from_bytes(os.urandom(32), "big") % P for _ in range(2))
        assert (y * y - (x**3 - 3 * x + B)) % P != 0
        bad.append(_point(x, y))
    assert _ask([f"on {p}" for p in good + bad]) == ["1"] * len(good) + ["0"] * len(bad)
