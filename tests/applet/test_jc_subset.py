"""The interim Java Card subset check (tools/jc_subset.py) on the production applet classes and on a
non-conforming fixture. It guards CI until a converter can run there (docs/card-requirements.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from applet_helpers import compile_like_ant

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import jc_subset  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "jc_nonconforming"


def test_production_applet_classes_stay_in_the_subset() -> None:
    classes = ROOT / "build" / "classes" / "applet"
    count, violations = jc_subset.check_dir(classes)
    assert count > 0, "run `ant compile` first"
    assert [str(v) for v in violations] == []
    # Only the production build is checked: the test build (fault injector, journal) is never converted.
    assert not (classes / "cardsmith" / "applet" / "Faults$Tear.class").exists()


@pytest.fixture(scope="module")
def fixture_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixtures compiled exactly as `ant compile` compiles the applet (ecj -1.6 -g)."""
    return compile_like_ant(sorted(FIXTURES.rglob("*.java")), tmp_path_factory.mktemp("jc-fixture"))


def test_nonconforming_fixture_is_rejected_naming_class_method_and_violation(fixture_classes: Path) -> None:
    _, violations = jc_subset.check_dir(fixture_classes)
    found = {str(v) for v in violations}
    process = "cardsmith.fixture.IntCounter.process(Ljavacard/framework/APDU;)V"
    assert any(f.startswith(process) and "local variable 'total' of type int" in f for f in found), found
    assert any("String constant" in f for f in found), found
    assert any("java.lang.IllegalStateException is not in the Java Card API" in f for f in found), found
    assert any("java.lang.StringBuilder is not in the Java Card API" in f for f in found), found


def test_allocation_reachable_from_process_is_rejected_with_its_call_chain(fixture_classes: Path) -> None:
    _, violations = jc_subset.check_dir(fixture_classes)
    scratch = [str(v) for v in violations if v.cls == "cardsmith/fixture/ScratchPerCommand"]
    # The helper's array is reported with the chain from process(); the constructor's transient array
    # (made at install) is not.
    assert scratch == [
        "cardsmith.fixture.ScratchPerCommand.scratch()[B (line 27): allocates after install (new array), "
        "reached from ScratchPerCommand.scratch <- ScratchPerCommand.process"
    ]


def test_command_line_exit_status_and_messages(fixture_classes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert jc_subset.main([str(fixture_classes)]) == 1
    err = capsys.readouterr().err
    assert "jc_subset: cardsmith.fixture.IntCounter.process" in err
    assert "violation(s) of the Java Card subset" in err
    assert jc_subset.main([str(ROOT / "build" / "classes" / "applet")]) == 0


@pytest.mark.parametrize(("fixture", "expected"), [
    ("ForEachIndex.sum([B)S (line 7)", "hidden int local in slot 3 (a for-each loop's index"),
    ("BigConstant.topBit(S)Z (line 6)", "int constant 32768 outside the short range"),
    ("SynchronizedMethod.bump()V", "synchronized method"),
    ("ObjectMethods.wake()V (line 6)", "java.lang.Object.notify is not in the Java Card API"),
    ("ObjectMethods.report(Ljava/lang/Exception;)V (line 10)",
     "java.lang.Exception.printStackTrace is not in the Java Card API"),
    ("ObjectMethods.copy([B)[B (line 14)", "array method clone() is not in the Java Card API"),
    ("StaticInitCode.<clinit>()V (line 6)", "static initialiser runs code (opcode 0xB8): only arrays of constants"),
    ("ManyLocals.many()S (line 6)", "260 local variable slots (the Java Card VM allows 255)"),
    ("IntIntermediate.scale(SSS)S (line 6)", "int intermediate used by a divide before a cast to short or byte"),
    ("IntIntermediate.over(SSS)Z (line 10)", "int intermediate used by a compare before a cast to short or byte"),
    ("ApiBeyond304.simulatorAid([B)Ljavacard/framework/AID; (line 13)",
     "com.licel.jcardsim.utils.AIDUtil is not in the Java Card 3.0.4 API"),
    ("ApiBeyond304.fill([B)S (line 17)", "method javacard.framework.Util.arrayFill([BSSB)S is not in the Java Card "
     "3.0.4 API"),
    ("ApiBeyond304.sameCurve(Ljavacard/security/ECPrivateKey;Ljavacard/security/ECPublicKey;)V (line 21)",
     "method javacard.security.ECPrivateKey.copyDomainParametersFrom(Ljavacard/security/ECKey;)V is not in"),
    ("ApiBeyond304.sensitive(Ljava/lang/Object;)Z (line 25)",
     "javacard.framework.SensitiveArrays is not in the Java Card 3.0.4 API"),
])
def test_each_real_card_rule_rejects_its_fixture(fixture_classes: Path, fixture: str, expected: str) -> None:
    """One small fixture per rule (tests/fixtures/jc_nonconforming): each rule can fail, naming the place."""
    _, violations = jc_subset.check_dir(fixture_classes)
    found = [str(v) for v in violations]
    assert any(f.startswith(f"cardsmith.fixture.{fixture}: {expected}") for f in found), found


def test_the_rules_do_not_fire_on_what_a_card_accepts(fixture_classes: Path) -> None:
    # StaticInitCode.TABLE (an array of constants) and the javac temporaries of a try/finally in the
    # production classes are fine: only the call in StaticInitCode's initialiser is reported there
    _, violations = jc_subset.check_dir(fixture_classes)
    assert [v.what for v in violations if v.cls == "cardsmith/fixture/StaticInitCode"] == [
        "static initialiser runs code (opcode 0xB8): only arrays of constants"]


def test_intermediates_cast_in_time_and_3_0_4_api_calls_pass(fixture_classes: Path) -> None:
    # the fixtures' controls: casts before every use of the arithmetic (what the converter accepts), and
    # 3.0.4 members reached through an interface's supertypes (ECPrivateKey -> ECKey, Key)
    _, violations = jc_subset.check_dir(fixture_classes)
    assert [str(v) for v in violations if v.member.startswith(("cast(", "inApi("))] == []


def test_class_version_51_is_refused(tmp_path: Path) -> None:
    """What JDK 17's javac makes at the lowest (--release 7): the 3.0.4 and 3.0.5 converters refuse it."""
    javac = shutil.which("javac")
    assert javac, "javac not found: install a JDK 17 (scripts/setup.sh does)"
    source = FIXTURES / "cardsmith" / "fixture" / "ForEachIndex.java"
    subprocess.run([javac, "--release", "7", "-Xlint:-options", "-d", str(tmp_path), str(source)], check=True)
    _, violations = jc_subset.check_dir(tmp_path)
    assert "cardsmith.fixture.ForEachIndex: class file version 51 (the 3.0.4 and 3.0.5 converters take <= 50, " \
           "Java 6: compile with ecj -1.6 as `ant compile` does)" in [str(v) for v in violations]


def test_no_field_is_written_per_command_but_the_transaction_units_flag() -> None:
    """Fields are persistent on a card: per-command state lives in transient arrays (Cmac's cipher is asked
    for on each use, not kept in a field), persistent state in arrays written through Tx. The one field
    written is Tx's unit flag, only inside the unit's own transaction (applet/build-prod/Tx.java)."""
    classes = [jc_subset.ClassFile(p.read_bytes()) for p in (ROOT / "build" / "classes" / "applet").rglob("*.class")]
    assert jc_subset.field_writes_after_install(classes) == [
        "Tx.abort writes Tx.unit", "Tx.beginUnit writes Tx.unit", "Tx.commitUnit writes Tx.unit"]


def test_a_field_written_per_command_is_found(fixture_classes: Path) -> None:
    classes = [jc_subset.ClassFile(p.read_bytes()) for p in fixture_classes.rglob("*.class")]
    assert "IntCounter.process writes IntCounter.count" in jc_subset.field_writes_after_install(classes)
