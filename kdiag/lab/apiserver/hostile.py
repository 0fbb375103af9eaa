"""API servers that misbehave, on loopback over HTTPS: for proving kdiag neither hangs nor lies.

`HostileApiServer(mode)` answers ``/version`` like a real API server (so kdiag gets past its
access check) and every other request the way `mode` says:

- ``drip``: a JSON list, one byte every `drip_interval` seconds (read timeouts never fire);
- ``flood``: a chunked body that never ends; ``huge``: a body announced and sent at 300 MB;
- ``page-forever``: a one-item list with a new ``continue`` token every time;
- ``html``: 200 with an HTML page; ``html-403``: 403 with an HTML page (a proxy, not RBAC);
- ``500``: 500 with an HTML error page; ``truncated``: JSON cut in the middle;
- ``redirect``: 302 to another address; ``not-a-list``: JSON whose ``items`` is no list.

(A server URL with a path prefix is played by the faithful `FakeApiServer`.) Every request is
recorded like the fake's (`RecordedRequest`, never the token) and reported to `server.AUDIT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib
import ssl
import threading
from urllib.parse import parse_qsl, urlsplit

from kdiag.lab.apiserver.resources import version_info
from kdiag.lab.apiserver.server import RecordedRequest, audit

__all__ = ["MODES", "HostileApiServer"]

MODES: tuple[str, ...] = ("drip", "flood", "huge", "page-forever", "html", "html-403", "500", "truncated",
                          "redirect", "not-a-list")

_HTML = b"<!DOCTYPE html><html><head><title>Login</title></head><body><h1>Sign in</h1></body></html>"
_HUGE = 300 * 2**20


class _HungUpFilter(logging.Filter):
    """asyncio warns on every write to a client that hung up; a flooding server expects that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "socket.send() raised exception" not in record.getMessage()


_HUNG_UP = _HungUpFilter()


class HostileApiServer:
    """A TLS server on 127.0.0.1 that plays one kind of broken API server."""

    def __init__(self, mode: str, *, token: str = "kdiag-lab-token", drip_interval: float = 0.5) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
        self.mode, self.token, self.drip_interval = mode, token, drip_interval
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self.ca_pem = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._pages = 0

    def start(self) -> HostileApiServer:
        import trustme

        ca = trustme.CA(organization_name="kdiag lab (hostile)")
        self.ca_pem = ca.cert_pem.bytes()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop
        logging.getLogger("asyncio").addFilter(_HUNG_UP)

        async def serve() -> None:
            self._stop = asyncio.Event()
            server = await asyncio.start_server(self._client, "127.0.0.1", 0, ssl=ctx)
            self.url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            ready.set()
            async with server:
                await self._stop.wait()
                server.close()
                for task in asyncio.all_tasks() - {asyncio.current_task()}:
                    task.cancel()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.set_exception_handler(lambda _loop, _context: None)  # clients hang up: expected
            with contextlib.suppress(Exception):
                loop.run_until_complete(serve())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"kdiag-hostile-apiserver:{self.mode}", daemon=True)
        self._thread.start()
        ready.wait(15)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> HostileApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_kubeconfig(self, path: str | pathlib.Path) -> pathlib.Path:
        from kdiag.lab.kubeconfig import write_kubeconfig

        return write_kubeconfig(path, server=self.url, ca_pem=self.ca_pem, token=self.token)

    # -- one connection ------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (ln.partition(":") for ln in lines[1:] if ln)}
                u = urlsplit(target)
                rec = RecordedRequest(method=method, path=u.path, query=dict(parse_qsl(u.query)),
                                      accept=headers.get("accept", ""), had_auth="authorization" in headers,
                                      user_agent=headers.get("user-agent", ""), upgrade=headers.get("upgrade", ""),
                                      host=headers.get("host", ""))
                self.requests.append(rec)
                audit(rec)
                if not await self._answer(rec, writer):
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(self, writer: asyncio.StreamWriter, status: str, body: bytes, *,
                    ctype: str = "application/json", extra: str = "") -> bool:
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                     f"{extra}\r\n".encode() + body)
        await writer.drain()
        return True

    async def _answer(self, rec: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        if rec.path == "/version":
            rec.status = 200
            return await self._send(writer, "200 OK", json.dumps(version_info("1.30")).encode())
        mode = self.mode
        rec.status = {"html-403": 403, "500": 500, "redirect": 302}.get(mode, 200)
        if mode == "drip":
            body = json.dumps({"kind": "List", "items": [], "metadata": {}}).encode() + b" " * 4096
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode())
            for i in range(len(body)):
                if writer.transport.is_closing():
                    return False
                writer.write(body[i:i + 1])
                await writer.drain()
                await asyncio.sleep(self.drip_interval)
            return True
        if mode in ("flood", "huge"):
            chunk = b" " * 65536
            if mode == "huge":
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {_HUGE}\r\n\r\n".encode())
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b"10000\r\n" + chunk + b"\r\n"
            writer.write(b"{\"items\": [" if mode == "huge" else b"b\r\n{\"items\": [\r\n")
            for _ in range(_HUGE // 65536):
                if writer.transport.is_closing():
                    break
                writer.write(chunk)
                await writer.drain()
            return False
        if mode == "page-forever":
            self._pages += 1
            doc = {"kind": "List", "metadata": {"continue": f"page-{self._pages}"},
                   "items": [{"metadata": {"name": f"obj-{self._pages}", "namespace": "default"}}]}
            return await self._send(writer, "200 OK", json.dumps(doc).encode())
        if mode == "html":
            return await self._send(writer, "200 OK", _HTML, ctype="text/html")
        if mode == "html-403":
            return await self._send(writer, "403 Forbidden", _HTML, ctype="text/html")
        if mode == "500":
            return await self._send(writer, "500 Internal Server Error", b"<html><body>Bad Gateway</body></html>",
                                    ctype="text/html")
        if mode == "truncated":
            return await self._send(writer, "200 OK", b'{"kind":"PodList","apiVersion":"v1","items":[{"metad')
        if mode == "redirect":
            return await self._send(writer, "302 Found", b"", extra="Location: https://127.0.0.1:1/login\r\n")
        return await self._send(writer, "200 OK", b'{"kind":"PodList","items":{"a":1}}')  # not-a-list
