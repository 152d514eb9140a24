"""The headless CLI: `tunesmith <command>`. A contract scripts depend on.

Plain text on stdout; errors on stderr naming the file/field at fault, never a traceback.
Exit 0 success, 1 failure, 2 bad usage or bad input. With no command, the TUI starts.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from typing import Callable, Sequence

from core.errors import BadInput, TunesmithError

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
    _robust_stdin()
    try:
        _check_text_arguments(args)
        from core.lock import kept_until_done

        with kept_until_done():  # a project's lock, once a write took it, stays taken until the command ends
            return int(func(args) or 0)
    except TunesmithError as exc:
        print(f"tunesmith {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"tunesmith {args.command}: interrupted; progress so far is saved", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except OSError as exc:  # e.g. stdout on a full disk: one line, not a traceback
        if exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
            raise
        try:
            print(f"tunesmith {args.command}: cannot write: {exc.strerror}; progress so far is saved",
                  file=sys.stderr)
        except OSError:
            pass
        return 1


def _robust_stdin() -> None:
    """A closed stdin reads as empty input; bytes that are not UTF-8 become U+FFFD instead of a crash
    (an answer typed in another encoding is kept, marked, rather than lost)."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
        return
    try:
        sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        pass


def _check_text_arguments(args: argparse.Namespace) -> None:
    """Every text argument is valid UTF-8 (Python keeps undecodable bytes as lone surrogates, which no
    file can store): say which one is not, instead of failing deep in a model's validation."""
    for name, value in vars(args).items():
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    option = "NAME" if name == "name" else "--" + name.replace("_", "-")
                    raise BadInput(f"{option}: not valid UTF-8 text (undecodable bytes at character {exc.start}); "
                                   f"retype it in a UTF-8 terminal") from None


def _run_tui() -> int:
    app_module = importlib.import_module("tui.app")
    app_module.run_app()
    return 0


if __name__ == "__main__":
    sys.exit(main())
