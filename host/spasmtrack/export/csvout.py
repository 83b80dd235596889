"""CSV export: events.csv, summaries.csv, doses.csv in a folder (files 0600).

Columns state units; times are ISO 8601 UTC plus the patient's local time with offset.
events.csv has one row per episode (EVENT records of a device's channels grouped, see
spasmtrack.analysis.episodes): ``channels`` lists the EMG channels, ``n_records`` the records.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from .. import records as rec
from ..analysis.data import PatientData
from ..report import write_private

KIND = rec.KIND_NAMES


def _iso(ms: int, tz: ZoneInfo | None = None) -> str:
    dt = datetime.fromtimestamp(ms / 1000, timezone.utc)
    if tz is None:
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return dt.astimezone(tz).isoformat(timespec="seconds")


def _write(path: Path, header: list[str], rows) -> int:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    n = 0
    for r in rows:
        w.writerow(r)
        n += 1
    write_private(path, buf.getvalue().encode("utf-8"))
    return n


def _channels(mask) -> str:
    """'0;1' from an episode's channel bit mask ('' if unknown)."""
    if mask is None:
        return ""
    return ";".join(str(c) for c in range(63) if int(mask) >> c & 1)


def write_csv(d: PatientData, folder: str | Path) -> dict[str, int]:
    """Write the three tables; returns rows written per file."""
    folder = Path(folder)
    tz = ZoneInfo(d.tz)
    out = {}
    out["events.csv"] = _write(folder / "events.csv",
        ["onset_utc", "onset_local", "kind", "duration_s", "peak_uV", "flags", "config_version",
         "channels", "n_records"],
        ((_iso(int(t)), _iso(int(t), tz), KIND.get(int(k), str(k)), f"{du / 1000:.3f}", f"{pk / 100:.2f}",
          int(fl), int(cv), _channels(chm), int(nr)) for t, k, du, pk, fl, cv, chm, nr in
         zip(d.ev_t, d.ev_kind, d.ev_dur, d.ev_peak_cuv, d.ev_flags, d.ev_cfg,
             d.ev_channels if d.ev_channels is not None else [None] * d.ev_t.size,
             d.ev_n_records if d.ev_n_records is not None else [1] * d.ev_t.size)))
    out["summaries.csv"] = _write(folder / "summaries.csv",
        ["start_utc", "start_local", "window_s", "n_spasm", "n_clonus", "covered_s", "lost_s",
         "not_worn_s", "dropped_samples", "config_version"],
        ((_iso(int(t)), _iso(int(t), tz), int(w), int(a), int(b), f"{c / 10:.1f}", f"{l / 10:.1f}",
          f"{nw / 10:.1f}", int(dr), int(cv)) for t, w, a, b, c, l, nw, dr, cv in
         zip(d.sm_t, d.sm_win_s, d.sm_nsp, d.sm_ncl, d.sm_cov_ds, d.sm_lost_ds, d.sm_notworn_ds,
             d.sm_dropped, d.sm_cfg)))
    out["doses.csv"] = _write(folder / "doses.csv",
        ["dose_id", "taken_utc", "taken_local", "drug", "amount_ug", "route", "source"],
        sorted([(int(i), _iso(int(t)), _iso(int(t), tz), "baclofen", f"{u:g}", r, s) for i, t, u, r, s in
                zip(d.dose_id, d.dose_t, d.dose_ug, d.dose_route, d.dose_source) if d.from_ms <= t < d.to_ms]
               + [(int(o["id"]), _iso(int(o["taken_utc_ms"])), _iso(int(o["taken_utc_ms"]), tz), o["drug"],
                   f"{o['amount_ug']:g}", o["route"], o["source"]) for o in d.other_doses],
               key=lambda row: (row[1], row[0])))
    return out
