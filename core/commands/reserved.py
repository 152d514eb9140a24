"""Commands whose names the CLI contract reserves but whose stage is not built yet.

Each parses its documented arguments and then says plainly that it is not available yet (exit 1),
so scripts written against the contract fail loudly instead of silently.
"""

from __future__ import annotations

import argparse
import sys

# name -> (help, issue that delivers it, argument adder)
RESERVED: dict[str, tuple[str, str]] = {
    "run": ("the whole pipeline", "issue #7"),
    "serve": ("open the app in a browser", "issue #7"),
}


def _args(name: str, p: argparse.ArgumentParser) -> None:
    if name != "serve":
        p.add_argument("name")
    if name == "train":
        p.add_argument("--backend", choices=("local", "hf_jobs"))
        p.add_argument("--base-model")
        p.add_argument("--yes", action="store_true")
        p.add_argument("--follow", action="store_true")
    elif name in ("logs", "cancel"):
        p.add_argument("run")
        if name == "logs":
            p.add_argument("--follow", action="store_true")
    elif name == "evaluate":
        p.add_argument("--base")
        p.add_argument("--candidate")
    elif name == "run":
        p.add_argument("--approve-all", action="store_true")
        p.add_argument("--base-model")


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, issue) in RESERVED.items():
        p = sub.add_parser(name, help=f"{help_text} (not available yet)")
        _args(name, p)
        p.set_defaults(func=_not_yet(name, issue))


def _not_yet(name: str, issue: str):
    def run(args: argparse.Namespace) -> int:
        print(f"tunesmith {name}: not available yet; it arrives with {issue}", file=sys.stderr)
        return 1

    return run
