"""``callbox web``: serve the staff panel; ``callbox web fingerprint``: show its HTTPS fingerprint.

HTTPS with the box's self-signed certificate on any non-loopback address; plain HTTP only on
127.0.0.1 (for the demo, or behind an SSH tunnel). The panel package (``callbox_web``) is optional for
the daemon, so it is imported only when these commands run.
"""

from __future__ import annotations

import argparse

from callbox.cli import EXIT_OK, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("web", help="serve the staff panel (HTTPS on the LAN, HTTP only on 127.0.0.1)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0, all; 127.0.0.1 = this box only)")
    p.add_argument("--port", type=int, default=None, help="port (default 8443 with HTTPS, 8080 on 127.0.0.1)")
    p.set_defaults(func=cmd_web)
    sub = p.add_subparsers(dest="web_command", metavar="COMMAND")
    f = sub.add_parser("fingerprint", help="print the SHA-256 fingerprint of the panel's certificate")
    f.set_defaults(func=cmd_fingerprint)


def _panel():
    try:
        import callbox_web  # noqa: F401
    except ModuleNotFoundError as exc:
        raise UsageError("the panel package (callbox_web) is not installed: `pip install -e .` from the source tree") from exc
    from callbox_web import security, server

    return security, server


def cmd_web(args: argparse.Namespace) -> int:
    security, server = _panel()
    from callbox.store import open_store

    store = open_store(args.data)
    if store.organisation() is None:
        store.close()
        raise UsageError(f"{args.data} is not set up: run `callbox --data {args.data} init ...` first")
    loopback = server.is_loopback(args.host)
    port = args.port or (8080 if loopback else 8443)
    if not loopback:
        security.ensure_certificate(args.data / "web")
    server.serve(args.data, args.host, port)
    return EXIT_OK


def cmd_fingerprint(args: argparse.Namespace) -> int:
    security, _server = _panel()
    security.ensure_certificate(args.data / "web")
    print(security.fingerprint(args.data / "web"))
    return EXIT_OK
