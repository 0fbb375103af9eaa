"""Help texts of the command line: the program's name as the user typed it, and each command's
Examples and Exit codes sections (argparse epilogs).

`kubectl kdiag ...` runs the `kubectl-kdiag` executable: help then says `kubectl kdiag`.
"""

from __future__ import annotations

import os
import sys

__all__ = ["EXIT_CODES_DIAGNOSE", "EXIT_CODES_SIMPLE", "epilog", "prog_name"]

EXIT_CODES_DIAGNOSE = """Exit codes:
  0  no error-severity finding
  1  a problem was found (at least one error finding)
  2  kdiag could not diagnose: bad arguments, unreadable kubeconfig or file, API server
     unreachable, authentication failed (one line on stderr)"""

EXIT_CODES_SIMPLE = """Exit codes:
  0  done
  2  bad arguments or unreadable input (one line on stderr)"""

_EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "": (("", "the TUI on the current kube context"),
         ("--context prod -n chat", "the TUI on another context and namespace"),
         ("diagnose wss://chatapp.com/wss", "walk one URL hop by hop, print a report"),
         ("demo", "a broken cluster in a box, in the TUI"),
         ("COMMAND --help", "options, examples and exit codes of one command")),
    "diagnose": (("diagnose wss://chatapp.com/wss", "walk one URL; verdict, hops and the fix"),
                 ("diagnose wss://chatapp.com/wss -v", "also every probe and explanation (-vv: everything)"),
                 ("diagnose https://shop.example.com/ -H 'Version: 1.1.0000'", "headers drive canary routing"),
                 ("diagnose wss://chatapp.com/wss --idle 75", "catch idle disconnects"),
                 ("diagnose wss://chatapp.com/wss --client-url /wss --page-url https://chatapp.com/",
                  "check the URL the browser really uses"),
                 ("diagnose https://api.example.com/orders -X POST -H 'X-Env: canary'",
                  "an HTTPRoute with method and header matches"),
                 ("diagnose https://chatapp.com/ -f k8s/", "walk over manifests (no cluster, no probes)"),
                 ("diagnose wss://chatapp.com/wss -o json", "the JSON report on stdout"),
                 ("diagnose wss://chatapp.com/wss --output-file report.html", "an HTML report for the ticket")),
    "watch": (("watch https://shop.example.com/ --duration 120", "steady GETs for two minutes while you deploy"),
              ("watch wss://chatapp.com/wss --connections 5", "also hold 5 WebSockets open and catch every drop"),
              ("watch wss://chatapp.com/wss -o json --output-file rollout.json", "keep the report")),
    "lint": (("lint k8s/", "every manifest under k8s/ (recursive)"),
             ("lint deploy.yaml svc.yaml -v", "two files; -v also prints info findings in full"),
             ("lint - < rendered.yaml", "read stdin (e.g. helm template ... | kdiag lint -)"),
             ("lint k8s/ --output-file lint.md", "a Markdown report")),
    "demo": (("demo", "the default scenario in the TUI"),
             ("demo --list", "describe every scenario"),
             ("demo target-port-mismatch", "one scenario"),
             ("demo healthy --serve", "keep the lab running and print its kubeconfig")),
    "report": (("report show report.json", "open a saved JSON report in the TUI"),
               ("report show report.json -o text", "print it instead"),
               ("report show report.json --output-file report.html", "convert it to HTML")),
    "checks": (("checks", "the whole catalog, grouped by hop"),
               ("checks service-target-port-mismatch", "explain one check and its fix"),
               ("checks -o markdown", "the catalog as Markdown")),
    "completion": (("completion bash > ~/.local/share/bash-completion/completions/kdiag", "bash"),
                   ("completion zsh > \"${fpath[1]}/_kdiag\"", "zsh"),
                   ("completion fish > ~/.config/fish/completions/kdiag.fish", "fish"),
                   ("source <(kdiag completion bash)", "try it in the current bash")),
}


def prog_name(argv0: str | None = None) -> str:
    """`kubectl kdiag` when run as the kubectl plugin executable, else `kdiag`."""
    name = os.path.basename(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else ""))
    return "kubectl kdiag" if name.startswith("kubectl-kdiag") else "kdiag"


def epilog(command: str, prog: str, *, exit_codes: str = EXIT_CODES_DIAGNOSE) -> str:
    """The Examples and Exit codes sections of one command's help (`""` is the top level)."""
    out = ["Examples:"]
    for args, what in _EXAMPLES[command]:  # kubectl's layout: the comment, then the command
        line = args.replace("kdiag", prog) if args.startswith("source ") else f"{prog} {args}".rstrip()
        out += [f"  # {what}", f"  {line}", ""]
    out.pop()
    return "\n".join(out) + "\n\n" + exit_codes
