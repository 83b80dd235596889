"""Benchmark: `dose import` of 100,000 CSV rows into SQLite (the embedded default).

The file: oral baclofen doses every 15 minutes going back ~3 years, times with an offset
(``2026-11-20T08:00:00+01:00``) and every 7th row local time plus an IANA zone column,
so both time parsers run. ``dose_import_100k_s``: wall time of
``DoseLog.import_csv`` (parse, validate, one transaction), fastest of 3 runs each into a
fresh database (the CPU time of each run is kept beside it: wall time on a shared
machine includes waiting for the CPU); a second import of the same file into the last database (every row
skipped as already stored) is kept beside it. Also 3,000 and 6,000 rows, to show the
time grows linearly (the issue measured 8.5 s and 27 s for those before).
"""
from __future__ import annotations

import csv
import datetime as dt
import tempfile
import time
from pathlib import Path

from . import BenchFigure

ROWS = 100_000
STEP_MIN = 15
_CPU: list[float] = []      # CPU seconds of this process per import (the machine may be shared)


def write_csv(path: Path, rows: int, *, end: dt.datetime | None = None) -> Path:
    """A dose CSV of ``rows`` distinct oral doses ending a day before ``end`` (UTC)."""
    end = end or dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    start = end - dt.timedelta(days=1, minutes=STEP_MIN * rows)
    berlin = dt.timezone(dt.timedelta(hours=1))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "drug", "amount", "unit", "route", "note", "zone"])
        for i in range(rows):
            t = start + dt.timedelta(minutes=STEP_MIN * i)
            if i % 7 == 0:
                w.writerow([t.strftime("%Y-%m-%dT%H:%MZ"), "baclofen", 5 + i % 4 * 5, "mg",
                            "oral", "", ""])
            else:
                w.writerow([t.astimezone(berlin).isoformat(timespec="minutes"), "baclofen",
                            5 + i % 4 * 5, "mg", "oral", f"row {i}" if i % 3 == 0 else "", ""])
    return path


def time_import(url: str, csv_path: Path) -> tuple[float, int]:
    from ..doses import DoseLog
    from ..store import open_store
    st = open_store(url)
    if not any(p["code"] == "B1" for p in st.patients()):
        st.add_patient("B1", "Europe/Berlin")
    t0, c0 = time.perf_counter(), time.process_time()
    rep = DoseLog(st, who="bench").import_csv("B1", csv_path)
    s, cpu = time.perf_counter() - t0, time.process_time() - c0
    st.engine.dispose()
    _CPU.append(cpu)
    return s, len(rep.inserted)


def run() -> list[BenchFigure]:
    out = {}
    with tempfile.TemporaryDirectory(prefix="spasmtrack-bench-doses-") as tmp:
        tmpd = Path(tmp)
        for n in (3_000, 6_000):
            f = write_csv(tmpd / f"d{n}.csv", n)
            out[n] = min(time_import(f"sqlite:///{tmpd}/s{n}-{k}.sqlite", f)[0] for k in range(2))
        f = write_csv(tmpd / "d100k.csv", ROWS)
        runs, inserted = [], 0
        _CPU.clear()
        for k in range(3):
            s, inserted = time_import(f"sqlite:///{tmpd}/big{k}.sqlite", f)
            runs.append(s)
        again, again_inserted = time_import(f"sqlite:///{tmpd}/big2.sqlite", f)
    return [BenchFigure(
        "dose_import_100k_s", min(runs), "s", "< 10",
        f"fastest of 3: DoseLog.import_csv of {ROWS:,} rows into a fresh SQLite store",
        {"rows": ROWS, "inserted": inserted, "runs_s": [round(x, 2) for x in runs],
         "runs_cpu_s": [round(x, 2) for x in _CPU[:3]],
         "reimport_same_file_s": round(again, 2), "reimport_inserted": again_inserted,
         "rows_3000_s": round(out[3_000], 3), "rows_6000_s": round(out[6_000], 3)})]
