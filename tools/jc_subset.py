#!/usr/bin/env python3
"""Java Card 3.0.4 language-subset check of compiled applet classes (an interim guard, NOT a conversion).

    python tools/jc_subset.py [CLASSES_DIR]      # default build/classes/applet; exit 1 on a violation

What a converter would reject first, read straight from the class files: class-file versions above 50;
int/long/float/double/char/String in field, method and local-variable types (locals need javac -g, which
`ant compile` uses); long/float/double/char/int-array bytecodes, monitors, invokedynamic (lambdas, string
concatenation), multi-dimensional arrays; String, long, float and double constants and int constants
outside the short range; and references to anything outside the Java Card API (java.util, String,
StringBuilder, Math, System, ...); and allocation after install: `new`, arrays, transient arrays, keys or
algorithm instances in anything process/select/deselect reach (each would leak persistent memory per
command on a card); what real cards' converters also refuse: int constants of 0x8000 and above, a for-each
loop's hidden int index and length, java.lang members the API lacks (notify, printStackTrace, an array's
clone, ...), code in static initialisers other than arrays of constants, synchronized methods, more than
255 local variable slots; int intermediates (arithmetic used by a divide, a compare, an index, a call ...
before its cast back to short: tools/jc_intflow.py); references to classes, methods and fields outside
the Java Card 3.0.4 Classic API, checked against its signature list (tools/jc_api.py,
tools/jc_api_3.0.4.txt: a jCardSim class, a method 3.0.5 added). Each violation names class, method (or
field), source line and what is wrong.

It is not a substitute for the converter: it does not translate bytecode, assign tokens, nor check JCVM
limits or CAP size. With an Oracle kit, tests/applet/test_kit_conversion.py runs the real converter and
off-card verifier (docs/card-requirements.md, "Converting with an Oracle kit").
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jc_api import Api
from jc_intflow import int_intermediates

ROOT = Path(__file__).resolve().parents[1]
MAX_CLASS_MAJOR = 50  # what `ant compile` emits (ecj -1.6): the 3.0.4 and 3.0.5 converters refuse 51

# java.lang as the Java Card API has it (JC 3.0.4 Classic): everything else in java.* is absent.
JAVA_LANG = {
    "Object", "Throwable", "Exception", "RuntimeException", "ArithmeticException",
    "ArrayIndexOutOfBoundsException", "ArrayStoreException", "ClassCastException", "IndexOutOfBoundsException",
    "NegativeArraySizeException", "NullPointerException", "SecurityException",
}  # fmt: skip
# The members of java.lang the Java Card 3.0.4 API has: Object's constructor and equals, every Throwable's
# constructor (no printStackTrace, getMessage, notify, wait, clone, hashCode, toString ...).
JAVA_LANG_MEMBERS = {"Object": {"<init>", "equals"}}
API_PACKAGES = ("javacard/", "javacardx/", "java/rmi/", "java/io/IOException")
BAD_TYPES = {"I": "int", "J": "long", "F": "float", "D": "double", "C": "char"}

# Opcodes outside the Java Card VM's instruction set (long, float, double, char, monitors, ...).
BAD_OPCODES: dict[int, str] = {}
for _name, _codes in {
    "long": [0x09, 0x0A, 0x16, 0x1E, 0x1F, 0x20, 0x21, 0x2F, 0x37, 0x3F, 0x40, 0x41, 0x42, 0x50, 0x61, 0x65, 0x69,
             0x6D, 0x71, 0x75, 0x79, 0x7B, 0x7D, 0x7F, 0x81, 0x83, 0x85, 0x88, 0x89, 0x8A, 0x8C, 0x8F, 0x94, 0xAD],
    "float": [0x0B, 0x0C, 0x0D, 0x17, 0x22, 0x23, 0x24, 0x25, 0x30, 0x38, 0x43, 0x44, 0x45, 0x46, 0x51, 0x62,
              0x66, 0x6A, 0x6E, 0x72, 0x76, 0x86, 0x8B, 0x8D, 0x95, 0x96, 0xAE],
    "double": [0x0E, 0x0F, 0x18, 0x26, 0x27, 0x28, 0x29, 0x31, 0x39, 0x47, 0x48, 0x49, 0x4A, 0x52, 0x63, 0x67,
               0x6B, 0x6F, 0x73, 0x77, 0x87, 0x8E, 0x90, 0x97, 0x98, 0xAF],
    "int array": [0x2E, 0x4F],
    "char": [0x34, 0x55, 0x92],
    "monitor (synchronized)": [0xC2, 0xC3],
    "invokedynamic (lambda or string concatenation)": [0xBA],
    "multi-dimensional array": [0xC5],
}.items():  # fmt: skip
    for _c in _codes:
        BAD_OPCODES[_c] = _name
# Opcodes whose operand is a constant-pool index: ldc, ldc_w, ldc2_w, field/method refs, new, anewarray, casts.
CP_OPERAND = {0x12, 0x13, 0x14, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBB, 0xBD, 0xC0, 0xC1}
NEWARRAY_TYPES = {5: "char", 6: "float", 7: "double", 10: "int", 11: "long"}

# Operand lengths of the fixed-size opcodes (tableswitch/lookupswitch/wide are handled in code).
_OPERANDS = {0x10: 1, 0x11: 2, 0x12: 1, 0x13: 2, 0x14: 2, 0xBC: 1, 0xBD: 2, 0xC0: 2, 0xC1: 2, 0xBB: 2, 0xC5: 3,
             0x84: 2, 0xB9: 4, 0xBA: 4, 0xC8: 4, 0xC9: 4, 0xA9: 1}  # fmt: skip
for _c in range(0x15, 0x1A):
    _OPERANDS[_c] = 1  # xload index
for _c in range(0x36, 0x3B):
    _OPERANDS[_c] = 1  # xstore index
for _c in list(range(0x99, 0xA9)) + [0xC6, 0xC7]:
    _OPERANDS[_c] = 2  # branches
for _c in range(0xB2, 0xB9):
    _OPERANDS[_c] = 2  # field and method refs


@dataclass(frozen=True)
class Violation:
    cls: str
    member: str
    line: int | None
    what: str

    def __str__(self) -> str:
        where = f"{self.cls.replace('/', '.')}.{self.member}" if self.member else self.cls.replace("/", ".")
        at = f" (line {self.line})" if self.line else ""
        return f"{where}{at}: {self.what}"


class ClassFile:
    """The parts of a class file the check reads."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        magic, _minor, self.major, count = struct.unpack_from(">IHHH", data, 0)
        if magic != 0xCAFEBABE:
            raise ValueError("not a class file")
        self.cp: list[tuple] = [()]
        pos = 10
        i = 1
        while i < count:
            tag = data[pos]
            if tag == 1:
                (n,) = struct.unpack_from(">H", data, pos + 1)
                self.cp.append((1, data[pos + 3 : pos + 3 + n].decode("utf-8", "replace")))
                pos += 3 + n
            elif tag in (3, 4):
                self.cp.append((tag, struct.unpack_from(">i" if tag == 3 else ">f", data, pos + 1)[0]))
                pos += 5
            elif tag in (5, 6):
                self.cp.extend([(tag, None), ()])
                pos += 9
                i += 1
            elif tag in (7, 8, 16, 19, 20):
                self.cp.append((tag, struct.unpack_from(">H", data, pos + 1)[0]))
                pos += 3
            elif tag == 15:
                self.cp.append((tag, None))
                pos += 4
            elif tag in (9, 10, 11, 12, 17, 18):
                self.cp.append((tag, *struct.unpack_from(">HH", data, pos + 1)))
                pos += 5
            else:
                raise ValueError(f"unknown constant pool tag {tag}")
            i += 1
        _access, this, sup, n_ifaces = struct.unpack_from(">HHHH", data, pos)
        self.name = self.class_name(this)
        self.supers = ([self.class_name(sup)] if sup else []) + [
            self.class_name(struct.unpack_from(">H", data, pos + 8 + 2 * k)[0]) for k in range(n_ifaces)
        ]
        pos += 8 + 2 * n_ifaces
        self.fields, pos = self._members(pos)
        self.methods, pos = self._members(pos)

    def utf8(self, index: int) -> str:
        return self.cp[index][1]

    def class_name(self, index: int) -> str:
        return self.utf8(self.cp[index][1])

    def _members(self, pos: int) -> tuple[list[dict], int]:
        (count,) = struct.unpack_from(">H", self.data, pos)
        pos += 2
        out = []
        for _ in range(count):
            access, name, desc, n_attrs = struct.unpack_from(">HHHH", self.data, pos)
            pos += 8
            attrs: dict[str, bytes] = {}
            for _ in range(n_attrs):
                a_name, a_len = struct.unpack_from(">HI", self.data, pos)
                attrs[self.utf8(a_name)] = self.data[pos + 6 : pos + 6 + a_len]
                pos += 6 + a_len
            out.append({"name": self.utf8(name), "desc": self.utf8(desc), "attrs": attrs, "access": access})
        return out, pos


def _type_problem(desc: str) -> str | None:
    """What is wrong with a field/local type descriptor, if anything."""
    base = desc.lstrip("[")
    dims = len(desc) - len(base)
    if dims > 1:
        return f"multi-dimensional array type {desc}"
    if base in BAD_TYPES:
        return f"type {BAD_TYPES[base]}{'[]' * dims}"
    if base.startswith("L"):
        return _class_problem(base[1:-1])
    return None


def _class_problem(name: str) -> str | None:
    if name.startswith("java/lang/") and name.count("/") == 2 and name[10:] in JAVA_LANG:
        return None
    if name.startswith(API_PACKAGES):
        return None
    if name.startswith("java/"):
        return f"{name.replace('/', '.')} is not in the Java Card API"
    return None


def _method_types(desc: str) -> list[str]:
    params, ret = desc[1:].split(")")
    out: list[str] = []
    i = 0
    while i < len(params):
        j = i
        while params[j] == "[":
            j += 1
        j = params.index(";", j) + 1 if params[j] == "L" else j + 1
        out.append(params[i:j])
        i = j
    return out + ([] if ret == "V" else [ret])


def _lines(code_attrs: dict[str, bytes]) -> list[tuple[int, int]]:
    table = code_attrs.get("LineNumberTable")
    if not table:
        return []
    (n,) = struct.unpack_from(">H", table, 0)
    return sorted(struct.unpack_from(">HH", table, 2 + 4 * k) for k in range(n))


def _line_at(lines: list[tuple[int, int]], pc: int) -> int | None:
    found = None
    for start, line in lines:
        if start <= pc:
            found = line
    return found


def _constant_problem(cf: ClassFile, index: int) -> str | None:
    """What is wrong with constant-pool entry index (a constant, a class or a member reference)."""
    entry = cf.cp[index]
    if not entry:
        return None
    tag = entry[0]
    if tag == 8:
        return f'String constant "{cf.utf8(entry[1])}"'
    if tag == 5:
        return "long constant"
    if tag in (4, 6):
        return "float/double constant"
    if tag == 3 and not -32768 <= entry[1] <= 32767:
        return f"int constant {entry[1]} outside the short range (0x8000 and above make an int)"
    if tag == 7:
        name = cf.class_name(index)
        problem = _type_problem(name) if name.startswith("[") else _class_problem(name)
        return f"uses {problem}" if problem else None
    if tag in (9, 10, 11):
        owner = _constant_problem(cf, entry[1])
        if owner:
            return owner
        owner_name = cf.class_name(entry[1])
        member_name = cf.utf8(cf.cp[entry[2]][1])
        if owner_name.startswith("["):
            return f"array method {member_name}() is not in the Java Card API"
        allowed = JAVA_LANG_MEMBERS.get(owner_name[10:], {"<init>"})
        if owner_name.startswith("java/lang/") and member_name not in allowed:
            return f"{owner_name.replace('/', '.')}.{member_name} is not in the Java Card API"
        desc = cf.utf8(cf.cp[entry[2]][2])
        for t in _method_types(desc) if desc.startswith("(") else [desc]:
            problem = _type_problem(t)
            if problem:
                return f"calls or reads {cf.utf8(cf.cp[entry[2]][1])} with {problem}"
    return None


ACC_SYNCHRONIZED = 0x0020
MAX_LOCALS = 255  # a JCVM method frame has at most 255 local variable slots
# What a static initialiser may do on a card: create arrays of constants and store them in static fields
# (the converter turns them into the static field image). Pushes of constants, newarray, dup, array stores,
# putstatic, return.
CLINIT_OPCODES = set(range(0x01, 0x12)) | {0x12, 0x13, 0xBC, 0x59, 0x4F, 0x54, 0x56, 0xB3, 0xB1}
# Int-category local stores and iinc (slot None: in the operand), to find a for-each loop's hidden int index
# and length: slots the local-variable table does not name.
_LOCAL_OPS = {0x36: None, 0x84: None, **{0x3B + n: n for n in range(4)}}


def check_class(cf: ClassFile) -> list[Violation]:
    out: list[Violation] = []
    if cf.major > MAX_CLASS_MAJOR:
        out.append(Violation(cf.name, "", None, f"class file version {cf.major} (the 3.0.4 and 3.0.5 converters "
                             "take <= 50, Java 6: compile with ecj -1.6 as `ant compile` does)"))
    for f in cf.fields:
        problem = _type_problem(f["desc"])
        if problem:
            out.append(Violation(cf.name, f["name"], None, f"field of {problem}"))
    for m in cf.methods:
        member = f"{m['name']}{m['desc']}"
        if m["access"] & ACC_SYNCHRONIZED:
            out.append(Violation(cf.name, member, None, "synchronized method"))
        for t in _method_types(m["desc"]):
            problem = _type_problem(t)
            if problem:
                out.append(Violation(cf.name, member, None, f"parameter or return of {problem}"))
        code = m["attrs"].get("Code")
        if code is not None:
            out.extend(_check_code(cf, member, code))
    # Whatever the code did not show (a superclass, an interface, a handler type) is reported per class.
    reported = {v.what for v in out}
    for index in range(1, len(cf.cp)):
        problem = _constant_problem(cf, index)
        if problem and problem not in reported and cf.cp[index][0] in (7, 8):
            out.append(Violation(cf.name, "", None, problem))
            reported.add(problem)
    return list(dict.fromkeys(out))  # one line per distinct violation and place


def _code_parts(cf: ClassFile, code: bytes) -> tuple[bytes, dict[str, bytes]]:
    """The bytecode of a Code attribute and its own attributes (line numbers, local variables)."""
    (code_len,) = struct.unpack_from(">I", code, 4)
    body = code[8 : 8 + code_len]
    pos = 8 + code_len
    (n_ex,) = struct.unpack_from(">H", code, pos)
    pos += 2 + 8 * n_ex
    (n_attrs,) = struct.unpack_from(">H", code, pos)
    pos += 2
    attrs: dict[str, bytes] = {}
    for _ in range(n_attrs):
        a_name, a_len = struct.unpack_from(">HI", code, pos)
        attrs[cf.utf8(a_name)] = code[pos + 6 : pos + 6 + a_len]
        pos += 6 + a_len
    return body, attrs


def _handlers(code: bytes) -> list[int]:
    """Start pcs of a Code attribute's exception handlers."""
    (code_len,) = struct.unpack_from(">I", code, 4)
    (n_ex,) = struct.unpack_from(">H", code, 8 + code_len)
    return [struct.unpack_from(">H", code, 10 + code_len + 8 * k + 4)[0] for k in range(n_ex)]


def _instructions(body: bytes) -> Iterator[tuple[int, int]]:
    """(pc, opcode) of every instruction."""
    pc = 0
    while pc < len(body):
        op = body[pc]
        yield pc, op
        if op in (0xAA, 0xAB):  # tableswitch / lookupswitch: 4-byte aligned operands
            base = pc + 1 + (-(pc + 1) % 4)
            if op == 0xAA:
                low, high = struct.unpack_from(">ii", body, base + 4)
                pc = base + 12 + 4 * (high - low + 1)
            else:
                (npairs,) = struct.unpack_from(">i", body, base + 4)
                pc = base + 8 + 8 * npairs
        elif op == 0xC4:  # wide
            pc += 6 if body[pc + 1] == 0x84 else 4
        else:
            pc += 1 + _OPERANDS.get(op, 0)


def _check_code(cf: ClassFile, member: str, code: bytes) -> list[Violation]:
    out: list[Violation] = []
    body, attrs = _code_parts(cf, code)
    lines = _lines(attrs)
    (max_locals,) = struct.unpack_from(">H", code, 2)
    if max_locals > MAX_LOCALS:
        out.append(Violation(cf.name, member, _line_at(lines, 0),
                             f"{max_locals} local variable slots (the Java Card VM allows {MAX_LOCALS})"))
    lvt = attrs.get("LocalVariableTable")
    scopes: list[tuple[int, int, int]] = []  # (slot, start, end) of every named local
    if lvt:
        (n,) = struct.unpack_from(">H", lvt, 0)
        for k in range(n):
            start, length, name, desc, slot = struct.unpack_from(">HHHHH", lvt, 2 + 10 * k)
            scopes.append((slot, start, start + length))
            problem = _type_problem(cf.utf8(desc))
            if problem:
                out.append(Violation(cf.name, member, _line_at(lines, start),
                                     f"local variable '{cf.utf8(name)}' of {problem}"))
    clinit = member.startswith("<clinit>")
    instructions = list(_instructions(body))
    descriptor = lambda i: cf.utf8(cf.cp[cf.cp[i][2]][2])  # noqa: E731  (of a member reference)
    for pc, consumer in int_intermediates(body, instructions, _handlers(code), descriptor):
        out.append(Violation(cf.name, member, _line_at(lines, pc), f"int intermediate used by {consumer} before a "
                             "cast to short or byte (the converter refuses it: cast the arithmetic, (short) (a * b))"))
    for i, (pc, op) in enumerate(instructions):
        if clinit and op not in CLINIT_OPCODES:
            out.append(Violation(cf.name, member, _line_at(lines, pc),
                                 f"static initialiser runs code (opcode 0x{op:02X}): only arrays of constants"))
        # iinc works on ints only (javac increments a short with iadd, i2s), and an array length stored in a
        # slot the table does not name is a for-each loop's hidden int
        stored_length = op in _LOCAL_OPS and op != 0x84 and i > 0 and instructions[i - 1][1] == 0xBE
        if lvt and (op == 0x84 or stored_length):
            slot = _LOCAL_OPS[op]
            if slot is None:
                slot = body[pc + 1]
            after = instructions[i + 1][0] if i + 1 < len(instructions) else len(body)
            # a store comes just before its variable's scope opens; a load or iinc is inside it
            if not any(s == slot and start <= after and pc < end for s, start, end in scopes):
                out.append(Violation(cf.name, member, _line_at(lines, pc),
                                     f"hidden int local in slot {slot} (a for-each loop's index: use a short index)"))

        if op in BAD_OPCODES:
            out.append(Violation(cf.name, member, _line_at(lines, pc), f"{BAD_OPCODES[op]} bytecode 0x{op:02X}"))
        if op == 0xBC and body[pc + 1] in NEWARRAY_TYPES:
            out.append(Violation(cf.name, member, _line_at(lines, pc),
                                 f"new {NEWARRAY_TYPES[body[pc + 1]]}[] array"))
        if op in CP_OPERAND:
            index = body[pc + 1] if op == 0x12 else struct.unpack_from(">H", body, pc + 1)[0]
            problem = _constant_problem(cf, index)
            if problem:
                out.append(Violation(cf.name, member, _line_at(lines, pc), problem))
    return out


# ---------------------------------------------------------------- allocation after install

# Methods the runtime calls for every APDU or selection: nothing they reach may allocate (a card has no
# garbage collector worth the name, so each allocation is persistent memory lost per command).
RUNTIME_ENTRY_POINTS = {
    ("process", "(Ljavacard/framework/APDU;)V"),
    ("select", "()Z"),
    ("deselect", "()V"),
    ("getShareableInterfaceObject", "(Ljavacard/framework/AID;B)Ljavacard/framework/Shareable;"),
    ("uninstall", "()V"),
}
# Platform calls that allocate (objects or transient arrays).
ALLOCATING_CALLS = {
    ("javacard/framework/JCSystem", "makeTransientBooleanArray"),
    ("javacard/framework/JCSystem", "makeTransientByteArray"),
    ("javacard/framework/JCSystem", "makeTransientShortArray"),
    ("javacard/framework/JCSystem", "makeTransientObjectArray"),
    ("javacard/security/KeyBuilder", "buildKey"),
    ("javacardx/crypto/Cipher", "getInstance"),
    ("javacard/security/Signature", "getInstance"),
    ("javacard/security/MessageDigest", "getInstance"),
    ("javacard/security/KeyAgreement", "getInstance"),
    ("javacard/security/RandomData", "getInstance"),
    ("javacard/security/Checksum", "getInstance"),
}
_INVOKES = {0xB6, 0xB7, 0xB8, 0xB9}


def _member_ref(cf: ClassFile, index: int) -> tuple[str, str, str]:
    _tag, owner, nat = cf.cp[index]
    return cf.class_name(owner), cf.utf8(cf.cp[nat][1]), cf.utf8(cf.cp[nat][2])


def _after_install(classes: list[ClassFile]) -> Iterator[tuple[ClassFile, str, list, str, bytes, int, int]]:
    """(class, member, line table, call chain, bytecode, pc, opcode) of every instruction in the methods the
    runtime's per-APDU entry points reach (calls followed through the applet's classes; a virtual call to
    every method of that name and signature)."""
    methods: dict[tuple[str, str, str], tuple[ClassFile, bytes]] = {}
    for cf in classes:
        for m in cf.methods:
            if "Code" in m["attrs"]:
                methods[(cf.name, m["name"], m["desc"])] = (cf, m["attrs"]["Code"])
    by_signature: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for key in methods:
        by_signature.setdefault((key[1], key[2]), []).append(key)

    parent: dict[tuple[str, str, str], tuple[str, str, str] | None] = {
        key: None for key in methods if (key[1], key[2]) in RUNTIME_ENTRY_POINTS
    }
    queue = list(parent)
    while queue:
        key = queue.pop(0)
        cf, code = methods[key]
        body, attrs = _code_parts(cf, code)
        lines = _lines(attrs)
        chain = _chain(parent, key)
        member = f"{key[1]}{key[2]}"
        for pc, op in _instructions(body):
            yield cf, member, lines, chain, body, pc, op
            if op in _INVOKES:
                owner, name, desc = _member_ref(cf, struct.unpack_from(">H", body, pc + 1)[0])
                callees = [(owner, name, desc)] if op in (0xB7, 0xB8) else by_signature.get((name, desc), [])
                for callee in callees:
                    if callee in methods and callee not in parent:
                        parent[callee] = key
                        queue.append(callee)


def check_allocations(classes: list[ClassFile]) -> list[Violation]:
    """Allocations reachable from the runtime's per-APDU entry points, with the call chain that reaches them."""
    out: list[Violation] = []
    for cf, member, lines, chain, body, pc, op in _after_install(classes):
        what = None
        if op in (0xBB, 0xBC, 0xBD, 0xC5):
            what = {0xBB: "new object", 0xBC: "new array", 0xBD: "new array", 0xC5: "new array"}[op]
            if op in (0xBB, 0xBD):
                what += f" {cf.class_name(struct.unpack_from('>H', body, pc + 1)[0]).replace('/', '.')}"
        elif op in _INVOKES:
            owner, name, _desc = _member_ref(cf, struct.unpack_from(">H", body, pc + 1)[0])
            if (owner, name) in ALLOCATING_CALLS:
                what = f"{owner.rsplit('/', 1)[-1]}.{name}"
        if what:
            out.append(Violation(cf.name, member, _line_at(lines, pc),
                                 f"allocates after install ({what}), reached from {chain}"))
    return out


def field_writes_after_install(classes: list[ClassFile]) -> list[str]:
    """"Class.method writes Owner.field" for every putfield/putstatic the per-APDU entry points reach.

    A field of an applet object is persistent memory on a card: written per command it wears the EEPROM
    and, outside a transaction, can tear. The applet keeps per-command state in transient arrays and
    persistent state in arrays written through Tx; tests/applet/test_jc_subset.py pins the few writes there are.
    """
    out = []
    for cf, member, _lines, _chain, body, pc, op in _after_install(classes):
        if op in (0xB3, 0xB5):
            owner, name, _desc = _member_ref(cf, struct.unpack_from(">H", body, pc + 1)[0])
            out.append(f"{cf.name.rsplit('/', 1)[-1]}.{member.split('(')[0]} writes {owner.rsplit('/', 1)[-1]}.{name}")
    return sorted(set(out))


def _chain(parent: dict, key: tuple[str, str, str]) -> str:
    names = []
    node = key
    while node is not None:
        names.append(f"{node[0].rsplit('/', 1)[-1]}.{node[1]}")
        node = parent[node]
    return " <- ".join(names)


def check_api(classes: list[ClassFile]) -> list[Violation]:
    """References to platform classes and members outside the Java Card 3.0.4 API (tools/jc_api.py)."""
    api = Api({cf.name: (cf.supers, {f"{m['name']}:{m['desc']}" for m in cf.fields + cf.methods}) for cf in classes})

    def problem(cf: ClassFile, index: int) -> str | None:
        entry = cf.cp[index]
        if not entry or entry[0] not in (7, 9, 10, 11):
            return None
        owner = cf.class_name(index if entry[0] == 7 else entry[1])
        if owner.startswith("java/"):
            return None  # java.*: the subset check's own rules (_class_problem, JAVA_LANG_MEMBERS)
        if entry[0] == 7:
            return api.class_problem(owner)
        nat = cf.cp[entry[2]]
        return api.member_problem(owner, cf.utf8(nat[1]), cf.utf8(nat[2]))

    out: list[Violation] = []
    for cf in classes:
        for sup in cf.supers:
            what = None if sup.startswith("java/") else api.class_problem(sup)
            if what:
                out.append(Violation(cf.name, "", None, f"extends or implements {what}"))
        for m in cf.methods:
            code = m["attrs"].get("Code")
            if code is None:
                continue
            body, attrs = _code_parts(cf, code)
            lines = _lines(attrs)
            for pc, op in _instructions(body):
                if op in CP_OPERAND and op not in (0x12, 0x13, 0x14):
                    what = problem(cf, struct.unpack_from(">H", body, pc + 1)[0])
                    if what:
                        out.append(Violation(cf.name, f"{m['name']}{m['desc']}", _line_at(lines, pc), what))
    return list(dict.fromkeys(out))


def check_dir(classes: Path) -> tuple[int, list[Violation]]:
    """(number of classes read, violations) for every .class under classes."""
    parsed = [ClassFile(path.read_bytes()) for path in sorted(classes.rglob("*.class"))]
    violations: list[Violation] = []
    for cf in parsed:
        violations.extend(check_class(cf))
    violations.extend(check_api(parsed))
    violations.extend(check_allocations(parsed))
    return len(parsed), violations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classes", nargs="?", default=str(ROOT / "build" / "classes" / "applet"))
    args = parser.parse_args(argv)
    classes = Path(args.classes)
    count, violations = check_dir(classes)
    if count == 0:
        print(f"jc_subset: no class files under {classes}: run `ant compile` first", file=sys.stderr)
        return 2
    for v in violations:
        print(f"jc_subset: {v}", file=sys.stderr)
    if violations:
        print(f"jc_subset: {len(violations)} violation(s) of the Java Card subset in {classes}", file=sys.stderr)
        return 1
    print(f"jc_subset: {count} classes in {classes} stay inside the Java Card 3.0.4 subset (interim check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
