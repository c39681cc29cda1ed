"""A card session: SELECT, command chaining, extended length, GET RESPONSE, 6Cxx, and the APDU trace."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..protocol import PROTOCOL
from ..protocol.codes import Algorithm, Capability, Ins, Lifecycle, Tag
from ..transport import Transport
from .apdu import SHORT_MAX_DATA, CommandApdu, ResponseApdu, command_name, error_for, sw_message
from .errors import CardRefusedError, ProtocolError, UsageError, WrongStateError
from .tlv import as_dict

TraceSink = Callable[[str], None]
GET_RESPONSE_LIMIT = 512  # a card that keeps answering 61xx forever is broken


@dataclass
class WireStats:
    """What crossed the wire: APDU exchanges and bytes in each direction."""

    exchanges: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    seconds: float = 0.0

    def reset(self) -> None:
        self.exchanges = self.bytes_out = self.bytes_in = 0
        self.seconds = 0.0


@dataclass(frozen=True)
class CardInfo:
    version: tuple[int, int, int]
    card_id: bytes
    lifecycle: int
    capabilities: int
    persistent_free: int
    transient_reset_free: int
    transient_deselect_free: int
    page_size: int
    page_count: int
    command_buffer: int
    response_buffer: int
    algorithms: int
    # INFO_COMMIT: the card's commit buffer and the largest WRITE_DATA payload (None from an applet before 1.x
    # that does not report them)
    commit_capacity: int | None = None
    max_write: int | None = None
    raw: dict[int, bytes] = field(repr=False, default_factory=dict)

    @property
    def lifecycle_name(self) -> str:
        try:
            return Lifecycle(self.lifecycle).name
        except ValueError:
            return f"UNKNOWN({self.lifecycle:02X})"

    @property
    def installed(self) -> bool:
        """Personalisation is open (lifecycle INSTALLED)."""
        return self.lifecycle == Lifecycle.INSTALLED

    @property
    def algorithm_names(self) -> list[str]:
        return [a.name for a in Algorithm if self.algorithms & a and a.name]

    @property
    def capability_names(self) -> list[str]:
        return [c.name for c in Capability if self.capabilities & c and c.name]

    def as_json(self) -> dict:
        return {
            "applet_version": ".".join(map(str, self.version)),
            "card_id": self.card_id.hex().upper(),
            "lifecycle": self.lifecycle_name,
            "capabilities": self.capability_names,
            "algorithms": self.algorithm_names,
            "memory": {"persistent_free": self.persistent_free,
                       "transient_reset_free": self.transient_reset_free,
                       "transient_deselect_free": self.transient_deselect_free},
            "data_area": {"page_size": self.page_size, "page_count": self.page_count,
                          "bytes": self.page_size * self.page_count},
            "buffers": {"command": self.command_buffer, "response": self.response_buffer},
            "transactions": {"commit_capacity": self.commit_capacity, "max_write": self.max_write},
        }

    @classmethod
    def parse(cls, data: bytes) -> CardInfo:
        t = as_dict(data)
        try:
            geometry = t[Tag.INFO_DATA_AREA]
            buffers = t[Tag.INFO_BUFFERS]
            commit = t.get(Tag.INFO_COMMIT)
            if commit is not None and len(commit) < 4:
                raise IndexError("INFO_COMMIT is shorter than 4 bytes")
            return cls(
                version=tuple(t[Tag.INFO_VERSION][:3]),  # type: ignore[arg-type]
                card_id=t[Tag.INFO_CARD_ID],
                lifecycle=t[Tag.INFO_LIFECYCLE][0],
                capabilities=int.from_bytes(t[Tag.INFO_CAPABILITIES], "big"),
                persistent_free=int.from_bytes(t[Tag.INFO_PERSISTENT_FREE], "big"),
                transient_reset_free=int.from_bytes(t[Tag.INFO_TRANSIENT_RESET_FREE], "big"),
                transient_deselect_free=int.from_bytes(t[Tag.INFO_TRANSIENT_DESELECT_FREE], "big"),
                page_size=int.from_bytes(geometry[0:2], "big"),
                page_count=int.from_bytes(geometry[2:4], "big"),
                command_buffer=int.from_bytes(buffers[0:2], "big"),
                response_buffer=int.from_bytes(buffers[2:4], "big"),
                algorithms=int.from_bytes(t[Tag.INFO_ALGORITHMS], "big"),
                commit_capacity=None if commit is None else int.from_bytes(commit[0:2], "big"),
                max_write=None if commit is None else int.from_bytes(commit[2:4], "big"),
                raw=t,
            )
        except (KeyError, IndexError) as exc:
            raise ProtocolError(f"GET INFO answer lacks a field ({exc}): is this a cardsmith applet?") from exc


class Channel(Protocol):
    """What :meth:`Card.call` runs every command through while one is attached (``card.channel``): an
    authenticated session's secure messaging (``cardsmith.trust.session.SecureChannel``)."""

    def call(self, card: Card, command: CommandApdu, name: str, sensitive: bool) -> bytes:
        """Sends ``command`` secured; returns the plaintext response data or raises the typed error."""
        ...

    def end(self, reason: str) -> None:
        """The card ended the session (reset, reselect): later calls raise SessionEndedError."""
        ...


@functools.cache
def _routing(code: int) -> tuple[str, int]:
    """The protocol's name of an INS and the CLA protocol.toml gives it (looked up once per INS)."""
    name = command_name(code)
    instruction = PROTOCOL.instructions.get(name)
    return name, PROTOCOL.meta["cla_iso"] if instruction and instruction.cla == "iso" else PROTOCOL.cla


def explain_refusal(card: Card, exc: CardRefusedError, what: str) -> CardRefusedError:
    """A 6985 to a personalisation command on an ISSUED card, said in words with the next step (same type)."""
    if isinstance(exc, WrongStateError) and not card.info().installed:
        return WrongStateError(exc.sw, exc.command,
                               f"{what} is personalisation, and this card is ISSUED (personalisation is closed for "
                               "good): use a blank card (`cardsmith readers`; on the simulator another card with "
                               "`-r \"sim N\"`, or `cardsmith sim start --cards N`)")
    return exc


def _trace_name(ins: int) -> str:
    """The command's name for -v traces, as gp prints it (SELECT is ISO's, the rest protocol.toml's)."""
    return "SELECT" if ins == 0xA4 else command_name(ins)


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


def _secured(cla: int) -> bool:
    """Whether a CLA byte says secure messaging (ISO 7816-4 5.4.1: b4-b3 on channels 0-3, b6 beyond; the
    proprietary class 8x/9x uses the same bits, CLA 84)."""
    return bool(cla & (0x20 if cla & 0x40 else 0x0C))


class Card:
    """The cardsmith applet on one card, reached through one transport."""

    def __init__(self, transport: Transport, trace: TraceSink | None = None,
                 extended: bool | None = None) -> None:
        self.transport = transport
        self.trace = trace
        # None: decide from the transport, and drop to chaining if the card or reader refuses.
        self.extended = transport.supports_extended if extended is None else extended
        self.stats = WireStats()
        self.response_buffer = int(PROTOCOL.meta["response_buffer_size"])
        #: the open authenticated session's secure messaging; None for plain commands
        self.channel: Channel | None = None

    # ---------------------------------------------------------------- raw exchange

    def exchange(self, apdu: bytes, *, mask_from: int | None = None) -> ResponseApdu:
        """One APDU on the wire, traced (bytes from ``mask_from`` on are masked) and counted."""
        if len(apdu) < 4:
            raise UsageError(f"an APDU has at least 4 bytes (CLA INS P1 P2), got {apdu.hex().upper() or 'nothing'}")
        if self.trace:
            shown = apdu if mask_from is None else apdu[:mask_from]
            masked = "" if mask_from is None else f" ** {len(apdu) - mask_from} bytes masked **"
            self.trace(f"> {_trace_name(apdu[1])}: {_hex(shown)}{masked}")
        start = time.perf_counter()
        raw = self.transport.transmit(apdu)
        elapsed = time.perf_counter() - start
        self.stats.exchanges += 1
        self.stats.bytes_out += len(apdu)
        self.stats.bytes_in += len(raw)
        self.stats.seconds += elapsed
        response = ResponseApdu.parse(raw)
        if self.trace:
            body = "** masked ** " if (mask_from is not None and response.data) else _hex(response.data) + " "
            self.trace(f"< {body.lstrip()}{response.sw:04X} {sw_message(response.sw)} ({elapsed * 1000:.1f} ms)")
        return response

    # ---------------------------------------------------------------- commands

    def send(self, command: CommandApdu, *, sensitive: bool = False) -> ResponseApdu:
        """Sends a command of any length and collects the whole response (61xx / 6Cxx handled).

        The status word of the response is returned, not raised; see :meth:`call`.

        A command is sent once: a secured command (or any command while a session's channel is attached) is
        never sent again, neither in chained form after a 6700 to extended length nor with another Le after
        a 6Cxx; the status word comes back as it is (docs/security.md, "Secure messaging"). A plain command
        sent while a session is open ends that session on the card, so it ends the host's channel too.
        """
        in_session = self.channel is not None or _secured(command.cla)
        if self.channel is not None and not _secured(command.cla):
            self.channel.end("a plain command was sent, which ends the session on the card")
        # A 255-byte command with Le also goes extended: as a short APDU it overflows jCardSim's buffer and
        # costs a GET RESPONSE (see _send_chained).
        full_short = len(command.data) == SHORT_MAX_DATA and command.ne is not None
        if self.extended and (command.needs_extended() or full_short):
            response = self._send_extended(command, sensitive)
            if response.sw != 0x6700:
                return self._collect(command, response, sensitive, resend=not in_session)
            self.extended = False  # the reader or card refused extended length: chain from now on
            if in_session:
                # The card may have seen it (its counter moved on) or not: sending it again would be a replay
                # (6988, the session dies) or a second run. The caller gets the 6700; the session goes on,
                # its next command chained under the next counter.
                return response
        response = self._send_chained(command, sensitive)
        return self._collect(command, response, sensitive, resend=not in_session)

    def _send_extended(self, command: CommandApdu, sensitive: bool) -> ResponseApdu:
        # Le = the applet's response buffer rather than 0000: jCardSim reads an extended Le of 0000 as 0.
        ne = None if command.ne is None else self.response_buffer if command.ne > 256 else command.ne
        if len(command.data) > SHORT_MAX_DATA and ne is not None:
            ne = self.response_buffer  # the whole answer at once: an extended exchange has room for it
        cmd = CommandApdu(command.cla, command.ins, command.p1, command.p2, command.data, ne)
        return self.exchange(cmd.encode(extended=True), mask_from=7 if sensitive and command.data else None)

    def _send_chained(self, command: CommandApdu, sensitive: bool) -> ResponseApdu:
        data = command.data
        chunks = [data[i : i + SHORT_MAX_DATA] for i in range(0, len(data), SHORT_MAX_DATA)] or [b""]
        ne = None if command.ne is None else min(command.ne, 256)
        mask = 5 if sensitive else None
        for chunk in chunks[:-1]:
            part = CommandApdu(command.cla | PROTOCOL.meta["cla_chain_bit"], command.ins, command.p1,
                               command.p2, chunk)
            response = self.exchange(part.encode(), mask_from=mask)
            if response.sw != 0x9000:
                return response
        if len(chunks[-1]) == SHORT_MAX_DATA:
            # 4 + 1 + 255 + Le = 261 bytes overflows jCardSim's 260-byte APDU buffer (6F00); without Le the
            # card announces any response with 61xx instead, which costs nothing when there is none.
            ne = None
        last = CommandApdu(command.cla, command.ins, command.p1, command.p2, chunks[-1], ne)
        return self.exchange(last.encode(), mask_from=mask if chunks[-1] else None)

    def _collect(self, command: CommandApdu, response: ResponseApdu, sensitive: bool,
                 resend: bool = True) -> ResponseApdu:
        if response.sw1 not in (0x61, 0x6C):
            return response  # the whole answer came at once (the common case)
        data = bytearray(response.data)
        mask = 5 if sensitive else None
        for _ in range(GET_RESPONSE_LIMIT):
            if response.sw1 == 0x6C and resend:  # wrong Le: the card says how many bytes it has
                retry = CommandApdu(command.cla, command.ins, command.p1, command.p2, command.data,
                                    response.sw2 or 256)
                response = self.exchange(retry.encode(), mask_from=mask)
                data += response.data
                continue
            if response.sw1 != 0x61:
                return ResponseApdu(bytes(data), response.sw)
            get = CommandApdu(PROTOCOL.meta["cla_iso"], Ins.GET_RESPONSE, 0, 0, b"", response.sw2 or 256)
            response = self.exchange(get.encode(), mask_from=None)
            data += response.data
        raise ProtocolError("the card kept announcing more data (61xx) beyond any sane response length")

    def transmit_raw(self, apdu: bytes) -> ResponseApdu:
        """Sends bytes as given (no chaining, no SELECT), then follows 61xx and 6Cxx like a PC/SC tool."""
        response = self.exchange(apdu)
        data = bytearray()
        for _ in range(GET_RESPONSE_LIMIT):
            data += response.data
            if response.sw1 == 0x6C and len(apdu) >= 5:
                response = self.exchange(apdu[:-1] + bytes([response.sw2]))
                continue
            if response.sw1 != 0x61:
                return ResponseApdu(bytes(data), response.sw)
            get = CommandApdu(PROTOCOL.meta["cla_iso"], Ins.GET_RESPONSE, 0, 0, b"", response.sw2 or 256)
            response = self.exchange(get.encode())
        raise ProtocolError("the card kept announcing more data (61xx) beyond any sane response length")

    def call(self, ins: Ins | int, p1: int = 0, p2: int = 0, data: bytes = b"", *,
             sensitive: bool = False, expect_data: bool = True, ne: int = 256) -> bytes:
        """Runs a command of the protocol; returns the response data or raises a typed CardRefusedError.

        ``ne`` above 256 asks for a long answer in one extended APDU when the card and reader allow it
        (otherwise it arrives through GET RESPONSE all the same). The CLA (ISO or proprietary) comes from
        protocol.toml.
        """
        code = int(ins)
        name, cla = _routing(code)
        command = CommandApdu(cla, code, p1, p2, data, ne if expect_data else None)
        if self.channel is not None:
            return self.channel.call(self, command, name, sensitive)
        response = self.send(command, sensitive=sensitive)
        if response.sw != 0x9000:
            raise error_for(response.sw, name)
        return response.data

    def select(self) -> bytes:
        """Selects the cardsmith applet; a card without it gets a clear error. Ends any session."""
        if self.channel is not None:
            self.channel.end("the applet was selected again")
        aid = PROTOCOL.applet_aid
        response = self.send(CommandApdu(0x00, 0xA4, 0x04, 0x00, aid, 256))
        if response.sw in (0x6A82, 0x6999):
            raise error_for(response.sw, "SELECT").__class__(
                response.sw, "SELECT",
                f"the cardsmith applet ({aid.hex().upper()}) is not on this card: install it with "
                "`gp --install cardsmith.cap` (README: loading onto a card)",
            )
        if response.sw != 0x9000:
            raise error_for(response.sw, "SELECT")
        return response.data

    def info(self) -> CardInfo:
        info = CardInfo.parse(self.call(Ins.GET_INFO))
        self.response_buffer = info.response_buffer
        if not info.capabilities & Capability.EXTENDED_LENGTH:
            self.extended = False
        return info

    def close_personalisation(self) -> bool:
        """Ends personalisation for good (CLOSE_PERSONALISATION: INSTALLED -> ISSUED).

        Returns True when this call closed it, False when the card was ISSUED already (nothing sent beyond
        GET INFO). Afterwards the INSTALLED-only commands (PUT_PIN, Key1, LOAD_COMMON_KEY, DEFINE_REGION,
        issuer enrolment) are refused; what the holder does under the PIN keeps working (protocol.toml).
        """
        if not self.info().installed:
            return False
        self.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
        return True

    def reset(self) -> bytes:
        """Power-cycles the card and selects the applet again; returns the ATR. Ends any session."""
        if self.channel is not None:
            self.channel.end("the card was reset")
        atr = self.transport.reset()
        self.select()
        return atr

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Card:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

