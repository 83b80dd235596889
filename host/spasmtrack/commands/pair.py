"""``spasmtrack pair``: pair and bond with a device (LE Secure Connections)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..ble.cliopts import add_address, add_radio_option
    p = sub.add_parser("pair", help="pair/bond with a device so it will share its records")
    add_address(p)
    add_radio_option(p)
    p.set_defaults(func=_pair)


def _pair(args: argparse.Namespace) -> int:
    from bleak import BleakClient
    from bleak.exc import BleakError

    from ..ble import protocol as P
    from ..ble.cliopts import client_kwargs, run
    from ..errors import UserError

    async def go() -> dict:
        c = BleakClient(args.address, pair=True, timeout=args.timeout, **client_kwargs(args))
        await c.connect()
        try:
            model = bytes(await c.read_gatt_char(P.uuid16(P.MODEL_UUID16))).decode(errors="replace")
            fw = bytes(await c.read_gatt_char(P.uuid16(P.FIRMWARE_REV_UUID16))).decode(errors="replace")
            status = P.decode_status(bytes(await c.read_gatt_char(P.STATUS_UUID)))
            return {"model": model, "fw": fw, **status}
        finally:
            await c.disconnect()

    try:
        info = run(go())
    except BleakError as exc:
        raise UserError(f"pairing with {args.address} failed: {exc}") from None
    print(f"paired with {args.address}: {info['model']} firmware {info['fw']}, "
          f"{info['last_seq'] - info['acked_seq']} records not yet synced, battery "
          f"{info['battery_pct']} %")
    return 0
