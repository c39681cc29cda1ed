"""The host crypto mirror against published vectors. The card's CMAC/KDF/CBC are checked against this mirror
on every backup the tests open with the family key (open_backup in test_backup.py and test_backup_cli.py):
header MACs (267-byte input, the K2 path), wrap MACs (32 bytes, the K1 path), KDF inputs, record MACs."""

from __future__ import annotations

import pytest

from cardsmith.core import crypto
from cardsmith.core.crypto import aes_cbc_decrypt, aes_cbc_encrypt, cmac, kdf

NIST_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
NIST_MSG = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")


@pytest.mark.parametrize(("length", "tag"), [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
])
def test_cmac_matches_sp800_38b(length: int, tag: str) -> None:
    assert cmac(NIST_KEY, NIST_MSG[:length]).hex() == tag


def test_kdf_is_cmac_counter_mode() -> None:
    k = kdf(NIST_KEY, b"BENC", b"context")
    assert k == cmac(NIST_KEY, b"\x01BENC\x00context\x00\x80")
    assert kdf(NIST_KEY, b"BMAC", b"context") != k
    assert len(kdf(NIST_KEY, b"X", b"", 32)) == 32


def test_cbc_round_trip() -> None:
    iv = bytes(range(16))
    assert aes_cbc_decrypt(NIST_KEY, iv, aes_cbc_encrypt(NIST_KEY, iv, NIST_MSG)) == NIST_MSG


def test_applet_cmac_and_kdf_match_the_vectors_and_the_mirror() -> None:
    """The applet's own Cmac/Kdf classes (test build harness CmacVectors, one JVM for this one test)."""
    import subprocess

    from cardsmith.core.paths import repo_root
    from cardsmith.transport.simulator import classpath, java

    out = subprocess.run([java(), "-cp", classpath("test"), "cardsmith.applet.CmacVectors"], capture_output=True,
                         text=True, timeout=120, cwd=repo_root(), check=True).stdout.splitlines()
    lines = [line.split() for line in out if line.startswith(("cmac ", "sweep ", "kdf "))]
    assert [w[2] for w in lines if w[0] == "cmac"] == ["ok"] * 4
    sweep = {int(w[1]): w[2] for w in lines if w[0] == "sweep"}
    assert sweep == {n: cmac(NIST_KEY, NIST_MSG[:n]).hex() for n in range(65)}
    assert [w[1] for w in lines if w[0] == "kdf"] == [kdf(NIST_KEY, b"BENC", b"context").hex()]
    # AES-256 through the one-shot raw-key mac() (SP 800-38B examples 9-12) and Kdf256 on top of it
    tags256 = {w[1]: w[2] for w in (line.split() for line in out) if w and w[0] == "cmac256"}
    assert tags256 == {"0": "028962f61b7bf89efc6b551f4667d983", "16": "28a7023f452e8f82bd4bf28d8c37c35c",
                       "40": "aaf3d8f1de5640c232f5b169b9c911e6", "64": "e1992190549f6ed5696a2c056c315410"}
    key256 = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    kdf256_line = [line.split()[1] for line in out if line.startswith("kdf256 ")]
    assert kdf256_line == [crypto.kdf256(key256, crypto.LABEL_ENC, NIST_MSG[:8]).hex()]
