"""The `:` command line, as in k9s: `ns NAME`, `ctx NAME`, `help`, `q` — with Tab completion."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

__all__ = ["Command", "CommandLine", "CommandSuggester", "complete", "parse_command"]

#: Command words and what they do; the first word of each pair is the one completion offers.
VERBS: dict[str, str] = {
    "namespace": "namespace", "ns": "namespace",
    "context": "context", "ctx": "context",
    "help": "help",
    "quit": "quit", "q": "quit",
}


@dataclass(frozen=True)
class Command:
    verb: str  # namespace | context | help | quit
    arg: str = ""


def complete(value: str, *, contexts: tuple[str, ...], namespaces: tuple[str, ...]) -> str | None:
    """The whole line `value` completes to (`ns de` → `ns default`), or None."""
    head, space, tail = value.partition(" ")
    if not space:
        if not head:
            return None
        word = next((v for v in VERBS if v.startswith(head) and v != head), None)
        return word
    verb = VERBS.get(head)
    names = {"namespace": namespaces, "context": contexts}.get(verb or "", ())
    arg = tail.lstrip()
    hit = next((n for n in names if n.startswith(arg) and n != arg), None) if arg else (
        names[0] if names else None)
    return f"{head} {hit}" if hit else None


def parse_command(text: str, *, contexts: tuple[str, ...], namespaces: tuple[str, ...],
                  read_only: bool = False) -> Command | str:
    """A `Command`, or one sentence saying what is wrong with `text`."""
    words = text.split()
    if not words:
        return "Type a command: ns NAME, ctx NAME, help or q."
    verb = VERBS.get(words[0].lower())
    if verb is None:
        return f"Unknown command {words[0]!r}: try ns NAME, ctx NAME, help or q."
    if verb in ("help", "quit"):
        return Command(verb)
    if len(words) != 2:
        return f"Say which {verb}: {words[0]} NAME."
    if read_only:
        return f"This is a saved report: there is no {verb} to switch to."
    name = words[1]
    known = namespaces if verb == "namespace" else contexts
    if known and name not in known:
        shown = ", ".join(known[:8]) + (" …" if len(known) > 8 else "")
        where = " in this context" if verb == "namespace" else " in the kubeconfig"
        return f"No {verb} {name!r}{where}. Known: {shown}."
    return Command(verb, name)


class CommandSuggester(Suggester):
    """Suggests the completion of the whole line (Tab or → accepts it)."""

    def __init__(self, contexts: tuple[str, ...], namespaces: tuple[str, ...]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.contexts = contexts
        self.namespaces = namespaces

    async def get_suggestion(self, value: str) -> str | None:
        return complete(value, contexts=self.contexts, namespaces=self.namespaces)


class _CommandInput(Input):
    BINDINGS = [Binding("tab", "cursor_right", "Complete", show=False)]


class CommandLine(ModalScreen[Command | None]):
    """A one-line prompt at the bottom; Enter runs, Esc closes; a mistake is said under it."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, *, contexts: tuple[str, ...], namespaces: tuple[str, ...],
                 read_only: bool = False) -> None:
        super().__init__(id="command-line")
        self.contexts = contexts
        self.namespaces = namespaces
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical(id="command-box"):
            yield Static("", id="command-error")
            yield _CommandInput(placeholder="ns NAME · ctx NAME · help · q   (Tab completes)",
                                suggester=CommandSuggester(self.contexts, self.namespaces),
                                id="command-input")

    def on_mount(self) -> None:
        self.query_one("#command-input", Input).focus()

    @on(Input.Submitted, "#command-input")
    def _run(self, event: Input.Submitted) -> None:
        result = parse_command(event.value, contexts=self.contexts, namespaces=self.namespaces,
                               read_only=self.read_only)
        if isinstance(result, str):
            error = self.query_one("#command-error", Static)
            error.update(Text(result))
            error.display = True
            return
        self.dismiss(result)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
