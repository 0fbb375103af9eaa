"""Redirects followed like a browser, bounded (`kdiag.probes.redirects`): the pure step decision, and
the follower against a real loopback server that redirects by path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from kdiag.endpoint import Endpoint
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes.http import probe_http
from kdiag.probes.redirects import MAX_REDIRECTS, follow_redirects, next_step, same_url

ORIGIN = "https://shop.example.com/"


def test_next_step_follows_same_origin_redirects_and_spots_loops() -> None:
    assert next_step(ORIGIN, [ORIGIN], 200, "").outcome == "ends"
    assert next_step(ORIGIN, [ORIGIN], 308, "").outcome == "ends"  # a redirect without a Location
    self_loop = next_step(ORIGIN, [ORIGIN], 308, "https://shop.example.com")  # ingress-nginx drops the "/"
    assert (self_loop.outcome, self_loop.url) == ("loop", "https://shop.example.com")
    assert next_step(ORIGIN, [ORIGIN], 301, "https://shop.example.com:443/").outcome == "loop"  # default port
    step = next_step(ORIGIN, [ORIGIN], 302, "/login?next=%2F")  # relative Locations resolve on the URL asked
    assert (step.outcome, step.url) == ("follow", "https://shop.example.com/login?next=%2F")
    back = next_step(ORIGIN, [ORIGIN, "https://shop.example.com/login"], 302, "/")
    assert back.outcome == "loop"  # a two-step cycle
    assert next_step(ORIGIN, [ORIGIN], 308, "https://shop.example.com:8443/").outcome == "leaves-origin"
    assert next_step("http://shop.example.com/", ["http://shop.example.com/"], 308,
                     "https://shop.example.com/").outcome == "leaves-origin"  # http -> https: another origin
    asked = [f"https://shop.example.com/{i}" for i in range(MAX_REDIRECTS + 1)]
    assert next_step(ORIGIN, asked, 302, "/next").outcome == "too-many"
    assert next_step(ORIGIN, asked[:-1], 302, "/next").outcome == "follow"


def test_same_url_normalises_what_a_browser_normalises() -> None:
    assert same_url("https://A.example/", "https://a.example:443")
    assert not same_url("https://a.example/", "http://a.example/")
    assert not same_url("https://a.example/?x=1", "https://a.example/")


Routes = Mapping[str, str | None]  # path -> Location (None: 200)


@asynccontextmanager
async def redirector(routes: Routes) -> AsyncIterator[tuple[int, list[str]]]:
    """A plain-HTTP server answering 308 with the Location `routes` gives for the path (200 otherwise);
    it records every path asked."""
    seen: list[str] = []

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = (await r.readuntil(b"\r\n\r\n")).decode("latin-1")
            path = head.split(" ", 2)[1]
            seen.append(path)
            loc = routes.get(path)
            if loc is None:
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            else:
                w.write(f"HTTP/1.1 308 Permanent Redirect\r\nLocation: {loc}\r\nContent-Length: 0\r\n"
                        f"Connection: close\r\n\r\n".encode("latin-1"))
            await w.drain()
        finally:
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


async def _follow(routes: Routes, url: str, *, method: str = "GET") -> tuple[ProbeResult, list[str]]:
    async with redirector(routes) as (port, seen):
        ep = Endpoint("127.0.0.1", port, "ingress-address", "lb")
        first = await probe_http(url, ep, timeout=3, method=method)
        return await follow_redirects(first, url, ep, timeout=3, method=method), seen


async def test_a_redirect_to_the_url_asked_is_a_loop_found_without_asking_again() -> None:
    url = "http://shop.example.com/cart"
    r, seen = await _follow({"/cart": url}, url)
    assert seen == ["/cart"]  # the loop is plain from the first answer
    assert (r.ok, r.status_code, r.error_kind) == (False, 308, ErrorKind.REDIRECT_LOOP)
    assert r.extra["redirect_outcome"] == "loop"
    assert r.extra["redirects"] == [{"url": url, "status": 308, "location": url}]
    assert "ERR_TOO_MANY_REDIRECTS" in r.detail


async def test_a_two_step_cycle_is_followed_and_caught() -> None:
    r, seen = await _follow({"/a": "/b", "/b": "http://shop.example.com/a"}, "http://shop.example.com/a")
    assert seen == ["/a", "/b"]
    assert not r.ok and r.extra["redirect_outcome"] == "loop"
    assert [s["location"] for s in r.extra["redirects"]] == [
        "http://shop.example.com/b", "http://shop.example.com/a"]


async def test_a_chain_that_ends_keeps_the_first_answer_ok_and_records_the_end() -> None:
    r, seen = await _follow({"/old": "/new"}, "http://shop.example.com/old")
    assert seen == ["/old", "/new"]
    assert r.ok and r.status_code == 308 and r.extra["redirect_outcome"] == "ends"
    assert r.extra["redirects"][-1] == {"url": "http://shop.example.com/new", "status": 200,
                                        "error": None, "final": True}


async def test_an_endless_chain_is_bounded() -> None:
    routes = {f"/{i}": f"/{i + 1}" for i in range(100)}
    r, seen = await _follow(routes, "http://shop.example.com/0")
    assert len(seen) == MAX_REDIRECTS + 1  # the first request and MAX_REDIRECTS follow-ups, no more
    assert not r.ok and r.extra["redirect_outcome"] == "too-many"
    assert r.error_kind == ErrorKind.REDIRECT_LOOP


async def test_other_origins_and_unsafe_methods_are_not_followed() -> None:
    r, seen = await _follow({"/": "https://shop.example.com/"}, "http://shop.example.com/")
    assert seen == ["/"] and r.ok and "redirects" not in r.extra
    r, seen = await _follow({"/pay": "/pay"}, "http://shop.example.com/pay", method="POST")
    assert seen == ["/pay"] and r.ok and "redirects" not in r.extra
