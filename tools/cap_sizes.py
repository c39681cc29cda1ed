#!/usr/bin/env python3
"""Sizes of a CAP file's components, or of two CAP files side by side (e.g. two converters' outputs).

    python tools/cap_sizes.py build/cardsmith.cap
    python tools/cap_sizes.py build/cardsmith.cap other/cardsmith.cap

A CAP file is a JAR whose javacard/*.cap entries are the components (JCVM spec 6.1); each entry is the
component as loaded (tag, u2 size, info), so the sum of the entries is the bytes a LOAD sends.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

# Load order of the components (JCVM 3.0.4 spec 6.2); Debug is never loaded.
ORDER = ["Header", "Directory", "Import", "Applet", "Class", "Method", "StaticField", "Export", "ConstantPool",
         "RefLocation", "Descriptor", "Debug"]  # fmt: skip


def component_sizes(cap: Path) -> dict[str, int]:
    """Component name -> bytes, in load order."""
    with zipfile.ZipFile(cap) as z:
        sizes = {
            Path(info.filename).stem: info.file_size
            for info in z.infolist()
            if info.filename.endswith(".cap") and "/javacard/" in f"/{info.filename}"
        }
    if not sizes:
        raise ValueError(f"{cap}: no javacard/*.cap components: not a CAP file")
    return {name: sizes[name] for name in sorted(sizes, key=lambda n: ORDER.index(n) if n in ORDER else 99)}


def table(caps: list[Path]) -> str:
    all_sizes = [component_sizes(c) for c in caps]
    names = list(dict.fromkeys(n for s in all_sizes for n in s))
    width = max(len(str(c)) for c in caps)
    lines = [f"{'component':<14}" + "".join(f"  {str(c):>{width}}" for c in caps)]
    for n in names:
        lines.append(f"{n:<14}" + "".join(f"  {s.get(n, '-'):>{width}}" for s in all_sizes))
    loaded = [sum(v for k, v in s.items() if k != "Debug") for s in all_sizes]
    lines.append(f"{'load total':<14}" + "".join(f"  {t:>{width}}" for t in loaded))
    lines.append(f"{'CAP file':<14}" + "".join(f"  {c.stat().st_size:>{width}}" for c in caps))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(table([Path(a) for a in args]))
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        print(f"cap_sizes: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
