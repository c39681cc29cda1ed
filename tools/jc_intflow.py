"""Int intermediates: arithmetic whose 32-bit result is used before a cast back to short or byte.

The JVM computes `a * b` of two shorts as an int; the Java Card converter accepts that only when the result
goes straight into a cast (`(short) (a * b)`), or into more arithmetic that ends in one, because a card
computes in 16 bits and the value is the same only after the cast. It refuses (without its int option)
`(short) ((a * b) / c)` (the divide sees the 32-bit product) and `if (a + b > c)` (the compare does):
"unsupported int type of intermediate value, must cast intermediate value to type short or byte".

This module follows the operand stack through a method's bytecode and reports every instruction that
consumes such a value: anything but more wrapping arithmetic (add, subtract, multiply, negate, shift left,
and/or/xor), a cast (`i2s`, `i2b`), a stack shuffle or a pop.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

WIDE = "int"  # a value that may hold more than 16 bits
CLEAN = ""

# Result may leave the 16-bit range whatever the operands: iadd, isub, imul, ineg, ishl.
_WIDENING = {0x60, 0x64, 0x68, 0x74, 0x78}
# Result as wide as the widest operand: iand, ior, ixor.
_PASSING = {0x7E, 0x80, 0x82}
_CASTS = {0x91, 0x93}  # i2b, i2s
_NAMES = {0x6C: "a divide", 0x70: "a remainder", 0x7A: "a shift right", 0x7C: "a shift right",
          0xAA: "a switch", 0xAB: "a switch", 0xAC: "a return", 0xBC: "an array size",
          **{op: "a compare" for op in range(0x99, 0xA5)}}  # fmt: skip
_ARRAY_LOADS = set(range(0x2E, 0x36))
_ARRAY_STORES = set(range(0x4F, 0x57))
_UNCONDITIONAL = {0xA7, 0xC8, 0xA9, 0xAA, 0xAB, 0xBF, *range(0xAC, 0xB2)}


def _slots(desc: str) -> int:
    """Operand stack entries a method descriptor's parameters take (long/double count once: refused anyway)."""
    params = desc[1 : desc.index(")")]
    count = i = 0
    while i < len(params):
        while params[i] == "[":
            i += 1
        i = params.index(";", i) + 1 if params[i] == "L" else i + 1
        count += 1
    return count


def _effect(op: int, body: bytes, pc: int, ref_desc: Callable[[int], str]) -> tuple[int, int]:
    """(values popped, values pushed) of the instruction at pc (shuffles are handled by the caller)."""
    if op <= 0x14 or 0x15 <= op <= 0x2D or op in (0xBB, 0xA8):
        return (0, 1) if op else (0, 0)
    if op in _ARRAY_LOADS:
        return 2, 1
    if 0x36 <= op <= 0x4E:
        return 1, 0
    if op in _ARRAY_STORES:
        return 3, 0
    if 0x60 <= op <= 0x73 or 0x78 <= op <= 0x83 or 0x94 <= op <= 0x98:
        return 2, 1
    if 0x74 <= op <= 0x77 or 0x85 <= op <= 0x93 or op in (0xBC, 0xBD, 0xBE, 0xC0, 0xC1, 0xB4):
        return 1, 1
    if 0x99 <= op <= 0x9E or op in (0xAA, 0xAB, 0xBF, 0xC2, 0xC3, 0xC6, 0xC7, 0xB3, 0x57) or 0xAC <= op <= 0xB0:
        return 1, 0
    if 0x9F <= op <= 0xA6 or op in (0xB5, 0x58):
        return 2, 0
    if op == 0xB2:
        return 0, 1
    if op in (0xB6, 0xB7, 0xB8, 0xB9, 0xBA):
        desc = ref_desc(struct.unpack_from(">H", body, pc + 1)[0])
        receiver = 0 if op in (0xB8, 0xBA) else 1
        return _slots(desc) + receiver, 0 if desc.endswith(")V") else 1
    if op == 0xC5:
        return body[pc + 3], 1
    if op == 0xC4:  # wide load / store / iinc
        inner = body[pc + 1]
        return (0, 1) if 0x15 <= inner <= 0x19 else (1, 0) if 0x36 <= inner <= 0x3A else (0, 0)
    return 0, 0


def _targets(op: int, body: bytes, pc: int) -> list[int]:
    if 0x99 <= op <= 0xA8 or op in (0xC6, 0xC7):
        return [pc + struct.unpack_from(">h", body, pc + 1)[0]]
    if op in (0xC8, 0xC9):
        return [pc + struct.unpack_from(">i", body, pc + 1)[0]]
    if op in (0xAA, 0xAB):
        base = pc + 1 + (-(pc + 1) % 4)
        default = struct.unpack_from(">i", body, base)[0]
        if op == 0xAA:
            low, high = struct.unpack_from(">ii", body, base + 4)
            offsets = struct.unpack_from(f">{high - low + 1}i", body, base + 12)
        else:
            (npairs,) = struct.unpack_from(">i", body, base + 4)
            offsets = struct.unpack_from(f">{2 * npairs}i", body, base + 8)[1::2]
        return [pc + default, *(pc + o for o in offsets)]
    return []


def int_intermediates(
    body: bytes, instructions: list[tuple[int, int]], handlers: list[int], ref_desc: Callable[[int], str]
) -> Iterator[tuple[int, str]]:
    """(pc, what) of every instruction that consumes an int intermediate.

    instructions: (pc, opcode) in order; handlers: the exception handlers' start pcs (a handler starts with
    the thrown reference on the stack); ref_desc: a member reference's descriptor by constant-pool index.
    """
    at_target: dict[int, list[str]] = {pc: [CLEAN] for pc in handlers}
    stack: list[str] | None = []
    for pc, op in instructions:
        if pc in at_target and (stack is None or not stack):
            stack = list(at_target[pc])
        if stack is None:
            stack = []
        if 0x59 <= op <= 0x5F:  # dup, dup_x1, dup_x2, dup2, dup2_x1, dup2_x2, swap
            stack = _shuffle(op, stack)
        else:
            pops, pushes = _effect(op, body, pc, ref_desc)
            taken = [stack.pop() if stack else CLEAN for _ in range(pops)]
            wide = WIDE in taken
            if op in _WIDENING or (op in _PASSING and wide):
                result = WIDE
            else:
                result = CLEAN
                if wide and op not in _CASTS and op not in (0x57, 0x58):
                    yield pc, _consumer(op, taken)
            stack.extend([result] * pushes)
        for target in _targets(op, body, pc):
            at_target.setdefault(target, list(stack))
        if op in _UNCONDITIONAL:
            stack = None


def _consumer(op: int, taken: list[str]) -> str:
    if op in _NAMES:
        return _NAMES[op]
    if op in _ARRAY_LOADS or op in _ARRAY_STORES:
        index = taken[0] if op in _ARRAY_LOADS else taken[1]  # popped top first: index, or value then index
        return "an array index" if index == WIDE else "an array store"
    if op in (0xB6, 0xB7, 0xB8, 0xB9):
        return "a method argument"
    return f"opcode 0x{op:02X}"


def _shuffle(op: int, stack: list[str]) -> list[str]:
    s = list(stack)
    while len(s) < 4:
        s.insert(0, CLEAN)
    a, b, c, d = s[-4:]  # d is the top
    head = s[:-4]
    shuffled = {
        0x59: [a, b, c, d, d],
        0x5A: [a, b, d, c, d],
        0x5B: [a, d, b, c, d],
        0x5C: [a, b, c, d, c, d],
        0x5D: [a, c, d, b, c, d],
        0x5E: [c, d, a, b, c, d],
        0x5F: [a, b, d, c],
    }[op]
    return head + shuffled
