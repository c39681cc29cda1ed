"""Two simulated cards are two cards: no key pair the applet generates at install is shared between them.

jCardSim 3.0.6 gives its key-pair and signature classes an unseeded PRNG; the simulator jar replaces that class
(applet/sim/com/licel/jcardsim/crypto/SecureRandomNullProvider.java, docs/duplication.md). Without it every
simulated card had the same trust key and the same identity key, which hid any test that mixed up two cards.
"""

from __future__ import annotations

import datetime

from cardsmith.identity import IdentitySession
from cardsmith.trust import TrustSession


def test_two_fresh_cards_share_no_key_generated_at_install(card_pair) -> None:
    a, b = card_pair
    assert TrustSession(a).card_public_key() != TrustSession(b).card_public_key()
    expiry = datetime.date.today() + datetime.timedelta(days=365)
    _, key_a = IdentitySession(a).put_identity(b"12345678", b"90817263", bytes(8), expiry)
    _, key_b = IdentitySession(b).put_identity(b"12345678", b"90817263", bytes(8), expiry)
    assert key_a != key_b
    assert len({key_a, TrustSession(a).card_public_key()}) == 2  # the identity key is a pair of its own
