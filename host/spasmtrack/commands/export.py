"""``spasmtrack export``: CSV tables or a FHIR R4 JSON Bundle of a patient's period."""
from __future__ import annotations

import argparse

from ..errors import UserError
from .dose import add_db_option, store_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export events, summaries and doses as CSV or FHIR JSON")
    p.add_argument("--patient", required=True)
    p.add_argument("--from", dest="from_", required=True, help="first local day YYYY-MM-DD or time with zone")
    p.add_argument("--to", required=True, help="last local day (inclusive) or time with zone")
    p.add_argument("--format", choices=("csv", "fhir"), required=True)
    p.add_argument("--out", required=True, help="folder for csv, .json file for fhir")
    p.add_argument("--no-summaries", action="store_true", help="fhir: leave out window summaries")
    add_db_option(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..analysis import load
    from .report import parse_day_or_time
    st = store_from(args)
    tz = st.patient(args.patient)["tz"]
    f, t = parse_day_or_time(args.from_, tz), parse_day_or_time(args.to, tz, end=True)
    if t <= f:
        raise UserError("--to must be after --from")
    d = load(st, args.patient, f, t)
    if args.format == "csv":
        from ..export import write_csv
        n = write_csv(d, args.out)
        print(", ".join(f"{k}: {v} rows" for k, v in n.items()) + f" in {args.out}")
    else:
        from ..export import write_fhir
        n = write_fhir(d, args.out, include_summaries=not args.no_summaries)
        print(f"FHIR bundle with {n} resources (validated) written to {args.out}")
    return 0
