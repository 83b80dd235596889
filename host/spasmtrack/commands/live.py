"""``spasmtrack live``: show the live EMG envelope (checking electrode placement)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..ble.cliopts import add_address, add_radio_option
    p = sub.add_parser("live", help="stream the live EMG envelope from a device")
    add_address(p)
    p.add_argument("--seconds", type=float, default=10.0, help="how long to stream (s)")
    add_radio_option(p)
    p.set_defaults(func=_live)


def _live(args: argparse.Namespace) -> int:
    import asyncio

    from bleak import BleakClient

    from ..ble import protocol as P
    from ..ble.cliopts import client_kwargs, run

    async def go() -> int:
        c = BleakClient(args.address, pair=True, timeout=args.timeout, **client_kwargs(args))
        await c.connect()
        n = 0

        def on_live(_c, data: bytearray) -> None:
            nonlocal n
            vals = [int.from_bytes(data[i:i + 2], "little") / 10 for i in range(1, len(data) - 1, 2)]
            n += len(vals)
            if vals:
                peak = max(vals)
                print(f"envelope {sum(vals) / len(vals):8.1f} uV  peak {peak:8.1f} uV  "
                      + "#" * min(60, int(peak / 5)))
        try:
            await c.start_notify(P.LIVE_UUID, on_live)
            await c.write_gatt_char(P.LIVE_UUID, b"\x01", response=True)
            await asyncio.sleep(args.seconds)
            await c.write_gatt_char(P.LIVE_UUID, b"\x00", response=True)
        finally:
            await c.disconnect()
        return n

    n = run(go())
    print(f"{n} envelope samples received")
    return 0 if n else 1
