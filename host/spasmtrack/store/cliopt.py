"""Shared ``--db`` option of the commands that use the store (H-host commands)."""
from __future__ import annotations

import argparse

from . import ENV_VAR, Store, open_store


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None,
                   help=f"database URL (sqlite:///path or postgresql://...); default ${ENV_VAR} "
                        "or ~/.local/share/spasmtrack/spasmtrack.sqlite")


def store_from(args: argparse.Namespace) -> Store:
    return open_store(args.db)
