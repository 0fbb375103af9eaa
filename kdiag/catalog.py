"""The check catalog: one YAML file per check in the top-level `checks/` folder (data, not code).

Installed wheels carry the folder as `kdiag/_checks`; a source checkout reads `checks/` beside
the package. Each file holds:

    id: service-target-port-mismatch        # stable id, also the file name (<id>.yaml)
    hop: service                            # client|ingress|gateway|service|endpoints|pod|manifest|source
    severity: error                         # error|warning|info (default; a rule may lower it)
    title: The Service sends traffic to a port the container does not use
    probe: false                            # true when only a live probe can detect it
    explains: {service: 2, endpoints: 1}    # optional: the failing hops this check can explain,
                                            # with its rank there (1 = most specific, asked first)
    probe_refutable: true                   # optional: a successful probe on its hop refutes it
    explanation: |                          # two or three sentences a newcomer understands
    fix: |                                  # what to change, often with a YAML snippet
    references: [https://...]
    examples:                               # run by the tests: the rule fires / stays quiet
      fires:  [{name: ..., manifests: "<yaml>", url: optional, client_url: optional}]
      quiet:  [{name: ..., manifests: "<yaml>"}]
      scenarios: [lab scenario names that show it]   # for probe checks

`CATALOG.md` in `checks/` is generated from these files (`kdiag checks --format markdown`), and a
test keeps it fresh. The catalog is parsed once per process, without the `examples:` block when
it ends the file (as in every check): that is over half the catalog's text and only the tests and
`kdiag checks ID` read it, so `Check.examples` parses it on first use. Adding a check = one YAML
file + its rule (or, for a probe check, the judge's code in `kdiag.verdict`).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "catalog",
    "catalog_dir",
    "explainers",
    "get_check",
    "probe_refutable",
    "reflow_prose",
    "render_markdown",
]

_FIELDS = ("id", "hop", "severity", "title", "explanation", "fix")
#: The top-level `examples:` key, and any top-level key (a line that starts a mapping entry at column 0).
_EXAMPLES_KEY = re.compile(r"^examples:", re.M)
_TOP_LEVEL_KEY = re.compile(r"^[^\s#-][^\n]*:", re.M)
HOP_ORDER = ("client", "edge", "ingress", "gateway", "service", "endpoints", "pod", "manifest", "source")


def reflow_prose(text: str) -> str:
    """Join hard-wrapped lines of catalog prose into paragraphs; keep ``` blocks and lists as is.

    Catalog files are wrapped for editors; front ends wrap to their own width.
    """
    out: list[str] = []
    for i, chunk in enumerate(re.split(r"(^```.*?^```[ \t]*$)", text, flags=re.S | re.M)):
        if i % 2:
            out.append(chunk)
            continue
        paras = []
        for para in re.split(r"\n\s*\n", chunk):
            lines = para.split("\n")
            if any(ln.lstrip().startswith(("- ", "* ", "|")) for ln in lines):
                paras.append(para)
            else:
                paras.append(" ".join(ln.strip() for ln in lines if ln.strip()))
        out.append("\n\n".join(p for p in paras if p))
    return "\n\n".join(c.strip("\n") for c in out if c.strip())


@dataclass(frozen=True)
class Check:
    id: str
    hop: str
    severity: str
    title: str
    explanation: str
    fix: str
    references: tuple[str, ...] = ()
    probe: bool = False
    examples: Mapping[str, Any] = field(default_factory=dict)
    #: hop -> rank: the failing hops this check can explain (rank 1 is asked first).
    explains: Mapping[str, int] = field(default_factory=dict)
    #: A successful probe on its hop refutes it (the finding is then only a warning).
    probe_refutable: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        missing = [f for f in _FIELDS if not d.get(f)]
        if missing:
            raise ValueError(f"check {d.get('id', '?')!r} lacks {', '.join(missing)}")
        return cls(
            id=str(d["id"]),
            hop=str(d["hop"]),
            severity=str(d["severity"]),
            title=str(d["title"]).strip(),
            explanation=reflow_prose(str(d["explanation"]).strip()),
            fix=reflow_prose(str(d["fix"]).strip()),
            references=tuple(d.get("references") or ()),
            probe=bool(d.get("probe", False)),
            examples=d.get("examples") or {},
            explains={str(h): int(r) for h, r in (d.get("explains") or {}).items()},
            probe_refutable=bool(d.get("probe_refutable", False)),
        )


def _yaml_loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster at start-up


class LazyExamples(Mapping[str, Any]):
    """A check file's `examples:` block, parsed on first use (then like the dict it holds)."""

    def __init__(self, text: str, origin: str) -> None:
        self._text = text
        self._origin = origin
        self._parsed: Mapping[str, Any] | None = None

    def _data(self) -> Mapping[str, Any]:
        if self._parsed is None:
            import yaml

            doc = yaml.load(self._text, Loader=_yaml_loader())  # noqa: S506 - a safe loader
            examples = doc.get("examples") if isinstance(doc, dict) else None
            if examples is not None and not isinstance(examples, dict):
                raise ValueError(f"{self._origin}: examples must be a mapping")
            self._parsed = examples or {}
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(self._data())

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        """A plain dict (`dataclasses.asdict` and JSON output see the parsed block)."""
        return copy.deepcopy(dict(self._data()), memo)


def _load_check(path: Path) -> Check:
    """One check file; a final top-level `examples:` block is left for `LazyExamples`."""
    import yaml

    text = path.read_text(encoding="utf-8")
    head, examples = text, None
    m = _EXAMPLES_KEY.search(text)
    if m is not None:
        rest = text[m.start():]
        first_line_end = rest.find("\n")
        if first_line_end >= 0 and not _TOP_LEVEL_KEY.search(rest, first_line_end + 1):
            head, examples = text[:m.start()], LazyExamples(rest, path.name)
    data = yaml.load(head, Loader=_yaml_loader())  # noqa: S506 - a safe loader
    check = Check.from_dict(data)
    if check.id != path.stem:
        raise ValueError(f"{path.name}: id {check.id!r} does not match the file name")
    return check if examples is None else replace(check, examples=examples)


def catalog_dir() -> Path:
    """The folder holding the check files (installed copy first, then the source tree)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_checks", here.parent / "checks"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    raise FileNotFoundError("the kdiag check catalog is missing (no checks/*.yaml)")


@functools.cache
def catalog() -> Mapping[str, Check]:
    """All checks by id, ordered by hop then id."""
    checks: dict[str, Check] = {}
    for path in sorted(catalog_dir().glob("*.yaml")):
        check = _load_check(path)
        checks[check.id] = check
    ordered = sorted(
        checks.values(),
        key=lambda c: (HOP_ORDER.index(c.hop) if c.hop in HOP_ORDER else 99, c.id),
    )
    return {c.id: c for c in ordered}


def get_check(check_id: str) -> Check:
    try:
        return catalog()[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}") from None


@functools.cache
def explainers(hop: str) -> tuple[str, ...]:
    """For a failing hop, the checks that can explain it, most specific first."""
    ranked = sorted((c.explains[hop], c.id) for c in catalog().values() if hop in c.explains)
    return tuple(cid for _, cid in ranked)


@functools.cache
def probe_refutable() -> frozenset[str]:
    """The static checks a successful probe on their hop refutes."""
    return frozenset(c.id for c in catalog().values() if c.probe_refutable)


def render_markdown() -> str:
    """The generated catalog documentation (checks/CATALOG.md)."""
    lines = [
        "# kdiag check catalog",
        "",
        "<!-- Generated by `kdiag checks --format markdown`; do not edit by hand. -->",
        "",
        "| hop | id | severity | needs a probe | title |",
        "|---|---|---|---|---|",
    ]
    checks = list(catalog().values())
    for c in checks:
        lines.append(
            f"| {c.hop} | [`{c.id}`](#{c.id}) | {c.severity} | {'yes' if c.probe else 'no'} | {c.title} |"
        )
    for c in checks:
        lines += ["", f"## {c.id}", "", f"**{c.title}** — hop `{c.hop}`, severity `{c.severity}`.", ""]
        lines += [c.explanation, "", "**Fix.**", "", c.fix, ""]
        if c.references:
            lines += ["**References.**", ""]
            lines += [f"- <{r}>" for r in c.references]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
