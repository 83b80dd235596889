"""Benchmark: 90 days of a heavy patient analysed and reported.

Data: the event-level generator (spasmtrack.synth.multiweek) writes 90 days into a fresh
SQLite store through the real sync path (record frames -> Store.insert_records): about
30,000 events, 25,000 summary windows and 400+ oral doses (5 a day, some late/missed).
``analysis_90d_s``: load from SQLite + every analysis (1000 bootstrap resamples).
``report_90d_s``: load + analysis + all plots + HTML written (what `spasmtrack report` does).
Each figure is the fastest of 5 runs (wall clock, as ``timeit`` reports: the other runs
measure what else the machine was doing); the median and every run are kept beside it.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from . import BenchFigure


def run() -> list[BenchFigure]:
    from ..analysis import Params, analyse, load
    from ..synth.multiweek import generate
    from ..commands.report import build
    from ..report import write_private
    from ..store import open_store

    with tempfile.TemporaryDirectory(prefix="spasmtrack-bench-") as tmp:
        st = open_store(f"sqlite:///{tmp}/bench.sqlite")
        t0 = time.perf_counter()
        tr = generate(st, days=90, start_day="2026-08-01", seed=11, e0_per_h=32.0,
                      dose_hours=(6, 10, 14, 18, 22), dose_mg=16.0)
        gen_s = time.perf_counter() - t0
        f, t = tr.start_utc_ms, tr.end_utc_ms
        an, rep = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            a = analyse(load(st, "P1", f, t), Params())
            an.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            html = build(st, "P1", f, t, Params())
            write_private(Path(tmp) / "report.html", html.encode())
            rep.append(time.perf_counter() - t0)
        size = len(html.encode())
    data = dict(events=tr.n_events, summaries=tr.n_summaries, doses=tr.n_doses, days=90,
                generate_and_store_s=round(gen_s, 2))
    return [
        BenchFigure("analysis_90d_s", min(an), "s", "< 1",
                    "fastest of 5: load from SQLite + all analyses (1000 bootstrap resamples)",
                    {**data, "median_s": round(statistics.median(an), 3),
                     "runs_s": [round(x, 3) for x in an], "cr_ok": bool(a.cr.get("ok"))}),
        BenchFigure("report_90d_s", min(rep), "s", "< 10",
                    "fastest of 5: load + analyses + 8 SVG plots + HTML written",
                    {**data, "median_s": round(statistics.median(rep), 3),
                     "runs_s": [round(x, 3) for x in rep], "html_bytes": size}),
    ]
