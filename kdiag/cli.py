"""The command line: `kdiag [diagnose|lint|demo|report|checks]`.

Reports go to stdout (or `--output-file FILE`; `-o FORMAT` is the format, as in kubectl),
diagnostics to stderr. Exit codes: 0 no error finding,
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
from kdiag.cli_help import EXIT_CODES_DIAGNOSE, EXIT_CODES_SIMPLE, epilog, prog_name
from kdiag.cli_output import add_output_options, emit, output_target
from kdiag.completion import SHELLS
from kdiag.errors import KdiagError, UsageError
from kdiag.options import check_file_options, require_terminal

__all__ = ["build_parser", "main"]

class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _kube_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context to use")
    p.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: the context's)")


def _sub(sub: Any, name: str, prog: str, help_text: str, *, exit_codes: str = EXIT_CODES_DIAGNOSE) -> Any:
    return sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                          epilog=epilog(name, prog, exit_codes=exit_codes),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    prog = prog or prog_name()
    parser = _Parser(
        prog=prog,
        description=(
            "Which hop of a Kubernetes request path is broken, why, and what to change.\n"
            "Without a command, opens the interactive walk (TUI) on the current kube context."
        ),
        epilog=epilog("", prog), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kdiag {__version__}")
    _kube_options(parser)  # they work for the TUI (no command)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    d = _sub(sub, "diagnose", prog, "walk one URL hop by hop and print a report")
    d.add_argument("url", help="the URL that fails: http(s):// for HTTP, ws(s):// for WebSocket")
    _kube_options(d)
    add_output_options(d)
    d.add_argument("-H", "--header", action="append", default=[], metavar="'Name: value'",
                   help="request header (repeatable; also drives canary routing)")
    d.add_argument("-X", "--method", metavar="METHOD", help="request method (default GET): drives HTTPRoute method matches, and the probes send it, like curl -X")
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
    d.add_argument("--deadline", type=float, metavar="SECONDS",
                   help="end the whole run by then with a partial report, exit 2 (default 30 + 6 x --timeout)")
    d.add_argument("-f", "--filename", action="append", default=[], metavar="PATH",
                   help="walk the URL over manifests instead of a cluster (repeatable; no probes)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")

    _add_watch(sub, prog)

    lint = _sub(sub, "lint", prog, "static checks on manifest files or folders (no cluster)")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="file, folder (recursive) or - for stdin")
    add_output_options(lint)
    lint.add_argument("-n", "--namespace", metavar="NS", default="default",
                      help="namespace for objects that name none (default: default)")

    demo = _sub(sub, "demo", prog, "a broken cluster in a box, opened in the TUI", exit_codes=EXIT_CODES_SIMPLE)
    demo.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    demo.add_argument("--list", action="store_true", help="describe the scenarios")
    demo.add_argument("--serve", action="store_true", help="keep the lab running and print its kubeconfig")

    rep = _sub(sub, "report", prog, "saved reports")
    rsub = rep.add_subparsers(dest="report_command", parser_class=_Parser, metavar="ACTION")
    show = rsub.add_parser("show", help="open a saved JSON report (TUI; -o prints it)",
                           description="Open a saved JSON report in the TUI, or print it with -o FORMAT.",
                           epilog=epilog("report", prog), formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("file", metavar="FILE")
    add_output_options(show, default=None)

    chk = _sub(sub, "checks", prog, "list the check catalog, or explain one check", exit_codes=EXIT_CODES_SIMPLE)
    chk.add_argument("id", nargs="?", metavar="ID", help="a check id to explain (default: list them all)")
    add_output_options(chk, formats=("text", "json", "markdown"), output_file=False, verbose=False)

    comp = _sub(sub, "completion", prog, "print a shell completion script (bash, zsh or fish)",
                exit_codes=EXIT_CODES_SIMPLE)
    comp.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    return parser


def _add_watch(sub: Any, prog: str) -> None:
    w = _sub(sub, "watch", prog, "keep sending traffic to a URL (e.g. during a rollout) and explain every failure")
    w.add_argument("url", help="http(s):// or ws(s):// URL (ws: WebSockets are held open too)")
    _kube_options(w)
    add_output_options(w)
    w.add_argument("--rate", metavar="N/s", help="requests per second (default 10, at most 200)")
    w.add_argument("--connections", type=int, metavar="N", help="WebSockets held open (default 3 for ws URLs)")
    w.add_argument("--duration", type=float, metavar="S", help="seconds to watch (default 60, at most 3600)")
    w.add_argument("-H", "--header", action="append", default=[], metavar="'Name: value'", help="request header")
    w.add_argument("--resolve", action="append", default=[], metavar="HOST:PORT:ADDR",
                   help="send HOST:PORT to ADDR, like curl --resolve (repeatable)")
    w.add_argument("--connect-to", action="append", default=[], metavar="HOST:PORT:ADDR:PORT2",
                   help="send HOST:PORT to ADDR:PORT2, like curl --connect-to (repeatable)")
    w.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="per-request timeout (default 5)")
    w.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _cmd_watch(args: argparse.Namespace) -> int:
    from kdiag.report.render import render
    from kdiag.watch.run import WatchOptions, run_watch

    fmt, file = output_target(args)
    opts = WatchOptions.from_cli(
        url=args.url, headers=_parse_headers(args.header), rate=args.rate, connections=args.connections,
        duration=args.duration, resolve=args.resolve, connect_to=args.connect_to, timeout=args.timeout,
        kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace, progress=not args.quiet)
    report, code = run_watch(opts)
    emit(render(report, fmt or "text", color=False if file else None, verbose=args.verbose), file)
    return code


def _cmd_checks(args: argparse.Namespace) -> int:
    from kdiag.catalog import catalog, render_markdown
    from kdiag.report.checks import render_check, render_checks_text

    fmt, _ = output_target(args)
    if args.id:
        checks = catalog()
        if args.id not in checks:
            raise UsageError(f"unknown check id {args.id!r}; `kdiag checks` lists them")
        emit(render_check(checks[args.id], fmt or "text"), None)
        return 0
    if fmt == "markdown":
        emit(render_markdown(), None)
    elif fmt == "json":
        import json
        from dataclasses import asdict

        emit(json.dumps([asdict(c) for c in catalog().values()], indent=2, default=str), None)
    else:
        emit(render_checks_text(), None)
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from kdiag.lint import lint
    from kdiag.report.render import render
    from kdiag.sources.manifests import load_manifests

    fmt, file = output_target(args)
    snapshot = load_manifests(args.paths, namespace=args.namespace)
    report = lint(snapshot)
    emit(render(report, fmt or "text", color=False if file else None, verbose=args.verbose), file)
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

    fmt, file = output_target(args)
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
        progress=not args.quiet and file is None and sys.stderr.isatty() or (not args.quiet and bool(file)),
        deadline=args.deadline,
        method=args.method,
    )
    from kdiag.stopping import WalkUnfinished

    try:
        report = run_diagnose(opts)
    except WalkUnfinished as e:  # the deadline or Ctrl+C: what was learned so far, exit 2
        emit(render(e.report, fmt or "text", color=False if file else None, verbose=args.verbose), file)
        print(f"kdiag: {e}", file=sys.stderr)
        return e.exit_code
    emit(render(report, fmt or "text", color=False if file else None, verbose=args.verbose), file)
    return report.exit_code


def _cmd_report(args: argparse.Namespace) -> int:
    if args.report_command != "show":
        raise UsageError("kdiag report: expected `kdiag report show FILE`")
    from kdiag.report.io import load_report

    fmt, file = output_target(args)
    report = load_report(args.file)
    if fmt or file:
        from kdiag.report.io import render_loaded

        emit(render_loaded(report, fmt or "text", args.file, color=False if file else None, verbose=args.verbose),
             file)
        return report.exit_code
    require_terminal("kdiag report show (the interactive viewer)", file=args.file)
    from kdiag.tui.app import run_report_tui

    return run_report_tui(report)


def _cmd_demo(args: argparse.Namespace) -> int:
    from kdiag.lab.demo import run_demo
    from kdiag.tui.demo import open_demo

    return run_demo(scenario=args.scenario, list_only=args.list, serve=args.serve, open_tui=open_demo)


def _cmd_completion(args: argparse.Namespace) -> int:
    from kdiag.completion import script

    emit(script(args.shell), None)
    return 0


def _cmd_tui(args: argparse.Namespace) -> int:
    require_terminal("kdiag without a command (the interactive walk)")
    from kdiag.diagnose import cluster_session

    # Connect and start reading the route list before Textual is imported: the API server
    # answers while the interface loads.
    session = cluster_session(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)
    session.prefetch_routes()
    from kdiag.tui.app import run_session_tui

    return run_session_tui(session)


COMMANDS: dict[str | None, Any] = {
    None: _cmd_tui,
    "diagnose": _cmd_diagnose,
    "watch": _cmd_watch,
    "lint": _cmd_lint,
    "demo": _cmd_demo,
    "report": _cmd_report,
    "checks": _cmd_checks,
    "completion": _cmd_completion,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run kdiag; returns the exit code (never raises for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["__complete"]:  # the shell completion callback (hidden)
            from kdiag.completion import complete_main

            return complete_main(argv[1:], build_parser())
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


#: The cyclic garbage collector's thresholds for a kdiag process (Python's: 700, 10, 10). A read
#: builds a few hundred thousand objects from JSON at once; with the defaults the collector walks
#: them again and again (about a tenth of a diagnosis on a big cluster). It still runs, so a long
#: TUI or watch session does not grow.
GC_THRESHOLDS = (50_000, 20, 100)


def run() -> None:
    """The `kdiag` command (the console scripts, `python -m kdiag`): `main()` as a process of its own.

    Two things only a whole process may do: it raises the collector's thresholds
    (`GC_THRESHOLDS`), and at the end it flushes the output, runs the exit handlers and leaves at
    once (`os._exit`) rather than freeing every object one by one (about 0.1 s after a big read).
    When a thread that is not a daemon still runs, the exit is the normal one and waits for it.
    """
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    _leave(main())


def _leave(code: int) -> None:
    import atexit
    import threading

    if any(t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    _flush()
    atexit._run_exitfuncs()
    _flush()
    os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (kdiag … | head) or a closed stream
            pass
