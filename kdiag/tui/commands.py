"""Command palette provider: the actions of the current screen, plus help and quit."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

__all__ = ["KdiagCommands"]


class KdiagCommands(Provider):
    """Offers `screen.palette_commands()` (title, help, action) of the active screen."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        entries: list[tuple[str, str, Callable[[], object]]] = []
        get = getattr(screen, "palette_commands", None)
        if callable(get):
            for title, help_text, action in get():
                entries.append((title, help_text, partial(screen.run_action, action)))
        entries.append(("Help", "Keys and concepts", partial(self.app.run_action, "help")))
        entries.append(("Quit kdiag", "Leave the TUI", partial(self.app.run_action, "quit")))
        return entries

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
