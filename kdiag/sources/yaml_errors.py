"""Lint messages for YAML that does not read as Kubernetes objects, in words a person can act on.

    describe_yaml_error(error, chunk, path=..., base=...) -> YamlProblem   file:line:col, message, fix
    describe_not_an_object(data) -> str                                   "plain text ('hello')", ...
    flattened_block(data, lines) -> (key, line) | None                     `metadata:` lost its children

PyYAML reports where the parser gave up, which is often a line after the mistake: an unclosed
`[` is reported at the end of the input, and a line that lost its indentation at the next line.
These helpers point at the mistake itself where it can be found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FIX_INDENT", "FIX_NOT_OBJECT", "FIX_SYNTAX", "YamlProblem", "describe_not_an_object",
           "describe_yaml_error", "flattened_block"]

FIX_SYNTAX = ("Correct the YAML at the line and column shown: close every `[`, `{` and quote you open, "
              "put a space after the `:` between a key and its value, and quote values that contain "
              "`: ` or ` #` or start with `*`, `&`, `!`, `%`, `@` or a backquote.")
FIX_INDENT = ("Indent the line to match its siblings: the keys of one mapping share one indentation, and "
              "a key that belongs under another (`name:` under `metadata:`) is indented further than it. "
              "Indent with spaces, never tabs. `kubectl create deployment x --image=y --dry-run=client "
              "-o yaml` prints a correctly indented example.")
FIX_NOT_OBJECT = ("Each document (the text between `---` lines) must be one Kubernetes object: a mapping "
                  "with `apiVersion`, `kind` and `metadata.name`. Remove the stray text, or check that "
                  "this file is a manifest at all.")

_INDENT_PROBLEMS = ("mapping values are not allowed", "expected <block end>", "did not find expected key",
                    "could not find expected ':'", "block sequence entries are not allowed")
#: keys that live under metadata / spec: found at the top level, their parent lost its indentation
_CHILD_KEYS = {"metadata": ("name", "namespace", "labels", "annotations", "generateName"),
               "spec": ("selector", "template", "ports", "replicas", "containers", "rules", "type",
                        "strategy", "tls", "ingressClassName", "serviceName")}


@dataclass(frozen=True)
class YamlProblem:
    location: str  # path:line:column
    message: str   # starts with the location
    fix: str


def _unclosed_bracket(chunk: str) -> tuple[int, int] | None:
    """(line, column), 0-based, of the last `[` or `{` never closed (outside quotes and comments)."""
    stack: list[tuple[int, int]] = []
    for ln, text in enumerate(chunk.splitlines()):
        quote = ""
        for col, ch in enumerate(text):
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "\"'" and (col == 0 or text[col - 1] in " [{,:"):
                quote = ch
            elif ch == "#" and (col == 0 or text[col - 1] == " "):
                break
            elif ch in "[{":
                stack.append((ln, col))
            elif ch in "]}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _lost_indentation(lines: list[str], at: int) -> int | None:
    """The 0-based line above `at` that lost its indentation: the nearest line less indented than
    line `at` that does not open a block (end with `:`, `|`, `>` or be a list item)."""
    if not 0 <= at < len(lines):
        return None
    for i in range(at - 1, -1, -1):
        prev = lines[i].rstrip()
        if not prev.strip() or prev.lstrip().startswith("#"):
            continue
        if _indent(prev) < _indent(lines[at]) and not prev.endswith((":", "|", ">", "|-", ">-")) \
                and not prev.lstrip().startswith("- "):
            return i
        return None
    return None


def describe_yaml_error(error: Any, chunk: str, *, path: str, base: int) -> YamlProblem:
    """file:line:column, a message in words and the fix that fits, for a YAML parse error."""
    lines = chunk.splitlines() or [""]
    problem = str(getattr(error, "problem", None) or str(error).splitlines()[0])
    context = getattr(error, "context", None)
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    detail = f"{problem} ({context})" if context else problem
    at_end = line >= len(lines) or "<stream end>" in problem or "end of stream" in problem
    tab = line < len(lines) and "\t" in lines[line][: col + 1]
    if tab or "\\t" in problem:
        loc = f"{path}:{base + line + 1}:{col + 1}"
        return YamlProblem(loc, f"{loc}: indentation problem: a tab indents this line; YAML indents with "
                                "spaces only", FIX_INDENT)
    if at_end:
        opened = _unclosed_bracket(chunk)
        ctx = getattr(error, "context_mark", None)
        if opened is not None:
            (line, col), ch = opened, lines[opened[0]][opened[1]]
            loc = f"{path}:{base + line + 1}:{col + 1}"
            return YamlProblem(loc, f"{loc}: invalid YAML: this `{ch}` is never closed ({detail})", FIX_SYNTAX)
        if ctx is not None and ctx.line < len(lines) and "quoted scalar" in str(context):
            loc = f"{path}:{base + ctx.line + 1}:{ctx.column + 1}"
            return YamlProblem(loc, f"{loc}: invalid YAML: this quote is never closed ({detail})", FIX_SYNTAX)
        line = len(lines) - 1
        col = len(lines[line])
    if problem.startswith(_INDENT_PROBLEMS):
        lost = _lost_indentation(lines, line)
        if lost is not None:
            loc = f"{path}:{base + lost + 1}:{_indent(lines[lost]) + 1}"
            return YamlProblem(loc, (
                f"{loc}: indentation problem: `{lines[lost].strip()}` is indented less than the line "
                f"after it (`{lines[line].strip()}`, line {base + line + 1}); did this line lose its "
                f"indentation? (YAML: {detail})"), FIX_INDENT)
        loc = f"{path}:{base + line + 1}:{col + 1}"
        here = lines[line].strip() if line < len(lines) else ""
        return YamlProblem(loc, f"{loc}: indentation problem" + (f" at `{here}`" if here else "")
                           + f": it does not line up with the lines around it (YAML: {detail})", FIX_INDENT)
    loc = f"{path}:{base + line + 1}:{col + 1}"
    return YamlProblem(loc, f"{loc}: invalid YAML: {detail}", FIX_SYNTAX)


def describe_not_an_object(data: Any) -> str:
    """What a document that is not a mapping is, in words: "plain text ('hello')", "a list"."""
    if isinstance(data, str):
        text = data if len(data) <= 40 else data[:39] + "…"
        return f"plain text ({text!r}), not a Kubernetes object"
    if isinstance(data, bool):
        return f"just the value {str(data).lower()}, not a Kubernetes object"
    if isinstance(data, int | float):
        return f"just the number {data}, not a Kubernetes object"
    if isinstance(data, list):
        return f"a list of {len(data)} item{'s' if len(data) != 1 else ''}, not a Kubernetes object"
    return f"a {type(data).__name__}, not a Kubernetes object"


def flattened_block(data: Mapping[str, Any], lines: Mapping[str, int]) -> tuple[str, str, int | None] | None:
    """(parent, child, line) when `parent:` is empty and its child keys sit at the top level."""
    for parent, children in _CHILD_KEYS.items():
        if parent in data and not data.get(parent):
            for child in children:
                if child in data:
                    return parent, child, lines.get(child)
    return None
