"""The headless CLI: `tunesmith <command>`. A contract scripts depend on.

Plain text on stdout; errors on stderr naming the file/field at fault, never a traceback.
Exit 0 success, 1 failure, 2 bad usage or bad input. With no command, the TUI starts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, Sequence

from core.errors import TunesmithError

# The command modules; each exposes register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = (
    "core.commands.project",
    "core.commands.doctor",
    "core.commands.interview",
    "core.commands.boundaries",
    "core.commands.evalset",
    "core.commands.generate",
    "core.commands.train",
    "core.commands.evaluate",
    "core.commands.spot_check",
    "core.commands.rate",
    "core.commands.serve",
    "core.commands.run",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # bad usage: exit 2 with the usage line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tunesmith",
        description="Turn a domain expert's knowledge into a fine-tuned model. "
        "Run without a command for the terminal app.",
    )
    from core import __version__

    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list:
        return _run_tui()
    parser = build_parser()
    args = parser.parse_args(args_list)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except TunesmithError as exc:
        print(f"tunesmith {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"tunesmith {args.command}: interrupted; progress so far is saved", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1


def _run_tui() -> int:
    app_module = importlib.import_module("tui.app")
    app_module.run_app()
    return 0


if __name__ == "__main__":
    sys.exit(main())
