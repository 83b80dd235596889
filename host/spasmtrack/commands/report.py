"""``spasmtrack report``: the clinician report (HTML, optionally PDF) for a patient and period."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .dose import add_db_option, store_from

DAY_MS = 86_400_000


def parse_day_or_time(text: str, tz: str, end: bool = False) -> int:
    """``YYYY-MM-DD`` (local day in the patient's zone; an end day is inclusive) or a time
    with zone -> UTC ms."""
    import re
    from ..analysis.tzutil import local_midnight_utc_ms
    from ..doses.parse import DoseInputError, parse_time
    opt = "--to" if end else "--from"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        from datetime import date
        try:
            d = date.fromisoformat(text.strip())
        except ValueError as exc:
            raise UserError(f"{opt} {text!r} is not a calendar date ({exc})") from None
        if d.year < 2000:
            raise UserError(f"{opt} {text!r} is in the year {d.year}: check the year")
        day = (d - date(1970, 1, 1)).days
        return local_midnight_utc_ms(day + (1 if end else 0), tz)
    try:
        return parse_time(text, None, default_zone=tz)[0]
    except DoseInputError as exc:
        raise UserError(f"{opt}: {exc}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the clinician report (self-contained HTML, --pdf too)")
    p.add_argument("--patient", required=True)
    p.add_argument("--from", dest="from_", required=True,
                   help="first local day YYYY-MM-DD (patient's zone) or a time with zone")
    p.add_argument("--to", required=True, help="last local day YYYY-MM-DD (inclusive) or a time with zone")
    p.add_argument("--out", required=True, help="output .html")
    p.add_argument("--pdf", nargs="?", const="", default=None,
                   help="also print a PDF (default: --out with .pdf) with headless Chromium")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--half-life", type=float, default=3.5, help="oral half-life, h (default 3.5)")
    p.add_argument("--tmax", type=float, default=1.5, help="oral Tmax, h (default 1.5)")
    add_db_option(p)
    p.set_defaults(func=_run)


def build(store, patient: str, from_ms: int, to_ms: int, params=None) -> str:
    """Load, analyse and render the report HTML for [from_ms, to_ms) (UTC ms)."""
    from ..analysis import Params, analyse, load
    from ..report.html import render
    data = load(store, patient, from_ms, to_ms)
    return render(analyse(data, params or Params()), store)


def _run(args) -> int:
    from ..analysis import Params
    from ..analysis.pk import OralPK
    from ..report import html_to_pdf, write_private
    from .replay import check_writable
    check_writable("--out", args.out, make_parents=True)     # before the analysis, not after it
    if args.pdf:
        check_writable("--pdf", args.pdf, make_parents=True)
    st = store_from(args)
    pat = st.patient(args.patient)
    f = parse_day_or_time(args.from_, pat["tz"])
    t = parse_day_or_time(args.to, pat["tz"], end=True)
    if t <= f:
        raise UserError("--to must be after --from")
    if t - f > 400 * DAY_MS:
        raise UserError("the period is longer than 400 days; split it")
    try:
        pk = OralPK(t_half_h=args.half_life, tmax_h=args.tmax)
        _ = pk.ka                      # absorption rate: raises for an impossible tmax/half-life
    except ValueError as exc:
        raise UserError(f"--tmax/--half-life: {exc}") from None
    params = Params(n_boot=args.bootstrap, oral_pk=pk)
    html = build(st, args.patient, f, t, params)
    out = Path(args.out)
    write_private(out, html.encode("utf-8"))
    print(f"report written to {out}")
    if args.pdf is not None:
        pdf = Path(args.pdf) if args.pdf else out.with_suffix(".pdf")
        html_to_pdf(out, pdf)
        print(f"PDF written to {pdf}")
    return 0
