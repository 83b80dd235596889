"""Stage ``score``: what was stored against the simulator's truth (detection F1, onset
error, UTC placement, coverage)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlalchemy import func, select

from .. import records as rec
from ..store import open_store
from ..store import schema as s
from ..synth.patient.score import Detection, merge_channels, score
from .run import DemoRun, StageResult

TITLE = "detection against the truth"


def stage_score(run: DemoRun) -> StageResult:
    tl = run.tl
    worn_h = observable_hours(run)
    sc, _ = score(tl.events, merge_channels(detections_from_db(run, "device")), worn_h)
    sc_utc, _ = score(tl.events, merge_channels(detections_from_db(run, "utc")), worn_h)
    place = placement_error_ms(run)
    m = run.metrics
    m["score"] = sc.to_dict()
    m["score_utc"] = sc_utc.to_dict()
    m["placement"] = place
    m["events_simulated"] = len(tl.events)
    m["events_simulated_observable"] = sc.n_true
    m["events_detected"] = sc.n_detected
    m["detection_f1"] = round(sc.f1, 4)
    m["coverage"] = coverage(run, worn_h)
    return StageResult("score", TITLE, provider="spasmtrack.synth.patient.score",
                       detail=(f"F1 {sc.f1:.3f} (P {sc.precision:.3f}, R {sc.recall:.3f}) on device time, "
                               f"median onset error {sc.onset_err_median_s * 1000:.0f} ms; on the host's UTC "
                               f"placement F1 {sc_utc.f1:.3f} (placement error median {place.get('median_ms')} ms, "
                               f"range {place.get('min_ms')}..{place.get('max_ms')} ms)"))


def detections_from_db(run: DemoRun, clock: str = "device") -> list[Detection]:
    """Stored events as detections in seconds from the scenario start.

    ``clock="device"``: from the device's own time (boot 1 started with the signal, so
    onset_ms / 1000 is exact): judges the detector alone. ``clock="utc"``: from the UTC
    the host placed them at through the time anchors: judges detection + sync timing."""
    st = open_store(run.db_url)
    t0 = run.scn.start().timestamp() * 1000
    with st.engine.connect() as c:
        rows = c.execute(select(s.events.c.onset_ms, s.events.c.onset_utc_ms, s.events.c.duration_ms,
                                s.events.c.kind, s.events.c.channel, s.events.c.clonus_chz)).all()
    dets = []
    for onset_ms, onset_utc, d, k, ch, hz in rows:
        if clock == "utc":
            if onset_utc is None:
                continue
            a = (onset_utc - t0) / 1000
        else:
            a = onset_ms / 1000
        dets.append(Detection(a, a + d / 1000, rec.KIND_NAMES.get(k, "spasm"), [int(ch or 0)], (hz or 0) / 100))
    return dets


def placement_error_ms(run: DemoRun) -> dict[str, Any]:
    """UTC placement by the host (time anchors) minus the true time of each event (ms)."""
    st = open_store(run.db_url)
    t0 = run.scn.start().timestamp() * 1000
    with st.engine.connect() as c:
        rows = c.execute(select(s.events.c.onset_ms, s.events.c.onset_utc_ms)).all()
    err = np.array([(u - t0) - m for m, u in rows if u is not None], dtype=float)
    unplaced = sum(1 for _, u in rows if u is None)
    if err.size == 0:
        return {"events": 0, "unplaced": unplaced}
    return {"events": int(err.size), "unplaced": unplaced, "median_ms": round(float(np.median(err)), 1),
            "min_ms": round(float(err.min()), 1), "max_ms": round(float(err.max()), 1)}


def observable_hours(run: DemoRun) -> float:
    """Hours of the scenario with the sensor worn and its leads on (the truth's)."""
    mask = np.ones(int(run.scn.duration_s), dtype=bool)
    for iv in run.tl.intervals:
        if iv.kind in ("not_worn", "leadoff"):
            mask[int(iv.start_s):int(math.ceil(iv.end_s))] = False
    return float(mask.sum()) / 3600


def coverage(run: DemoRun, worn_h: float) -> dict[str, Any]:
    """Good-signal and lost hours the device's summaries report, beside the truth's worn hours."""
    st = open_store(run.db_url)
    with st.engine.connect() as c:
        cov, lost, n = c.execute(select(func.sum(s.summaries.c.covered_ds), func.sum(s.summaries.c.lost_ds),
                                        func.count())).one()
    return {"device_covered_h": round((cov or 0) / 36000, 3), "device_lost_h": round((lost or 0) / 36000, 3),
            "summaries": int(n), "true_worn_leads_on_h": round(worn_h, 3),
            "simulated_h": round(run.scn.duration_s / 3600, 3)}
