"""Route list filtering and symptom-driven URLs (pure helpers for the start screen)."""

from __future__ import annotations

from collections.abc import Sequence

from kdiag.session import SYMPTOMS, RouteRow, Symptom

__all__ = ["RouteFilter", "find_symptom", "url_for_symptom"]


class RouteFilter:
    """Case-insensitive substring filter over the URL (host, path, scheme), the Service, the
    Ingress and the status class (ok / warn / fail) — never the note, whose prose would match
    almost any word.

    Every space-separated word of the query must match somewhere (`chat wss` finds
    chatapp.com/wss). The haystacks are computed once, so filtering thousands is cheap.
    """

    def __init__(self, routes: Sequence[RouteRow]) -> None:
        self.routes = list(routes)
        self._hay = [
            " ".join((r.url, r.host, r.path, r.service, r.ingress, r.status)).lower()
            for r in self.routes
        ]

    def __call__(self, query: str) -> list[int]:
        words = query.lower().split()
        if not words:
            return list(range(len(self.routes)))
        return [i for i, hay in enumerate(self._hay) if all(w in hay for w in words)]


def find_symptom(key: str | None) -> Symptom | None:
    return next((s for s in SYMPTOMS if s.key == key), None)


def url_for_symptom(url: str, symptom: Symptom | None) -> str:
    """A WebSocket symptom turns http(s):// into ws(s):// so the walk does the 101 handshake."""
    if symptom is None or not symptom.websocket:
        return url
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url
