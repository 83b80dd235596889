"""Options and helpers shared by ``spasmtrack scan|pair|sync|live``."""
from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any, Awaitable, TypeVar

from ..errors import UserError
from .bumble_backend import RADIO_ENV, backends, close_adapter

T = TypeVar("T")


def add_radio_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--radio", metavar="SPEC", default=None,
                   help=f"use the virtual radio over this HCI transport (e.g. unix:DIR/hci.sock); "
                        f"default ${RADIO_ENV} if set, else the computer's Bluetooth")


def add_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", help="device Bluetooth address (from `spasmtrack scan`)")
    p.add_argument("--timeout", type=float, default=20.0, help="connect timeout in seconds")


def apply_radio(args: argparse.Namespace) -> None:
    if getattr(args, "radio", None):
        os.environ[RADIO_ENV] = args.radio


def client_kwargs() -> dict[str, Any]:
    be = backends()
    return {"backend": be["client"]} if be else {}


def scanner_kwargs() -> dict[str, Any]:
    be = backends()
    return {"backend": be["scanner"]} if be else {}


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        try:
            return await coro
        finally:
            await close_adapter()
    try:
        return asyncio.run(main())
    except FileNotFoundError:
        # bleak talks to BlueZ over the system D-Bus socket; without it there is no adapter
        raise UserError("no Bluetooth adapter reachable (BlueZ is not running or this computer "
                        "has no Bluetooth): switch Bluetooth on, or use --radio SPEC for the "
                        "virtual radio") from None
    except (OSError, TimeoutError) as exc:
        raise UserError(f"Bluetooth: {exc}") from None
