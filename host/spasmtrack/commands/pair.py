"""``spasmtrack pair``: pair and bond with a device (LE Secure Connections, passkey entry).

The patient opens the device's pairing window (long press of its button); the device shows
a 6-digit passkey, which the user types when asked (or gives with ``--passkey``). With the
computer's own Bluetooth (no ``--radio``) the operating system's pairing agent asks.
"""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..ble.cliopts import add_address, add_radio_option
    p = sub.add_parser("pair", help="pair/bond with a device so it will share its records")
    add_address(p)
    add_radio_option(p)
    p.add_argument("--passkey", metavar="NNNNNN", default=None,
                   help="the 6-digit passkey the device shows (asked for when omitted)")
    p.set_defaults(func=_pair)


def _pair(args: argparse.Namespace) -> int:
    from bleak import BleakClient
    from bleak.exc import BleakError

    from ..ble import protocol as P
    from ..ble.cliopts import client_kwargs, run
    from ..errors import UserError

    if args.passkey is not None:
        if not (args.passkey.isdigit() and len(args.passkey) == 6):
            raise UserError(f"--passkey must be the 6 digits the device shows, not {args.passkey!r}")
        from ..ble import bumble_backend

        async def given() -> int:
            return int(args.passkey)
        bumble_backend.passkey_source = given

    async def go() -> dict:
        c = BleakClient(args.address, pair=True, timeout=args.timeout, **client_kwargs(args))
        await c.connect()
        try:
            model = bytes(await c.read_gatt_char(P.uuid16(P.MODEL_UUID16))).decode(errors="replace")
            fw = bytes(await c.read_gatt_char(P.uuid16(P.FIRMWARE_REV_UUID16))).decode(errors="replace")
            status = P.decode_status(bytes(await c.read_gatt_char(P.STATUS_UUID)))
            identity = getattr(c._backend, "identity_address", args.address)
            return {"model": model, "fw": fw, "identity": identity, **status}
        finally:
            await c.disconnect()

    try:
        info = run(go())
    except BleakError as exc:
        raise UserError(f"pairing with {args.address} failed: {exc}") from None
    print(f"paired with {info['identity']}: {info['model']} firmware {info['fw']}, "
          f"{info['last_seq'] - info['acked_seq']} records not yet synced, battery "
          f"{info['battery_pct']} %; use {info['identity']} for sync and live")
    return 0
