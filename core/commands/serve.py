"""`tunesmith serve`: the same terminal app, in a browser, through textual-serve.

Each browser tab that connects starts its own `python -m core.cli` (the TUI) behind a web socket;
the server only relays keys and frames. There is no authentication: anyone who can reach the port
can drive the app and read the projects, so it binds to 127.0.0.1 unless told otherwise. Over SSH,
forward the port instead (`ssh -L 8000:127.0.0.1:8000 host`) and open http://127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import sys
from pathlib import Path

from core.errors import BadInput, TunesmithError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
INSTALL_HINT = "pip install 'tunesmith[serve]'"

EPILOG = (
    "No authentication: anyone who can reach the port can drive tunesmith and read your projects. "
    f"The default host {DEFAULT_HOST} keeps it to this machine; over SSH forward the port "
    "(ssh -L 8000:127.0.0.1:8000 HOST) rather than binding elsewhere. With --host 0.0.0.0 (or any "
    "non-loopback address) the app is exposed to your network; set --public-url to the address the "
    "browser uses (e.g. https://tunesmith.example.org behind a reverse proxy)."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="open the app in a browser (textual-serve; loopback only by default)",
        description="Serve the tunesmith app to a web browser with textual-serve.", epilog=EPILOG,
    )
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to bind (default {DEFAULT_HOST}: this machine only; binding elsewhere "
                        "exposes the app, unauthenticated, to whoever can reach it)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    p.add_argument("--public-url", metavar="URL",
                   help="the URL the browser reaches the server at, when it differs from http://HOST:PORT "
                        "(a reverse proxy, a forwarded port)")
    p.set_defaults(func=cmd_serve)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, not {port}")
    return port


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_command() -> str:
    """The shell command textual-serve runs for each browser session: this Python, the TUI."""
    return f"{shlex.quote(sys.executable)} -m core.cli"


def app_environment() -> None:
    """What the app's subprocesses inherit (textual-serve copies os.environ): ``core`` importable from
    wherever the server was started, and the projects folder this process would use, made absolute."""
    from core.project import projects_root

    source_root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if source_root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([source_root, *paths])
    os.environ["TUNESMITH_PROJECTS"] = str(projects_root().resolve())


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise TunesmithError(f"textual-serve is not installed: {INSTALL_HINT}") from None
    if args.public_url and not args.public_url.startswith(("http://", "https://")):
        raise BadInput(f"--public-url: must start with http:// or https://, not {args.public_url!r}")
    if not is_loopback(args.host):
        print(f"tunesmith serve: warning: binding to {args.host} exposes the app, with no authentication, "
              "to everyone who can reach this port (they can drive tunesmith and read your projects)",
              file=sys.stderr)
    app_environment()
    host_in_url = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
    public_url = (args.public_url or f"http://{host_in_url}:{args.port}").rstrip("/")
    server = Server(command=app_command(), host=args.host, port=args.port, title="tunesmith",
                    public_url=public_url)
    print(f"tunesmith serve: open {public_url} in a browser (projects in {os.environ['TUNESMITH_PROJECTS']}); "
          "ctrl+c stops", flush=True)
    try:
        server.serve()
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        raise TunesmithError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
                             "try another --port") from None
    return 0
