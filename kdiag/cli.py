"""The command line: `kdiag [diagnose|lint|demo|report|checks]`.

Reports go to stdout (or `-o FILE`), diagnostics to stderr. Exit codes: 0 no error finding,
1 a problem was found, 2 kdiag could not diagnose (one clear line on stderr, never a traceback).
Heavy modules (Textual, kubernetes, httpx) are imported inside the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from kdiag import __version__
from kdiag.errors import KdiagError, UsageError
from kdiag.options import check_file_options, require_terminal

__all__ = ["build_parser", "main"]

FORMATS = ("text", "json", "markdown", "html")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_common(p: argparse.ArgumentParser, *, formats: Sequence[str] = FORMATS) -> None:
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context to use")
    p.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: the context's)")
    p.add_argument("--format", choices=formats, default="text", help="report format (default: text)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kdiag",
        description=(
            "Which hop of a Kubernetes request path is broken, why, and what to change. "
            "Without a command, opens the interactive walk (TUI) on the current kube context."
        ),
    )
    parser.add_argument("--version", action="version", version=f"kdiag {__version__}")
    parser.add_argument("--kubeconfig", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--context", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("-n", "--namespace", metavar="NS", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    d = sub.add_parser("diagnose", help="walk one URL hop by hop and print a report")
    d.add_argument("url", help="the URL that fails: http(s):// for HTTP, ws(s):// for WebSocket")
    _add_common(d)
    d.add_argument("-H", "--header", action="append", default=[], metavar="'Name: value'",
                   help="request header (repeatable; also drives canary routing)")
    d.add_argument("--client-url", metavar="URL", help="the URL the client code really uses (e.g. /wss)")
    d.add_argument("--page-url", metavar="URL", help="the page that opens the WebSocket (mixed content)")
    d.add_argument("--idle", type=float, metavar="SECONDS", help="hold an idle WebSocket open this long at each hop")
    d.add_argument("--resolve", action="append", default=[], metavar="HOST:PORT:ADDR",
                   help="send HOST:PORT to ADDR, like curl --resolve (repeatable)")
    d.add_argument("--connect-to", action="append", default=[], metavar="HOST:PORT:ADDR:PORT2",
                   help="send HOST:PORT to ADDR:PORT2, like curl --connect-to (repeatable)")
    d.add_argument("--via", choices=("auto", "port-forward", "proxy", "direct"), default="auto",
                   help="how to reach Service and Pod hops (default: auto)")
    d.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="per-probe timeout (default 5)")
    d.add_argument("-f", "--filename", action="append", default=[], metavar="PATH",
                   help="walk the URL over manifests instead of a cluster (repeatable; no probes)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")

    lint = sub.add_parser("lint", help="static checks on manifest files or folders (no cluster)")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="file, folder (recursive) or - for stdin")
    lint.add_argument("--format", choices=FORMATS, default="text")
    lint.add_argument("-o", "--output", metavar="FILE")
    lint.add_argument("-n", "--namespace", metavar="NS", default="default",
                      help="namespace for objects that name none (default: default)")

    demo = sub.add_parser("demo", help="a broken cluster in a box, opened in the TUI")
    demo.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    demo.add_argument("--list", action="store_true", help="describe the scenarios")
    demo.add_argument("--serve", action="store_true", help="keep the lab running and print its kubeconfig")

    rep = sub.add_parser("report", help="saved reports")
    rsub = rep.add_subparsers(dest="report_command", parser_class=_Parser, metavar="ACTION")
    show = rsub.add_parser("show", help="open a saved JSON report (TUI; --format prints it)")
    show.add_argument("file", metavar="FILE")
    show.add_argument("--format", choices=FORMATS, default=None)
    show.add_argument("-o", "--output", metavar="FILE")

    chk = sub.add_parser("checks", help="list the check catalog, or explain one check")
    chk.add_argument("id", nargs="?", metavar="ID")
    chk.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    return parser


def _emit(text: str, output: str | None) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as e:
            raise UsageError(f"cannot write {output}: {e.strerror or e}") from None
        print(f"kdiag: report written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()


def _cmd_checks(args: argparse.Namespace) -> int:
    from kdiag.catalog import catalog, render_markdown
    from kdiag.report.checks import render_check, render_checks_text

    if args.id:
        checks = catalog()
        if args.id not in checks:
            raise UsageError(f"unknown check id {args.id!r}; `kdiag checks` lists them")
        _emit(render_check(checks[args.id], args.format), None)
        return 0
    if args.format == "markdown":
        _emit(render_markdown(), None)
    elif args.format == "json":
        import json
        from dataclasses import asdict

        _emit(json.dumps([asdict(c) for c in catalog().values()], indent=2, default=str), None)
    else:
        _emit(render_checks_text(), None)
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from kdiag.lint import lint
    from kdiag.report.render import render
    from kdiag.sources.manifests import load_manifests

    snapshot = load_manifests(args.paths, namespace=args.namespace)
    report = lint(snapshot)
    _emit(render(report, args.format, color=False if args.output else None), args.output)
    return report.exit_code


def _parse_headers(raw: Sequence[str]) -> dict[str, str]:
    from kdiag.headers import parse_header

    headers: dict[str, str] = {}
    for h in raw:
        try:
            name, value = parse_header(h)
        except ValueError:
            raise UsageError(f"bad header {h!r}: expected 'Name: value'") from None
        headers[name] = value
    return headers


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from kdiag.diagnose import DiagnoseOptions, run_diagnose
    from kdiag.report.render import render

    opts = DiagnoseOptions.from_cli(
        url=args.url,
        headers=_parse_headers(args.header),
        client_url=args.client_url,
        page_url=args.page_url,
        idle=args.idle,
        resolve=args.resolve,
        connect_to=args.connect_to,
        via=args.via,
        timeout=args.timeout,
        filenames=args.filename,
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        progress=not args.quiet and args.output is None and sys.stderr.isatty() or (not args.quiet and bool(args.output)),
    )
    report = run_diagnose(opts)
    _emit(render(report, args.format, color=False if args.output else None), args.output)
    return report.exit_code


def _cmd_report(args: argparse.Namespace) -> int:
    if args.report_command != "show":
        raise UsageError("kdiag report: expected `kdiag report show FILE`")
    from kdiag.report.io import load_report

    report = load_report(args.file)
    if args.format or args.output:
        from kdiag.report.io import render_loaded

        _emit(render_loaded(report, args.format or "text", args.file, color=False if args.output else None),
              args.output)
        return report.exit_code
    require_terminal("kdiag report show (the interactive viewer)", file=args.file)
    from kdiag.tui.app import run_report_tui

    return run_report_tui(report)


def _cmd_demo(args: argparse.Namespace) -> int:
    from kdiag.lab.demo import run_demo
    from kdiag.tui.demo import open_demo

    return run_demo(scenario=args.scenario, list_only=args.list, serve=args.serve, open_tui=open_demo)


def _cmd_tui(args: argparse.Namespace) -> int:
    require_terminal("kdiag without a command (the interactive walk)")
    from kdiag.tui.app import run_cluster_tui

    return run_cluster_tui(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)


COMMANDS: dict[str | None, Any] = {
    None: _cmd_tui,
    "diagnose": _cmd_diagnose,
    "lint": _cmd_lint,
    "demo": _cmd_demo,
    "report": _cmd_report,
    "checks": _cmd_checks,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run kdiag; returns the exit code (never raises for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        check_file_options(args)
        return int(COMMANDS[args.command](args))
    except KdiagError as e:
        print(f"kdiag: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("kdiag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug, not bad input: still no traceback unless asked for
        if os.environ.get("KDIAG_DEBUG"):
            raise
        print(f"kdiag: internal error: {type(e).__name__}: {e} (set KDIAG_DEBUG=1 for details)",
              file=sys.stderr)
        return 2
