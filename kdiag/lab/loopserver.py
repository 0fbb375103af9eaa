"""A small base for the lab's Python data planes (Envoy emulation, LB stand-in): asyncio servers on
loopback in one thread, usable from sync tests and the demo, plus the byte splice they share.

Subclasses implement `handle(reader, writer, listener)`; `start()` binds every listener (host,
port, optional server-side TLS context), `stop()` cuts every connection and joins the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Listener", "Pump", "ThreadedServer", "check_loopback", "peek_first_byte", "raw_pump", "reset_connection",
           "splice", "start_loop_thread"]

CHUNK = 64 * 1024


def check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the lab only binds loopback addresses, not {host}")


@dataclass(frozen=True)
class Listener:
    host: str
    port: int  # 0 = any free port (the bound one is in ThreadedServer.ports)
    tls: ssl.SSLContext | None = None
    name: str = "http"


def start_loop_thread(listen: Callable[[], Awaitable[None]], *, name: str, timeout: float,
                      quiet_oserrors: bool = False,
                      ) -> tuple[asyncio.AbstractEventLoop, threading.Thread, str | None]:
    """Run `listen()` and then its event loop forever in a daemon thread named `name`.

    Returns the loop, the thread and why it did not start (None once `listen()` returned within
    `timeout`); the caller stops the loop. `quiet_oserrors` drops the loop's reports of socket
    errors (peers that went away), which a lab server expects.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    error: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        if quiet_oserrors:
            loop.set_exception_handler(lambda lp, ctx: None if isinstance(ctx.get("exception"), OSError)
                                       else lp.default_exception_handler(ctx))
        try:
            loop.run_until_complete(listen())
        except BaseException as exc:  # reported to the caller
            error.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not ready.wait(timeout) or error:
        return loop, thread, str(error[0]) if error else "timeout"
    return loop, thread, None


class ThreadedServer:
    """Serve `listeners` from a private event loop thread."""

    thread_name = "kdiag-lab-server"

    def __init__(self, listeners: list[Listener]) -> None:
        for lst in listeners:
            check_loopback(lst.host)
        self.listeners = listeners
        self.ports: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: Listener) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        if self._thread is not None:
            return self
        self._loop, self._thread, why = start_loop_thread(self._listen, name=self.thread_name, timeout=timeout,
                                                          quiet_oserrors=True)
        if why is not None:
            self.stop()
            raise OSError(f"{self.thread_name} did not start: {why}")
        return self

    async def _listen(self) -> None:
        for lst in self.listeners:
            async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter, lst: Listener = lst) -> None:
                self._writers.add(w)
                try:
                    await self.handle(r, w, lst)
                except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.CancelledError):
                    pass
                finally:
                    self._writers.discard(w)
                    w.close()

            server = await asyncio.start_server(on_conn, lst.host, lst.port, ssl=lst.tls, reuse_address=True)
            self._servers.append(server)
            self.ports[lst.name] = int(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread = None, None
        if loop is None or thread is None or not thread.is_alive():
            return

        async def shutdown() -> None:
            for s in self._servers:
                s.close()
            for w in list(self._writers):
                w.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def peek_first_byte(writer: asyncio.StreamWriter, timeout: float = 5.0) -> bytes:
    """The connection's first byte, left unread (MSG_PEEK on a duplicate of the socket); call it
    after `writer.transport.pause_reading()` so the transport does not take the byte first."""
    sock = writer.get_extra_info("socket")
    dup = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        for _ in range(int(timeout / 0.01)):
            try:
                return dup.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                await asyncio.sleep(0.01)
        return b""
    finally:
        dup.close()


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a proxy resetting a stream or an LB dropping a flow does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


#: A one-way copy: (source, destination, touch) -> done; `touch()` marks activity for the idle timer.
Pump = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Callable[[], None]], Awaitable[None]]


async def raw_pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, touch: Callable[[], None]) -> None:
    while data := await src.read(CHUNK):
        touch()
        dst.write(data)
        await dst.drain()
        touch()
    with contextlib.suppress(OSError):
        if dst.can_write_eof():
            dst.write_eof()


async def splice(a_reader: asyncio.StreamReader, a_writer: asyncio.StreamWriter,
                 b_reader: asyncio.StreamReader, b_writer: asyncio.StreamWriter, *,
                 idle: float = 0.0, reset: bool = False, a_to_b: Pump = raw_pump) -> str:
    """Copy bytes both ways until both sides end or one fails ("eof"), or until nothing moved in
    either direction for `idle` seconds ("idle"; 0 = never). On idle both connections are closed:
    with a FIN, or with a TCP RST when `reset` (as a proxy resetting a stream does)."""
    loop = asyncio.get_running_loop()
    last = [loop.time()]

    def touch() -> None:
        last[0] = loop.time()

    tasks = [asyncio.ensure_future(a_to_b(a_reader, b_writer, touch)),
             asyncio.ensure_future(raw_pump(b_reader, a_writer, touch))]
    why = "eof"
    try:
        pending = set(tasks)
        while pending:
            wait = None if idle <= 0 else max(0.0, last[0] + idle - loop.time())
            if wait == 0.0:
                why = "idle"
                break
            done, pending = await asyncio.wait(pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if any(t.exception() for t in done if not t.cancelled()):
                break
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in (a_writer, b_writer):
            if why == "idle" and reset:
                reset_connection(w)
            else:
                w.close()
    return why
