"""``spasmtrack sync``: copy a device's new records into the database over BLE."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from ..ble.cliopts import add_address, add_radio_option
    from .dose import add_db_option
    p = sub.add_parser("sync", help="sync a device's records into the database (resumes)")
    add_address(p)
    p.add_argument("--device-key", default=None,
                   help="device key in the database (default: the address)")
    p.add_argument("--no-clock", action="store_true", help="do not set the device clock")
    p.add_argument("--tz-quarter-hours", type=int, default=None,
                   help="local UTC offset sent to the device (information only; default: this computer's)")
    add_db_option(p)
    add_radio_option(p)
    p.set_defaults(func=_sync)


def _sync(args: argparse.Namespace) -> int:
    import time

    from bleak.exc import BleakError

    from ..ble.cliopts import radio, run
    from ..ble.sync import SyncError, SyncResult, sync_device
    from ..errors import UserError
    from .dose import store_from

    st = store_from(args)
    key = args.device_key or args.address.upper()
    tzq = args.tz_quarter_hours
    if tzq is None:
        tzq = -time.timezone // 900 if not time.localtime().tm_isdst else -time.altzone // 900

    got = {"records": 0}

    def progress(r: SyncResult) -> None:
        got["records"] = r.records
        print(f"\r  {r.records} records, {r.bytes_rx} bytes, stored up to seq {r.last_seq}",
              end="", file=sys.stderr, flush=True)

    try:
        res = run(sync_device(args.address, st, key, timeout_s=args.timeout,
                              set_clock=not args.no_clock, tz_quarter_h=tzq, progress=progress,
                              backend=radio(args)))
    except (SyncError, BleakError) as exc:
        print(file=sys.stderr)
        from bleak.exc import BleakDeviceNotFoundError
        if got["records"] == 0 and (isinstance(exc, BleakDeviceNotFoundError)
                                    or "cannot connect" in str(exc) or "not found" in str(exc)):
            raise UserError(f"could not reach device {args.address} ({exc}); nothing was stored. "
                            "Check that it is switched on, in range and paired "
                            "(`spasmtrack scan`, `spasmtrack pair ADDRESS`)") from None
        raise UserError(f"sync with {args.address} stopped: {exc}. Everything stored so far "
                        "is kept; run sync again to continue.") from None
    print(file=sys.stderr)
    print(res.summary())
    acc = st.sync_accounting(key)
    if acc["missing_seqs"]:
        print(f"warning: {len(acc['missing_seqs'])} seqs missing without a LOSS record: "
              f"{acc['missing_seqs'][:10]}", file=sys.stderr)
    return 0
