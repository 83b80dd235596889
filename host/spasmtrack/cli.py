"""The ``spasmtrack`` command line.

Each sub-command lives in its own module under :mod:`spasmtrack.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (returning an exit code).
Commands are discovered, so adding one touches no central list.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spasmtrack", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"spasmtrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"spasmtrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - known failures become one line, others re-raise
        from .cli_messages import message_for
        msg = message_for(exc, getattr(args, "db", None))
        if msg is None:
            raise
        print(f"spasmtrack {args.command}: error: {msg}", file=sys.stderr)
        return 2



if __name__ == "__main__":
    sys.exit(main())
