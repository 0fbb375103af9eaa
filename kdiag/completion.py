"""Shell completion: `kdiag completion bash|zsh|fish` prints a script; the script calls back into
the hidden `kdiag __complete WORD... CURRENT`, which answers one candidate per line.

The callback knows the subcommands and options (from the argparse parser), the values of
options with choices (formats, --via), demo scenario names, check ids, and the contexts and
namespaces of the kubeconfig. It reads the kubeconfig file only, never the cluster. When a file
name is wanted it answers the single line `:files` and the shell completes paths itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence

__all__ = ["FILES", "SHELLS", "candidates", "complete_main", "script"]

SHELLS = ("bash", "zsh", "fish")
FILES = ":files"

_BASH = r"""# kdiag completion for bash. Load it: source <(kdiag completion bash)
_kdiag_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}" out
    local IFS=$'\n'
    out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
    if [[ "$out" == ":files" ]]; then
        [[ "$cur" == "=" ]] && cur=""
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        return 0
    fi
    COMPREPLY=($out)
}
complete -F _kdiag_complete kdiag kubectl-kdiag
"""

_ZSH = r"""#compdef kdiag kubectl-kdiag
# kdiag completion for zsh. Load it: source <(kdiag completion zsh), or save it as _kdiag in $fpath.
_kdiag() {
    local -a out
    out=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    out=("${(@)out:#}")
    if [[ "${out[1]}" == ":files" ]]; then
        _files
        return
    fi
    (( ${#out} )) && compadd -Q -- "${(@)out}"
}
if [[ "${funcstack[1]}" == "_kdiag" ]]; then
    _kdiag "$@"
else
    compdef _kdiag kdiag kubectl-kdiag
fi
"""

_FISH = r"""# kdiag completion for fish. Load it: kdiag completion fish | source
function __kdiag_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l out ($tokens[1] __complete $tokens[2..-1] "$cur" 2>/dev/null)
    if test "$out[1]" = ":files"
        __fish_complete_path "$cur"
        return
    end
    printf '%s\n' $out
end
complete -c kdiag -f -a '(__kdiag_complete)'
complete -c kubectl-kdiag -f -a '(__kdiag_complete)'
"""


def script(shell: str) -> str:
    """The completion script for `shell` (bash, zsh or fish)."""
    return {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}[shell]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The visible subcommands of a parser (those listed in its help)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            visible = {a.dest for a in action._choices_actions}
            return {name: p for name, p in action.choices.items() if name in visible}
    return {}


def _option(parser: argparse.ArgumentParser, word: str) -> argparse.Action | None:
    return parser._option_string_actions.get(word)


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0 and not isinstance(action, argparse._VersionAction | argparse._HelpAction)


def _option_value(words: Sequence[str], *names: str) -> str | None:
    """The last value given to an option (`--opt VALUE` or `--opt=VALUE`) on the line."""
    found = None
    for i, w in enumerate(words):
        for n in names:
            if w == n and i + 1 < len(words) and words[i + 1] != "=":
                found = words[i + 1]
            elif w == n and i + 2 < len(words) and words[i + 1] == "=":
                found = words[i + 2]
            elif w.startswith(n + "="):
                found = w[len(n) + 1:]
    return found


def _kubeconfig_names(words: Sequence[str], what: str) -> list[str]:
    """Contexts, or namespaces named by contexts, of the kubeconfig the line names (file only)."""
    from kdiag.errors import KdiagError
    from kdiag.kube.kubeconfig import load_kubeconfig

    try:
        info = load_kubeconfig(_option_value(words, "--kubeconfig"))
    except (KdiagError, OSError, ValueError):
        return []
    if info is None:
        return []
    if what == "context":
        return list(info.contexts)
    chosen = _option_value(words, "--context") or info.current_context
    names: list[str] = []
    first = (info.context_entries.get(chosen or "") or {}).get("namespace")
    for ns in [first] + [(e or {}).get("namespace") for e in info.context_entries.values()] + ["default"]:
        if isinstance(ns, str) and ns and ns not in names:
            names.append(ns)
    return names


def _values(action: argparse.Action, command: str | None, words: Sequence[str]) -> list[str]:
    choices = action.choices or getattr(action.type, "choices", None)
    if choices:
        return [str(c) for c in choices]
    if action.dest == "context":
        return _kubeconfig_names(words, "context")
    if action.dest == "namespace" and command != "lint":
        return _kubeconfig_names(words, "namespace")
    if action.dest in ("kubeconfig", "output_file", "filename"):
        return [FILES]
    return []


def _positionals(command: str | None, sub: str | None, parser: argparse.ArgumentParser) -> list[str]:
    subs = _subparsers(parser)
    if subs:
        return list(subs)
    if command == "demo":
        from kdiag.lab.scenarios import scenario_names

        return list(scenario_names())
    if command == "checks":
        from kdiag.catalog import catalog

        return list(catalog())
    if command == "completion":
        return list(SHELLS)
    if command == "lint" or (command == "report" and sub == "show"):
        return [FILES]
    return []


def candidates(parser: argparse.ArgumentParser, words: Sequence[str], current: str) -> list[str]:
    """What may come at `current`, the word being typed after `words` (the program name left out)."""
    command: str | None = None
    sub: str | None = None
    i = 0
    while i < len(words):  # find the (sub)command, skipping options and their values
        w = words[i]
        action = _option(parser, w)
        if action is not None and _takes_value(action) and "=" not in w:
            i += 3 if i + 1 < len(words) and words[i + 1] == "=" else 2
            continue
        if not w.startswith("-") and w != "=":
            subs = _subparsers(parser)
            if w in subs:
                if command is None:
                    command = w
                else:
                    sub = w
                parser = subs[w]
        i += 1
    prev = words[-1] if words else ""
    if prev == "=" and len(words) >= 2:  # bash splits --opt=value into --opt, =, value
        prev = words[-2]
        current = "" if current == "=" else current
    elif current == "=" and _option(parser, prev) is not None:
        current = ""
    action = _option(parser, prev)
    if action is not None and _takes_value(action) and not current.startswith("--"):
        return _filter(_values(action, command, words), current)
    if current.startswith("--") and "=" in current:
        name, _, value = current.partition("=")
        action = _option(parser, name)
        if action is None or not _takes_value(action):
            return []
        values = _values(action, command, words)
        return values if values == [FILES] else [f"{name}={v}" for v in _filter(values, value)]
    if current.startswith("-"):
        opts = [s for a in parser._actions for s in a.option_strings if a.help != argparse.SUPPRESS]
        return _filter(opts, current)
    return _filter(_positionals(command, sub, parser), current)


def _filter(values: Iterable[str], prefix: str) -> list[str]:
    values = list(values)
    if values == [FILES]:
        return values
    return [v for v in values if v.startswith(prefix)]


def complete_main(args: Sequence[str], parser: argparse.ArgumentParser) -> int:
    """`kdiag __complete WORD... CURRENT`: print the candidates, one a line; never fails loudly."""
    words, current = (list(args[:-1]), args[-1]) if args else ([], "")
    try:
        out = candidates(parser, words, current)
    except Exception:  # completion must never print a traceback into the prompt
        if os.environ.get("KDIAG_DEBUG"):
            raise
        out = []
    sys.stdout.write("".join(f"{c}\n" for c in out))
    return 0
