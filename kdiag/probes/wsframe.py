"""RFC 6455 pieces: the accept computation, and frame encoding/decoding on asyncio streams."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from dataclasses import dataclass

from kdiag.probes.base import ProtocolError

__all__ = [
    "CLOSE_CODES",
    "GUID",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Frame",
    "accept_for",
    "close_payload",
    "encode_frame",
    "new_key",
    "parse_close",
    "read_frame",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Meanings of close codes (RFC 6455 §7.4.1), for details a person reads.
CLOSE_CODES: dict[int, str] = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code",
    1006: "abnormal closure: dropped without a close frame",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
    1015: "TLS handshake failure",
}


def new_key() -> str:
    """A fresh Sec-WebSocket-Key: base64 of 16 random bytes."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a key: base64(sha1(key + GUID))."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


def _mask(data: bytes, key: bytes) -> bytes:
    """XOR `data` with the 4-byte `key` repeated (fast: one big-int XOR instead of a byte loop)."""
    n = len(data)
    if not n:
        return data
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes = b"", *, mask: bool, fin: bool = True) -> bytes:
    """One frame; clients must mask (mask=True), servers must not."""
    head = bytearray([(0x80 if fin else 0) | (opcode & 0x0F)])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        head += key
        payload = _mask(payload, key)
    return bytes(head) + payload


async def read_frame(reader: asyncio.StreamReader, *, max_size: int = 1 << 20) -> Frame:
    """Read one frame (unmasking if masked). Raises IncompleteReadError on EOF."""
    b0, b1 = await reader.readexactly(2)
    if b0 & 0x70:
        raise ProtocolError("reserved bits set in frame")
    opcode = b0 & 0x0F
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    if n > max_size:
        raise ProtocolError(f"frame of {n} bytes exceeds {max_size}")
    if opcode >= 0x8 and n > 125:
        raise ProtocolError("control frame too long")
    key = await reader.readexactly(4) if b1 & 0x80 else None
    payload = await reader.readexactly(n) if n else b""
    if key:
        payload = _mask(payload, key)
    return Frame(bool(b0 & 0x80), opcode, payload)


def close_payload(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame (empty when code is None)."""
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a close frame; 1005 when it carries no code."""
    if len(payload) < 2:
        return 1005, ""
    (code,) = struct.unpack("!H", payload[:2])
    return code, payload[2:].decode("utf-8", "replace")
