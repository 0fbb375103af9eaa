"""Print simple rich renderables as plain text, fast, with rich's own line breaking.

`render_text` without colour prints thousands of findings; rich's per-renderable pipeline
(segments, measuring, padding) costs about a millisecond each, so a report of 100,000 findings
took minutes. Plain `Text` and left-`Padding(Text, expand=False)` are laid out here with rich's
`divide_line` instead, giving the same lines; anything else (tabs, odd line separators, styles
that matter because colour is on) goes through rich as before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

__all__ = ["print_plain"]

# Characters str.splitlines() breaks on besides "\n": rich measures with splitlines() but
# wraps on "\n" only, so text holding them keeps the slow, exact path.
_ODD_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\t")


@functools.lru_cache(maxsize=4096)  # the same Fix and Why texts come back for every finding
def _wrap(text: str, width: int, indent: int) -> tuple[str, ...]:
    from rich._wrap import divide_line
    from rich.cells import cell_len

    pad = " " * indent
    out: list[str] = []
    for line in text.split("\n"):
        if cell_len(line) <= width:
            out.append(pad + line.rstrip(" "))
            continue
        offsets = divide_line(line, width, fold=True)
        bounds = [0, *offsets, len(line)]
        out.extend(pad + line[a:b].rstrip(" ") for a, b in zip(bounds, bounds[1:], strict=False))
    return tuple(out)


def plain_lines(item: Any, width: int) -> tuple[str, ...] | None:
    """The lines rich would print for `item` at console `width` without colour, or None when
    `item` is not one of the simple shapes handled here."""
    from rich.cells import cell_len
    from rich.padding import Padding
    from rich.text import Text

    indent = 0
    if isinstance(item, Padding):
        if item.top or item.right or item.bottom or item.expand or not isinstance(item.renderable, Text):
            return None
        indent, text = item.left, item.renderable
    elif isinstance(item, Text):
        text = item
    else:
        return None
    if text.no_wrap or text.overflow not in (None, "fold") or text.justify not in (None, "default", "left"):
        return None
    plain = text.plain
    if _ODD_BREAKS.intersection(plain):
        return None
    inner = width - indent
    if indent:  # Padding(expand=False) is as wide as the text's longest line, at most the console
        longest = max((cell_len(line) for line in plain.split("\n")), default=0)
        if longest < 1:
            return None
        inner = min(longest, inner)
    if inner < 1:
        return None
    return _wrap(plain, inner, indent)


def print_plain(con: Any, items: Iterable[Any]) -> None:
    """Print `items` on a colourless console: simple ones as plain lines, the rest through rich."""
    pending: list[str] = []
    width = con.width
    for item in items:
        lines = plain_lines(item, width)
        if lines is not None:
            pending.extend(lines)
            continue
        if pending:
            con.file.write("\n".join(pending) + "\n")
            pending = []
        con.print(item)
    if pending:
        con.file.write("\n".join(pending) + "\n")
