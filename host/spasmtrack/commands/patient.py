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
                   help="time from which the device is this patient's (patient's zone unless "
                        "given; 'now' accepted). Default: all data for a new device; REQUIRED "
                        "when the device is worn by another patient (their assignment ends then)")
    add_db_option(d)
    d.set_defaults(func=_assign)


#: Patient codes are pseudonyms: letters, digits and - _ . (no names, no spaces).
CODE_MAX = 32


def check_code(code: str) -> str:
    import re

    from ..errors import UserError
    c = code.strip()
    if not c:
        raise UserError("patient code is empty: give a pseudonymous code such as P-0042")
    if len(c) > CODE_MAX or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", c):
        shown = c if len(c) <= 40 else c[:37] + "..."
        raise UserError(f"patient code {shown!r} ({len(c)} characters) must be 1-{CODE_MAX} letters, "
                        "digits, '-', '_' or '.' (a pseudonym, not a name)")
    return c


def _add(args) -> int:
    from ..errors import UserError
    code = check_code(args.code)
    if args.name is not None and (not args.name.strip() or len(args.name) > 120):
        raise UserError(f"--name must be 1-120 characters (got {len(args.name)})")
    st = store_from(args)
    pid = st.add_patient(code, args.tz, args.name)
    print(f"patient {code} added (#{pid}, time zone {args.tz}"
          + (f", name {args.name.strip()}" if args.name else "") + ")")
    return 0


def _list(args) -> int:
    from ..analysis.tzutil import fmt_local
    st = store_from(args)
    pats = st.patients()
    if not pats:
        print("no patients (add one with `spasmtrack patient add`)")
    for p in pats:
        devs = []
        for _, key, f, t in st.device_windows(p["code"]):
            since = f" from {fmt_local(f, p['tz'])}" if f > 0 else ""
            until = f" until {fmt_local(t, p['tz'])}" if t < 2**62 else ""
            devs.append(f"{key}{since}{until}" if until else f"{key}{since}")
        name = p.get("display_name") or "-"
        print(f"{p['code']:16} {name:24} {p['tz']:24} {'; '.join(devs) or 'no device'}")
    return 0


def _assign(args) -> int:
    from ..doses.parse import parse_time
    from ..errors import UserError
    st = store_from(args)
    pat = st.patient(args.code)
    since = parse_time(args.since, pat["tz"])[0] if args.since else None
    current = _current_wearer(st, args.device)
    if current is not None and current != pat["code"] and since is None:
        raise UserError(f"device {args.device} is worn by patient {current}; to move it, give "
                        f"--since TIME (their assignment ends then, earlier data stays with {current})")
    st.assign_device(args.device, pat["code"], since_utc_ms=since)
    if current is not None and current != pat["code"] and since is not None:
        from ..analysis.tzutil import fmt_local
        print(f"device {args.device} moved from {current} (assignment ended "
              f"{fmt_local(since, pat['tz'])}) to {pat['code']}")
    else:
        print(f"device {args.device} assigned to {pat['code']}")
    return 0


def _current_wearer(st, key: str) -> str | None:
    """Code of the patient whose assignment of device ``key`` is still open, if any."""
    for p in st.patients():
        for _, k, _f, t in st.device_windows(p["code"]):
            if k == key and t >= 2**62:
                return str(p["code"])
    return None
