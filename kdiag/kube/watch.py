"""One watch of the API server (`?watch=1`): its events as an iterator that any thread can end."""

from __future__ import annotations

import contextlib
import json
from typing import Any

__all__ = ["MAX_WATCH_LINE", "WatchStream"]

#: Upper bound for one watch event line (one object); a longer line ends the watch.
MAX_WATCH_LINE = 8 * 2**20


class WatchStream:
    """The events of one watch: an iterator of (type, object) that `close()` ends from any thread."""

    def __init__(self, response: Any, normalise: Any) -> None:
        self._resp = response
        self._normalise = normalise
        self._buf = b""
        self._closed = False

    def __iter__(self) -> WatchStream:
        return self

    def __next__(self) -> tuple[str, dict[str, Any]]:
        while True:
            line, sep, rest = self._buf.partition(b"\n")
            if sep:
                self._buf = rest
                event = self._parse(line)
                if event is not None:
                    return event
                continue
            if self._closed or len(self._buf) > MAX_WATCH_LINE:
                self.close()
                raise StopIteration
            try:
                chunk = self._resp.read1(65536) if hasattr(self._resp, "read1") else self._resp.read(65536)
            except Exception:  # closed from another thread, timed out, or the server went away
                chunk = b""
            if not chunk:
                self.close()
                raise StopIteration
            self._buf += chunk

    def _parse(self, line: bytes) -> tuple[str, dict[str, Any]] | None:
        try:
            doc = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("object"), dict):
            return None
        kind, obj = str(doc.get("type") or ""), doc["object"]
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = self._normalise(obj)
        return kind, obj

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._resp.shutdown()
        with contextlib.suppress(Exception):
            self._resp.release_conn()
