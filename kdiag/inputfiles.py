"""Reading files and stdin that a user points kdiag at, within bounds.

Only regular files are read (`/dev/zero`, a FIFO or a socket are refused before they are
opened), and at most a fixed size: `MAX_MANIFEST_BYTES` (16 MiB) for a manifest file or stdin,
`MAX_REPORT_BYTES` (64 MiB) for a saved report. A symlink is followed to what it names; a link to
nothing is a problem of that path. Problems are `Unreadable` with a message of one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

__all__ = ["MAX_MANIFEST_BYTES", "MAX_REPORT_BYTES", "Unreadable", "read_regular_file", "read_stream"]

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_REPORT_BYTES = 64 * 1024 * 1024


class Unreadable(Exception):
    """A path (or stdin) kdiag will not or cannot read; str() is the reason, without the path."""

    def __init__(self, reason: str, *, os_error: bool = False) -> None:
        super().__init__(reason)
        self.os_error = os_error

    def about(self, path: object) -> str:
        """One line naming the path: "cannot read PATH: Permission denied", "PATH: a folder ..."."""
        return f"cannot read {path}: {self}" if self.os_error else f"{path}: {self}"


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; else `Unreadable`."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise Unreadable(f"a symbolic link to {os.readlink(p)!r}, which does not exist") from None
        raise Unreadable("no such file") from None
    except OSError as e:
        raise Unreadable(f"{e.strerror or e}", os_error=True) from None
    if not stat.S_ISREG(st.st_mode):
        raise Unreadable(f"{_kind(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise Unreadable(f"{st.st_size} bytes, larger than the {_mib(limit)} kdiag reads")
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise Unreadable(f"{e.strerror or e}", os_error=True) from None
    if len(data) > limit:
        raise Unreadable(f"larger than the {_mib(limit)} kdiag reads")
    return data


def read_stream(stream: IO[Any], limit: int) -> str:
    """Text from a stream (stdin): its bytes decoded as UTF-8 when it has a binary buffer, at most
    `limit` bytes; else `Unreadable`."""
    buffer = getattr(stream, "buffer", None)
    try:
        raw: bytes | str = (buffer if buffer is not None else stream).read(limit + 1)
    except (OSError, ValueError) as e:
        raise Unreadable(f"{getattr(e, 'strerror', None) or e}", os_error=True) from None
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8 text") from None
    if len(raw) > limit:
        raise Unreadable(f"larger than the {_mib(limit)} kdiag reads")
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Unreadable("not UTF-8 text (binary data?)") from None
    return raw
