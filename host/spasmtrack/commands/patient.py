"""``spasmtrack patient``: add/list patients, assign a device to a patient."""
from __future__ import annotations

import argparse

from .dose import add_db_option, store_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("patient", help="manage patients and which device they wear")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = ps.add_parser("add", help="add a patient (pseudonymous code + IANA time zone)")
    a.add_argument("code")
    a.add_argument("--tz", required=True, help="IANA time zone, e.g. Europe/Berlin")
    a.add_argument("--name", default=None, help="display name (optional)")
    add_db_option(a)
    a.set_defaults(func=_add)
    ls = ps.add_parser("list", help="list patients and their devices")
    add_db_option(ls)
    ls.set_defaults(func=_list)
    d = ps.add_parser("assign-device", help="record that a device is worn by a patient")
    d.add_argument("code")
    d.add_argument("device", help="device key (BLE address or serial)")
    d.add_argument("--since", default=None,
                   help="time WITH zone from which the device is this patient's (default: all data "
                        "for a new device, now for a reassigned one)")
    add_db_option(d)
    d.set_defaults(func=_assign)


def _add(args) -> int:
    st = store_from(args)
    pid = st.add_patient(args.code, args.tz, args.name)
    print(f"patient {args.code} added (#{pid}, time zone {args.tz})")
    return 0


def _list(args) -> int:
    st = store_from(args)
    for p in st.patients():
        devs = ", ".join(d["key"] for d in st.devices(p["code"])) or "no device"
        print(f"{p['code']:16} {p['tz']:24} {devs}")
    return 0


def _assign(args) -> int:
    from ..doses.parse import parse_time
    st = store_from(args)
    since = parse_time(args.since)[0] if args.since else None
    st.assign_device(args.device, args.code, since_utc_ms=since)
    print(f"device {args.device} assigned to {args.code}")
    return 0
