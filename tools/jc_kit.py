#!/usr/bin/env python3
"""Convert compiled applet classes with an Oracle Java Card kit's converter and run its off-card verifier.

    JC_HOME=/path/to/kit python tools/jc_kit.py [--target 3.0.4] [CLASSES_DIR]   # default build/classes/applet

The kit's own tools, called directly (no ant-javacard): `com.sun.javacard.converter.Main` makes the CAP,
`com.sun.javacard.offcardverifier.Verifier` checks it against the target version's export files. A 3.1/3.2
kit converts for an older version with `-target` (its tools.jar carries `api_export_files_<version>/`); a
3.0.4 or 3.0.5 kit only for its own version (its `api_export_files/`). `ant cap` builds the CAP users load;
this is the check tests/applet/test_kit_conversion.py runs when JC_HOME is set (docs/card-requirements.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Package:
    """What the converter is told about the classes: the package, its AID and version, its one applet."""

    name: str
    aid: str
    applet: str
    applet_aid: str
    version: str = "0.1"


# as build.xml's `cap` target names it
CARDSMITH = Package("cardsmith.applet", "F063617264736D697468", "cardsmith.applet.CardsmithApplet",
                    "F063617264736D69746801")


class KitError(Exception):
    """The kit is unusable, or its converter or verifier rejected the classes (message: their output)."""


@dataclass(frozen=True)
class Kit:
    root: Path
    version: str  # the converter's version: 3.0.4, 3.0.5, 3.1.0, 3.2.0, 24.1, 25.0, 25.1 ...

    @classmethod
    def at(cls, root: Path) -> Kit:
        tools = root / "lib" / "tools.jar"
        if not tools.is_file():
            raise KitError(f"{tools} not found: JC_HOME must be the root of a Java Card kit (bin/, lib/)")
        with zipfile.ZipFile(tools) as z:
            text = z.read("com/sun/javacard/toolsversion.properties").decode("latin-1")
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "converter.version":
                return cls(root, value.strip())
        raise KitError(f"{tools}: no converter.version in toolsversion.properties")

    def targets(self, target: str) -> bool:
        """Whether this kit converts for Java Card `target` (a multi-target kit, or its own version)."""
        return self.version == target or (self.root / "lib" / f"api_classic-{target}.jar").is_file()

    def multi_target(self) -> bool:
        return any((self.root / "lib").glob("api_classic-*.jar"))

    def classpath(self) -> str:
        # tools.jar first; the 3.0.4 kit's bytecode profiler carries older copies of converter classes.
        lib = self.root / "lib"
        jars = [lib / "tools.jar"] + sorted(
            p for p in lib.glob("*.jar") if p.name != "tools.jar" and not p.name.startswith("JCBytecodeProfiler")
        )
        return os.pathsep.join(str(p) for p in jars)

    def java(self, main: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        command = ["java", f"-Djc.home={self.root}", "-cp", self.classpath(), main, *args]
        return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)

    def export_files(self, target: str, scratch: Path) -> list[Path]:
        """The target version's API export files (extracted from tools.jar for a multi-target kit)."""
        if not self.multi_target():
            return sorted((self.root / "api_export_files").rglob("*.exp"))
        prefix = f"api_export_files_{target}/"
        with zipfile.ZipFile(self.root / "lib" / "tools.jar") as z:
            names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".exp")]
            z.extractall(scratch, names)
        return sorted(scratch.joinpath(n) for n in names)


def _aid(hex_aid: str) -> str:
    return ":".join(f"0x{hex_aid[i:i + 2]}" for i in range(0, len(hex_aid), 2))


def _failed(result: subprocess.CompletedProcess[str]) -> bool:
    # the 25.x converter can exit 0 after errors: its summary line is the verdict
    out = result.stdout + result.stderr
    return result.returncode != 0 or " 0 errors" not in out


def convert(kit: Kit, classes: Path, target: str, out: Path, package: Package = CARDSMITH) -> Path:
    """The CAP file of `package` in `classes` for Java Card `target`, written under `out`."""
    if not kit.targets(target):
        raise KitError(f"the kit in {kit.root} (version {kit.version}) cannot convert for Java Card {target}")
    where = ["-target", target] if kit.multi_target() else ["-exportpath", str(kit.root / "api_export_files")]
    result = kit.java("com.sun.javacard.converter.Main", [
        "-nobanner", *where, "-classdir", str(classes), "-d", str(out), "-out", "CAP", "EXP",
        "-applet", _aid(package.applet_aid), package.applet, package.name, _aid(package.aid), package.version,
    ])  # fmt: skip
    cap = out.joinpath(*package.name.split("."), "javacard", f"{package.name.rsplit('.', 1)[-1]}.cap")
    if _failed(result) or not cap.is_file():
        raise KitError(f"converter {kit.version} rejected {classes}:\n{result.stdout}{result.stderr}")
    return cap


def verify(kit: Kit, cap: Path, target: str) -> str:
    """Run the kit's off-card verifier on `cap` against the target's export files; its output."""
    with tempfile.TemporaryDirectory() as scratch:
        exports = kit.export_files(target, Path(scratch))
        if not exports:
            raise KitError(f"the kit in {kit.root} has no export files for Java Card {target}")
        result = kit.java("com.sun.javacard.offcardverifier.Verifier",
                          ["-nobanner", *map(str, exports), str(cap)])
    if _failed(result):
        raise KitError(f"off-card verifier {kit.version} rejected {cap}:\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def cap_versions(cap: Path) -> tuple[str, dict[str, str]]:
    """(CAP format "major.minor", {imported package AID hex: "major.minor"}) from the Header and Import components."""
    with zipfile.ZipFile(cap) as z:
        names = {n.rsplit("/", 1)[-1]: n for n in z.namelist() if "/javacard/" in n}
        header = z.read(names["Header.cap"])
        imports = z.read(names["Import.cap"])
    packages: dict[str, str] = {}
    pos = 4  # tag, u2 size, u1 count
    for _ in range(imports[3]):
        minor, major, length = imports[pos], imports[pos + 1], imports[pos + 2]
        packages[imports[pos + 3 : pos + 3 + length].hex().upper()] = f"{major}.{minor}"
        pos += 3 + length
    return f"{header[8]}.{header[7]}", packages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classes", nargs="?", default=str(ROOT / "build" / "classes" / "applet"))
    parser.add_argument("--target", default="3.0.4", choices=["3.0.4", "3.0.5"])
    args = parser.parse_args(argv)
    home = os.environ.get("JC_HOME")
    if not home:
        print("jc_kit: JC_HOME is not set: point it at an Oracle Java Card kit (docs/card-requirements.md)",
              file=sys.stderr)
        return 2
    try:
        kit = Kit.at(Path(home))
        with tempfile.TemporaryDirectory() as out:
            cap = convert(kit, Path(args.classes), args.target, Path(out))
            verify(kit, cap, args.target)
            fmt, _ = cap_versions(cap)
    except KitError as e:
        print(f"jc_kit: {e}", file=sys.stderr)
        return 1
    print(f"jc_kit: kit {kit.version} converted {args.classes} for Java Card {args.target} (CAP format {fmt}); "
          "the off-card verifier passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
