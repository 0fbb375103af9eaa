"""Port-forward: a local TCP bridge to one pod port through the API server (v4.channel.k8s.io).

`PortForwarder.open(ns, pod, port)` listens on 127.0.0.1:<ephemeral>; each accepted connection
opens its own pods/portforward WebSocket stream and pumps bytes both ways (channel 0 is data,
channel 1 the kubelet's error text). Errors never raise into the caller: they are kept on the
`PortForward` bridge. How to authenticate the WebSocket (TLS context, headers) comes from the
caller (`kdiag.kube.client.Kube`), so this module knows nothing about credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from kdiag.kube.errors import describe_connection_error, one_line, status_message

__all__ = ["PORTFORWARD_PROTOCOL", "PortForward", "PortForwarder", "portforward_url"]

PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"


@dataclass
class PortForward:
    """A local TCP bridge on 127.0.0.1:<port> to one pod port, through the API server.

    Each accepted local connection opens its own port-forward stream. Errors (the API server
    refusing, or the error channel saying nothing listens on the port) close that local
    connection and are kept in `errors` / `last_error`. Unpacks as ``host, port = bridge``.
    """

    namespace: str
    pod: str
    remote_port: int
    host: str = "127.0.0.1"
    port: int = 0
    errors: list[str] = field(default_factory=list)
    #: The remote side's own words for the last error (e.g. the kubelet's error-channel text).
    last_detail: str | None = None
    connections: int = 0

    @property
    def last_error(self) -> str | None:
        return self.errors[-1] if self.errors else None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port))

    def _record(self, message: str, detail: str | None = None) -> None:
        self.errors.append(one_line(message))
        self.last_detail = one_line(detail) if detail else self.errors[-1]


def portforward_url(server: str, namespace: str, pod: str, port: int) -> str:
    """The ws(s):// URL of pods/{pod}/portforward for one port on an API server."""
    u = urlsplit(server)
    scheme = "wss" if u.scheme == "https" else "ws"
    path = (f"{u.path.rstrip('/')}/api/v1/namespaces/{quote(namespace, safe='')}/pods/"
            f"{quote(pod, safe='')}/portforward?ports={int(port)}")
    return f"{scheme}://{u.netloc}{path}"


class PortForwarder:
    """Port-forward bridges through one API server; remembers the latest bridge of each pod port.

    `connect_options(url)` returns the extra keyword arguments of the WebSocket connect for that
    URL (``ssl``, ``server_hostname``, ``additional_headers``, ``open_timeout``,
    ``user_agent_header``); when it raises, the connection fails and the bridge records why.
    """

    def __init__(self, server: str, connect_options: Callable[[str], dict[str, Any]]) -> None:
        self.server = server
        self._connect_options = connect_options
        self._bridges: dict[tuple[str, str, int], PortForward] = {}

    def url(self, namespace: str, pod: str, port: int) -> str:
        return portforward_url(self.server, namespace, pod, port)

    @contextlib.asynccontextmanager
    async def open(self, namespace: str, pod: str, port: int) -> AsyncIterator[PortForward]:
        """A local bridge 127.0.0.1:<ephemeral> -> pod:port over pods/portforward (v4.channel.k8s.io).

        Use as ``async with forwarder.open(ns, pod, 8080) as bridge: host, port = bridge``.
        """
        bridge = PortForward(namespace=namespace, pod=pod, remote_port=int(port))
        self._bridges[(namespace, pod, int(port))] = bridge
        tasks: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                tasks.add(task)
            try:
                await self._pump(bridge, reader, writer)
            except asyncio.CancelledError:
                # The bridge is closing (or the run ended at its deadline): end quietly. A
                # connection handler that ends cancelled makes asyncio's stream callback log a
                # traceback on stderr while the loop shuts down.
                with contextlib.suppress(Exception):
                    writer.close()
            finally:
                if task is not None:
                    tasks.discard(task)

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        bridge.port = int(server.sockets[0].getsockname()[1])
        try:
            yield bridge
        finally:
            server.close()
            for t in list(tasks):
                t.cancel()
            if tasks:
                await asyncio.wait(list(tasks), timeout=2.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=2.0)

    def last_error(self, namespace: str, pod: str, port: int) -> str | None:
        """What went wrong on the latest bridge to pod:port, in the remote side's words.

        For an error-channel message (nothing listens on the port) that is the kubelet's text,
        e.g. "error forwarding port 5003 to pod ...: failed to connect to localhost:5003 ...".
        `PortForward.last_error` has the same with "port-forward to pod ns/name port N:" in front.
        """
        bridge = self._bridges.get((namespace, pod, int(port)))
        return bridge.last_detail if bridge is not None and bridge.errors else None

    async def _pump(
        self, bridge: PortForward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One local connection <-> one port-forward stream; never raises."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        bridge.connections += 1
        target = f"pod {bridge.namespace}/{bridge.pod} port {bridge.remote_port}"
        url = self.url(bridge.namespace, bridge.pod, bridge.remote_port)
        try:
            kwargs = self._connect_options(url)
        except Exception as e:  # noqa: BLE001 - reported on the bridge, never raised
            bridge._record(f"port-forward to {target} failed: {one_line(e)}")
            writer.close()
            return
        try:
            ws = await connect(
                url,
                subprotocols=[PORTFORWARD_PROTOCOL],  # type: ignore[list-item]
                ping_interval=None,
                close_timeout=1.0,
                max_size=2**24,
                proxy=None,
                **kwargs,
            )
        except InvalidStatus as e:
            _, message = status_message(e.response.body or b"")
            code = e.response.status_code
            bridge._record(f"the API server refused port-forward to {target}: {code} {message}".strip())
            writer.close()
            return
        except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, InvalidHandshake ...
            bridge._record(f"port-forward to {target} failed: {describe_connection_error(e, self.server)}")
            writer.close()
            return
        if ws.subprotocol != PORTFORWARD_PROTOCOL:
            bridge._record(f"port-forward to {target}: the API server did not speak {PORTFORWARD_PROTOCOL}")
            await ws.close()
            writer.close()
            return

        async def upstream() -> None:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                await ws.send(b"\x00" + data)

        async def downstream() -> None:
            headers_seen: set[int] = set()
            async for msg in ws:
                raw = msg.encode() if isinstance(msg, str) else bytes(msg)
                if not raw:
                    continue
                channel, payload = raw[0], raw[1:]
                if channel in (0, 1) and channel not in headers_seen:
                    headers_seen.add(channel)
                    if len(payload) == 2:  # the initial little-endian port frame
                        continue
                if channel == 0:
                    writer.write(payload)
                    await writer.drain()
                elif channel == 1 and payload:
                    text = payload.decode("utf-8", "replace")
                    bridge._record(f"port-forward to {target}: {text}", text)
                    return

        up = asyncio.ensure_future(upstream())
        down = asyncio.ensure_future(downstream())
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up.done() and not down.done():
                # The local side finished sending (maybe a half-close, like `curl` after its
                # request): let the pod finish its answer. The bridge's exit ends this too.
                await asyncio.wait({down})
        except asyncio.CancelledError:
            pass
        finally:
            for t in (up, down):
                t.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=1.0)
            with contextlib.suppress(Exception):
                writer.close()
