"""``spasmtrack scan``: list spasmtrack devices whose pairing window is open.

A device advertises from a private address; only while its pairing window is open (long
press of its button) does it add its neutral name (``ST-...``), so that is when it can be
found. Pair with the address shown; later commands use the identity address that
``spasmtrack pair`` prints."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..ble.cliopts import add_radio_option
    p = sub.add_parser("scan", help="list spasmtrack devices in range (BLE)")
    p.add_argument("--seconds", type=float, default=3.0, help="how long to listen (s)")
    p.add_argument("--all", action="store_true", help="list every BLE device, not only spasmtrack")
    add_radio_option(p)
    p.set_defaults(func=_scan)


def _scan(args: argparse.Namespace) -> int:
    from bleak import BleakScanner

    from ..ble import protocol as P
    from ..ble.cliopts import run, scanner_kwargs

    async def go():
        return await BleakScanner.discover(timeout=args.seconds, return_adv=True, **scanner_kwargs(args))

    found = run(go())
    n = 0
    for addr, (dev, adv) in sorted(found.items()):
        ours = (adv.local_name or "").startswith(P.ADV_NAME_PREFIX)
        if ours or args.all:
            print(f"{dev.address}  {adv.local_name or '-':24s}  rssi {adv.rssi} dBm"
                  + ("" if ours else "  (not spasmtrack)"))
            n += 1
    if n == 0:
        print("no spasmtrack device in its pairing window (hold its button to open it)")
        return 1
    return 0
