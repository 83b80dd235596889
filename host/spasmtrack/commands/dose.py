"""``spasmtrack dose``: log doses, import CSV, corrections, pump programs, button marks."""
from __future__ import annotations

import argparse
import sys

ENV_VAR = "SPASMTRACK_DB"

CSV_DOC_SHORT = ("CSV columns (comma or semicolon separated): time (patient's zone unless it has an "
                 "offset or IANA zone), drug, amount, unit (mg|ug|mcg|g), route (oral|intrathecal_bolus), "
                 "optional note, optional zone. See docs/host-data.md.")


def add_db_option(p: argparse.ArgumentParser) -> None:
    """The ``--db URL`` and ``--create`` options shared by the commands that use the store."""
    p.add_argument("--db", metavar="URL", default=None,
                   help=f"database URL (sqlite:///path or postgresql://...); default ${ENV_VAR} "
                        "or ~/.local/share/spasmtrack/spasmtrack.sqlite")
    p.add_argument("--create", action="store_true",
                   help="create the database if it does not exist (otherwise a missing one is an error)")


def store_from(args: argparse.Namespace):
    """Open the store named by ``--db``: a SQLite file must exist unless ``--create``; a
    file this user may not write is opened read-only (reads work, writes are refused)."""
    from ..store import default_url, open_store   # imported on use: keeps `spasmtrack --help` fast
    url = args.db or default_url()
    args.db = url
    return open_store(checked_db_url(url, create=getattr(args, "create", False)))


def checked_db_url(url: str, *, create: bool) -> str:
    """The URL to open, after the checks that need no connection (scheme, file exists)."""
    import os
    from pathlib import Path

    from ..errors import UserError
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser()}"
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise UserError(f"--db {url}: {scheme}:// databases are not supported; use "
                        "sqlite:///path or postgresql://user@host/db")
    if scheme != "sqlite":
        return url
    path_s = url.split("://", 1)[1][1:]
    if not path_s or path_s == ":memory:" or path_s.startswith("file:"):
        return url
    path = Path(path_s).expanduser()
    if not path.exists():
        if not create:
            raise UserError(f"--db {url}: no such database; check the path, or add --create to "
                            "start a new one there")
        return url
    if path.is_dir():
        raise UserError(f"--db {url}: is a folder, not a database file")
    if not os.access(path, os.W_OK):
        return f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
    return url


def _common(p: argparse.ArgumentParser) -> None:
    add_db_option(p)
    p.add_argument("--by", default=None, help="who enters this (default: login name)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dose", help="dose log: add, import, correct, retract, pump programs, marks")
    ps = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = ps.add_parser("add", help="log one dose taken")
    a.add_argument("--patient", required=True)
    a.add_argument("--drug", default="baclofen")
    a.add_argument("--amount", required=True, help="amount with unit, e.g. '20 mg' or '50 ug'")
    a.add_argument("--route", default="oral", help="oral | intrathecal_bolus")
    a.add_argument("--time", required=True,
                   help="when taken: 'now', '2026-11-20 08:00' (patient's zone), "
                        "2026-11-20T08:00+01:00 or '2026-11-20 08:00 Europe/Berlin'")
    a.add_argument("--note", default=None)
    a.add_argument("--allow-duplicate", action="store_true", help="the same dose really was taken twice")
    _common(a)
    a.set_defaults(func=_add)

    i = ps.add_parser("import", help="import a dose CSV", description=CSV_DOC_SHORT,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("file")
    i.add_argument("--patient", required=True)
    _common(i)
    i.set_defaults(func=_import)

    ls = ps.add_parser("list", help="list doses (with --all: superseded and retracted too)")
    ls.add_argument("--patient", required=True)
    ls.add_argument("--all", action="store_true")
    _common(ls)
    ls.set_defaults(func=_list)

    c = ps.add_parser("correct", help="correct a dose (a new version; the old one is kept)")
    c.add_argument("id", type=int)
    c.add_argument("--reason", required=True)
    for f in ("drug", "amount", "route", "time", "note"):
        c.add_argument(f"--{f}", default=None)
    _common(c)
    c.set_defaults(func=_correct)

    r = ps.add_parser("retract", help="mark a dose as entered in error / not taken (kept)")
    r.add_argument("id", type=int)
    r.add_argument("--reason", required=True)
    _common(r)
    r.set_defaults(func=_retract)

    pp = ps.add_parser("pump", help="add an intrathecal pump program (flex schedule)")
    pp.add_argument("--patient", required=True)
    pp.add_argument("--rate", action="append", required=True, metavar="HH:MM=UG_PER_DAY",
                    help="rate from this local clock time, ug/day; repeat up to 13 times "
                         "(e.g. --rate 00:00=350 --rate 07:00=450)")
    pp.add_argument("--from", dest="valid_from", required=True, help="start (patient's zone unless given)")
    pp.add_argument("--to", dest="valid_to", default=None, help="end (patient's zone unless given; default open)")
    pp.add_argument("--drug", default="baclofen")
    pp.add_argument("--replaces", type=int, default=None, help="end this active program at --from")
    pp.add_argument("--note", default=None)
    _common(pp)
    pp.set_defaults(func=_pump)

    pr = ps.add_parser("pump-retract", help="mark a pump program as entered in error (kept)")
    pr.add_argument("id", type=int)
    pr.add_argument("--reason", required=True)
    _common(pr)
    pr.set_defaults(func=_pump_retract)

    pl = ps.add_parser("pumps", help="list pump programs")
    pl.add_argument("--patient", required=True)
    pl.add_argument("--all", action="store_true")
    _common(pl)
    pl.set_defaults(func=_pumps)

    mk = ps.add_parser("marks", help="list button presses from the device")
    mk.add_argument("--patient", required=True)
    _common(mk)
    mk.set_defaults(func=_marks)

    cm = ps.add_parser("confirm-mark", help="turn a 'dose taken' button press into a dose")
    cm.add_argument("mark", type=int)
    cm.add_argument("--patient", required=True)
    cm.add_argument("--drug", default="baclofen")
    cm.add_argument("--amount", required=True)
    cm.add_argument("--route", default="oral")
    cm.add_argument("--note", default=None)
    _common(cm)
    cm.set_defaults(func=_confirm)


def _log(args):
    from ..doses import DoseLog
    return DoseLog(store_from(args), who=args.by)


def _warn(ws: list[str]) -> None:
    for w in ws:
        print(f"warning: {w}", file=sys.stderr)


def _add(args) -> int:
    from ..doses import DoseInput
    from ..doses.parse import fmt_in_zone
    log = _log(args)
    tz = log.store.patient(args.patient)["tz"]
    d = DoseInput.parse(args.drug, args.amount, None, args.route, args.time, note=args.note,
                        default_zone=tz)
    did, ws = log.add(args.patient, d, allow_duplicate=args.allow_duplicate)
    _warn(ws)
    print(f"dose #{did}: {d.amount:g} {d.unit} {d.drug} {d.route} at {fmt_in_zone(d.taken_utc_ms, tz)}")
    return 0


def _import(args) -> int:
    rep = _log(args).import_csv(args.patient, args.file)
    _warn(rep.warnings)
    print(f"imported {len(rep.inserted)} dose(s), skipped {rep.skipped}")
    return 0


def _list(args) -> int:
    from ..doses.parse import fmt_in_zone
    log = _log(args)
    tz = log.store.patient(args.patient)["tz"]
    rows = log.list(args.patient, include_inactive=args.all)
    print(f"doses of {args.patient} ({len(rows)}), times in {tz}:")
    for d in rows:
        extra = f" supersedes #{d['supersedes_id']}" if d["supersedes_id"] else ""
        print(f"#{d['id']:<5} {fmt_in_zone(d['taken_utc_ms'], tz)} {d['amount']:g} {d['unit']:3} {d['drug']} "
              f"{d['route']} [{d['status']}; {d['source']} by {d['entered_by']}{extra}]"
              + (f" {d['note']}" if d["note"] else ""))
    return 0


def _correct(args) -> int:
    from ..doses.parse import DoseInputError
    changes = {k: getattr(args, k) for k in ("drug", "amount", "route", "time", "note")
               if getattr(args, k) is not None}
    if not changes:
        raise DoseInputError("nothing to correct: give --amount, --time, --drug, --route or --note")
    nid = _log(args).correct(args.id, args.reason, **changes)
    print(f"dose #{args.id} superseded by #{nid}")
    return 0


def _retract(args) -> int:
    _log(args).retract(args.id, args.reason)
    print(f"dose #{args.id} retracted")
    return 0


def _pump(args) -> int:
    from ..doses import PumpStep
    from ..doses.parse import DoseInputError
    steps = []
    for r in args.rate:
        at, sep, rate = r.partition("=")
        try:
            steps.append(PumpStep(at.strip(), float(rate)))
        except ValueError:
            raise DoseInputError(f"--rate {r!r} is not HH:MM=UG_PER_DAY") from None
        if not sep:
            raise DoseInputError(f"--rate {r!r} is not HH:MM=UG_PER_DAY")
    nid, ws = _log(args).add_pump_program(args.patient, steps, args.valid_from, args.valid_to,
                                          drug=args.drug, note=args.note, replaces=args.replaces)
    _warn(ws)
    print(f"pump program #{nid} stored ({len(steps)} step(s))")
    return 0


def _pump_retract(args) -> int:
    _log(args).retract_pump_program(args.id, args.reason)
    print(f"pump program #{args.id} retracted")
    return 0


def _pumps(args) -> int:
    from ..doses.parse import fmt_in_zone
    for p in _log(args).pump_programs(args.patient, include_inactive=args.all):
        end = fmt_in_zone(p["valid_to_utc_ms"], p["tz"]) if p["valid_to_utc_ms"] else "open"
        sched = " ".join(f"{s.at}={s.rate_ug_day:g}" for s in p["steps"])
        print(f"#{p['id']:<4} {fmt_in_zone(p['valid_from_utc_ms'], p['tz'])} .. {end} [{p['status']}] "
              f"{p['tz']} ug/day: {sched}")
    return 0


def _marks(args) -> int:
    from ..doses.parse import fmt_in_zone
    log = _log(args)
    tz = log.store.patient(args.patient)["tz"]
    for m in log.marks(args.patient):
        when = fmt_in_zone(m["utc_ms"], tz) if m["utc_ms"] is not None else f"boot {m['boot']} +{m['ms']} ms (unplaced)"
        kind = {1: "dose taken", 2: "felt spasm"}.get(m["kind"], f"kind {m['kind']}")
        link = f" -> dose #{m['dose_id']}" if m["dose_id"] else ""
        print(f"mark #{m['id']:<5} {when} {kind} ({m['key']}){link}")
    return 0


def _confirm(args) -> int:
    did, ws = _log(args).confirm_mark(args.patient, args.mark, args.drug, args.amount, args.route,
                                      args.note)
    _warn(ws)
    print(f"mark #{args.mark} stored as dose #{did}")
    return 0
