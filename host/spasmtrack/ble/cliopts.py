"""Options and helpers shared by ``spasmtrack scan|pair|sync|live``."""
from __future__ import annotations

import argparse
import asyncio
from typing import Any, Awaitable, TypeVar

from ..errors import UserError
from .bumble_backend import RADIO_ENV, BumbleRadio, backends, close_adapter

T = TypeVar("T")


def add_radio_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--radio", metavar="SPEC", default=None,
                   help=f"use the virtual radio over this HCI transport (e.g. unix:DIR/hci.sock); "
                        f"default ${RADIO_ENV} if set, else the computer's Bluetooth")


def add_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", help="device Bluetooth address (from `spasmtrack scan`)")
    p.add_argument("--timeout", type=float, default=20.0, help="connect timeout in seconds")


def radio(args: argparse.Namespace) -> BumbleRadio | None:
    """The Bumble radio of ``--radio``, else of ``$SPASMTRACK_BLE_RADIO``; None: the OS's Bluetooth."""
    spec = getattr(args, "radio", None)
    return BumbleRadio(spec) if spec else BumbleRadio.from_env()


def client_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``BleakClient`` keyword arguments for the radio ``args`` chose."""
    r = radio(args)
    return {"backend": backends(r)["client"], "radio": r} if r else {}


def scanner_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``BleakScanner`` keyword arguments for the radio ``args`` chose."""
    r = radio(args)
    return {"backend": backends(r)["scanner"], "radio": r} if r else {}


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
