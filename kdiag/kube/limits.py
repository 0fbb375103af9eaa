"""The bounds on everything kdiag reads from an API server, and the run's overall deadline.

A lying or broken API server must not hang kdiag or exhaust its memory:

- every request has a *total* time (`request_total`), not only a gap between bytes: it runs in
  a daemon thread and is abandoned (its socket shut down) when the time, the run's deadline or
  a Ctrl+C comes first, so a server that drips a byte a second cannot hold the process;
- one response body is at most `MAX_RESPONSE_BYTES`, and all bodies being read at the same
  time together at most `MAX_BUFFERED_BYTES` (`BUDGET`), so parallel reads cannot add up;
- one list follows at most `MAX_PAGES` `continue` tokens and keeps at most `MAX_LIST_ITEMS`;
- an exec credential plugin runs at most `EXEC_PLUGIN_TIMEOUT` seconds (see `kubeconfig`).

`Deadline` is shared by the reads and the probes of one run: `remaining()` bounds each wait,
`stop(reason)` (Ctrl+C) ends every wait at once. Waits raise `Stopped`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from kdiag.errors import ClusterAccessError

__all__ = [
    "BUDGET",
    "EXEC_PLUGIN_TIMEOUT",
    "MAX_BUFFERED_BYTES",
    "MAX_LIST_ITEMS",
    "MAX_PAGES",
    "MAX_RESPONSE_BYTES",
    "ByteBudget",
    "Deadline",
    "Stopped",
    "TooLarge",
    "in_thread",
    "request_total",
    "run_bounded",
]

#: One response body (one page of a list).
MAX_RESPONSE_BYTES = 64 * 2**20
#: All response bodies being read at the same time, together.
MAX_BUFFERED_BYTES = 160 * 2**20
#: Pages (`continue` tokens followed) of one list, and objects kept from one list.
MAX_PAGES = 200
MAX_LIST_ITEMS = 100_000
#: Seconds an exec credential plugin may run.
EXEC_PLUGIN_TIMEOUT = 30.0

T = TypeVar("T")


def request_total(timeout: tuple[float, float]) -> float:
    """The total time one request may take: connecting, then twice the read timeout."""
    return timeout[0] + 2 * timeout[1]


class Stopped(ClusterAccessError):
    """The run's deadline passed or the user interrupted it (`reason`: "deadline" / "interrupted")."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"not finished: {reason}")
        self.reason = reason


class TooLarge(Exception):
    """A body (or all bodies being read) went over its byte limit."""


class Deadline:
    """The end of a run (monotonic), and a switch that stops every wait at once."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds
        self._stopped = threading.Event()
        self.reason = ""

    def remaining(self) -> float | None:
        """Seconds left (never below 0), or None without a deadline."""
        return None if self.end is None else max(0.0, self.end - time.monotonic())

    def stop(self, reason: str = "interrupted") -> None:
        if not self._stopped.is_set():
            self.reason = reason
            self._stopped.set()

    @property
    def stopped(self) -> str | None:
        """Why the run is over ("deadline", "interrupted"), or None while it goes on."""
        if self._stopped.is_set():
            return self.reason
        if self.end is not None and time.monotonic() >= self.end:
            return "deadline"
        return None

    def check(self) -> None:
        why = self.stopped
        if why is not None:
            raise Stopped(why)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait for `event` at most `timeout` s; raises Stopped when the run ends first."""
        end = time.monotonic() + timeout
        while True:
            self.check()
            left = end - time.monotonic()
            rem = self.remaining()
            step = min(0.1, left) if rem is None else min(0.1, left, rem)
            if event.wait(max(step, 0.0)):
                return True
            if time.monotonic() >= end:
                return False


#: A deadline that never ends (reads outside a run still get their per-request total time).
NO_DEADLINE = Deadline()


class ByteBudget:
    """Bytes held by response bodies being read, across threads; `take` refuses to go over."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        with self._lock:
            if self.used + n > self.limit:
                raise TooLarge()
            self.used += n

    def give(self, n: int) -> None:
        with self._lock:
            self.used = max(0, self.used - n)


BUDGET = ByteBudget(MAX_BUFFERED_BYTES)


def in_thread(fn: Callable[..., T], *args: Any, name: str = "kdiag-ahead") -> Future[T]:
    """Start `fn(*args)` in a daemon thread now; its result (or exception) in the Future.

    For a read that is wanted a little later (the next page of a list, the TUI's first route
    list): the API server works on it while this thread goes on.
    """
    future: Future[T] = Future()

    def work() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the future
            future.set_exception(e)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def run_bounded(fn: Callable[[], T], *, timeout: float, deadline: Deadline | None = None,
                on_abandon: Callable[[], None] | None = None) -> T:
    """`fn()` in a daemon thread (`in_thread`), waited for at most `timeout` s (and the run's deadline).

    Raises TimeoutError when the time is up, `Stopped` when the run ends first (the thread is
    abandoned; `on_abandon` may shut its socket down), or whatever `fn` raised.
    """
    done = threading.Event()
    future = in_thread(fn, name="kdiag-api-read")
    future.add_done_callback(lambda _: done.set())
    try:
        finished = (deadline or NO_DEADLINE).wait(done, timeout)
    except Stopped:
        if on_abandon is not None:
            on_abandon()
        raise
    if not finished:
        if on_abandon is not None:
            on_abandon()
        raise TimeoutError(f"no complete answer within {timeout:g} s")
    return future.result()
