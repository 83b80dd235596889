"""``spasmtrack replay RECORDING``: run the real firmware detector on a recording."""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import UserError
from .dose import add_db_option, store_from

#: Detector parameters are non-negative and must stay ESP32 small ints (< 2**30).
PARAM_MAX = (1 << 30) - 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run the firmware's DSP and detector on a CSV/EDF/BDF recording",
                       description="Feed a recording through the real firmware (MicroPython unix port) "
                                   "and write the detected events as JSON (times in s from the start).")
    p.add_argument("recording", help="CSV (t_s,emg_uV,ax_g,...,gz_dps), EDF+ or BDF+ file")
    p.add_argument("--board", default="sim", help="board definition for unit conversion and filters (default sim)")
    p.add_argument("--out", help="write the events JSON here (default: print to stdout)")
    p.add_argument("--summaries", help="also write the per-window summaries JSON here")
    p.add_argument("--mains", type=int, choices=(0, 50, 60), default=None,
                   help="mains notch in the firmware chain (default: the board's setting)")
    p.add_argument("--emg-label", action="append", dest="emg_labels", metavar="LABEL",
                   help="EDF/BDF: signal label of an EMG channel (repeat for more; default: labels with 'EMG')")
    p.add_argument("--acc-labels", help="EDF/BDF: accelerometer x,y,z signal labels (comma separated)")
    p.add_argument("--gyro-labels", help="EDF/BDF: gyroscope x,y,z signal labels (comma separated)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=INT",
                   help="override a detector parameter (detconfig.py), e.g. min_duration_ms=800")
    p.add_argument("--patient", default=None,
                   help="also store the events as a device's records for this patient (needs "
                        "--start; device key replay:<file hash>), so they reach the report")
    p.add_argument("--start", default=None,
                   help="with --patient: when the recording started ('2026-11-20 08:00' in the "
                        "patient's zone, or with an offset/zone)")
    add_db_option(p)
    p.set_defaults(func=run)


def _overrides(items: list[str]) -> dict[str, int]:
    from ..replay import param_names

    known = param_names()
    out: dict[str, int] = {}
    for it in items:
        name, sep, val = it.partition("=")
        if not sep or name not in known:
            raise UserError(f"--set {it!r}: expected NAME=INT with NAME one of {', '.join(sorted(known))}")
        try:
            out[name] = int(val)
        except ValueError:
            raise UserError(f"--set {it!r}: value must be an integer") from None
        if not 0 <= out[name] <= PARAM_MAX:
            raise UserError(f"--set {it!r}: value must be between 0 and {PARAM_MAX}")
    return out


def check_writable(opt: str, path: str | None, *, make_parents: bool = False) -> None:
    """Fail before a long run, not after it, when an output file cannot be written
    (``make_parents``: the command creates missing folders; their nearest existing
    ancestor must then be writable)."""
    import os
    from pathlib import Path
    if not path:
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UserError(f"{opt} {path}: is a folder; give a file name")
    if make_parents:
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{opt} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{opt} {path}: not writable by this user; choose another place")


def run(args: argparse.Namespace) -> int:
    from ..replay import replay_file

    def labels(s: str | None) -> list[str] | None:
        return [x.strip() for x in s.split(",")] if s else None

    config = _overrides(args.set) or None
    check_writable("--out", args.out)
    check_writable("--summaries", args.summaries)
    store = None
    start_ms = 0
    if args.patient or args.start:
        if not (args.patient and args.start):
            raise UserError("--patient and --start go together (whose recording, and when it started)")
        from ..doses.parse import parse_time
        store = store_from(args)
        tz = store.patient(args.patient)["tz"]
        start_ms = parse_time(args.start, None, default_zone=tz)[0]
    res = replay_file(args.recording, board=args.board, out=args.out, mains_hz=args.mains,
                      emg_labels=args.emg_labels, acc_labels=labels(args.acc_labels),
                      gyro_labels=labels(args.gyro_labels), config=config)
    if args.summaries:
        with open(args.summaries, "w") as fh:
            json.dump(res.summaries, fh, indent=1)
    if not args.out:
        json.dump(res.events, sys.stdout, indent=1)
        sys.stdout.write("\n")
    kinds: dict[str, int] = {}
    for e in res.events:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    lost = sum(s["lost_ds"] for s in res.summaries) / 10.0
    print(f"replayed {res.seconds:.1f} s of {len(res.channels)} channel(s) on board {args.board} in "
          f"{res.wall_s:.2f} s ({res.x_realtime:.0f}x real time): {len(res.events)} events "
          f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items())) or 'none'}), lost signal {lost:.1f} s",
          file=sys.stderr)
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr)
    if store is not None:
        from ..replay_store import store_replay
        imp = store_replay(store, args.patient, args.recording, res, start_ms, board=args.board,
                           config=config)
        print(f"stored for patient {args.patient} as device {imp.device_key}: {imp.inserted} new "
              f"records ({imp.events} events, {imp.summaries} summary windows"
              + (f"; {imp.duplicates} already stored" if imp.duplicates else "") + ")", file=sys.stderr)
    return 0
