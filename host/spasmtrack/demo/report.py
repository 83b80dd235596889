"""Stage ``report``: the analysis and the clinician report (the path of ``spasmtrack report``),
and the simulated patient's true parameters beside what the analysis measured."""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..analysis import Params, analyse, load
from ..analysis.core import Analysis
from ..report import write_private
from ..report.html import render
from ..store import open_store
from ..synth.patient.scenario import ec50_at
from .run import PATIENT_CODE, DemoRun, StageResult

TITLE = "analysis and clinician report"


def stage_report(run: DemoRun) -> StageResult:
    st = open_store(run.db_url)
    scn = run.scn
    f_ms = int(scn.start().timestamp() * 1000)
    t_ms = f_ms + int(scn.duration_s * 1000)
    t = time.perf_counter()
    a = analyse(load(st, PATIENT_CODE, f_ms, t_ms), Params())
    run.metrics["analysis_s"] = round(time.perf_counter() - t, 3)
    html = render(a, st)
    out = run.out / "report.html"
    write_private(out, html.encode("utf-8"))
    run.report_path = str(out)
    run.metrics["truth_vs_measured"] = truth_vs_measured(run, a)
    return StageResult("report", TITLE, provider="spasmtrack.analysis + spasmtrack.report.html",
                       detail=f"{out} ({len(html) // 1024} kB, analysis {run.metrics['analysis_s']:.2f} s)")


def truth_vs_measured(run: DemoRun, a: Analysis) -> list[dict[str, Any]]:
    """Rows (quantity, unit, truth, measured, ci_lo, ci_hi, within_ci) from the analysis: the
    concentration-response fit, the tolerance trend and the circadian terms. ``measured``
    is None where the analysis made no estimate; the interval is None where it gave none."""
    scn = run.scn
    resp = scn.active_response()
    cr = a.cr or {}
    conc_unit = str(cr.get("conc_unit", "ng/mL"))
    mid_ec50 = float(ec50_at(scn, np.array([scn.duration_s / 2]))[0])
    rows = []
    for key, unit, truth in (("e0_per_h", "events/h", resp.base_rate_per_h), ("imax", "fraction", resp.emax),
                             ("ic50", conc_unit, round(mid_ec50, 2))):
        if cr.get("ok") and key in cr:
            est, lo, hi = cr[key]
            rows.append(_row(key, unit, truth, est, lo, hi, 3))
        else:
            rows.append(_row(key, unit, truth, None, None, None, 3))
    tol = a.tolerance or {}
    if "ic50_pct_per_week" in tol:
        rows.append(_row("ic50_pct_per_week", "%/week", scn.tolerance_pct_per_week, tol["ic50_pct_per_week"],
                         tol["ic50_pct_lo"], tol["ic50_pct_hi"], 2))
    if cr.get("ok"):
        rows.append(_row("circadian_amp", "fraction", scn.circadian_amp, cr.get("circadian_amp"), None, None, 3))
        rows.append(_row("circadian_peak_h", "h local", scn.circadian_peak_h, cr.get("circadian_peak_h"),
                         None, None, 2))
    return rows


def _row(quantity: str, unit: str, truth: float, est: float | None, lo: float | None, hi: float | None,
         digits: int) -> dict[str, Any]:
    def num(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(float(v)) else round(float(v), digits)

    m, lo_, hi_ = num(est), num(lo), num(hi)
    within = None if m is None or lo is None or hi is None or lo_ is None or hi_ is None \
        else bool(lo <= truth <= hi)
    return {"quantity": quantity, "unit": unit, "truth": truth, "measured": m, "ci_lo": lo_, "ci_hi": hi_,
            "within_ci": within}
