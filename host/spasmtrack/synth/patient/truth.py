"""Ground truth written beside the simulated signal.

Files (in one output folder):
- ``truth.json``: the scenario with its true PK and concentration-response parameters,
  every dose (taken, late and missed), the ITB pump program, every event, every
  interval (sleep, not worn, lead-off, strong hum) and counts of the other activity.
- ``events.csv``: one row per true event (times in s from the start and in UTC).
- ``doses.csv``: every scheduled dose with its status (times in UTC).
- ``concentration.csv``: concentration (ng/mL) and spontaneous hazard (events/h) per minute.
"""
from __future__ import annotations

from typing import Any

import csv
import datetime as dt
import json
from collections import Counter
from pathlib import Path

from .scenario import Timeline


def utc_iso(tl: Timeline, t_s: float) -> str:
    return (tl.scenario.start() + dt.timedelta(seconds=float(t_s))).isoformat().replace("+00:00", "Z")


def truth_dict(tl: Timeline) -> dict[str, Any]:
    scn = tl.scenario
    return {
        "format": "spasmtrack-patient-truth/1",
        "scenario": scn.to_dict(),
        "true_response": scn.active_response().to_dict(),
        "true_pk": scn.itb_pk.to_dict() if scn.regimen == "itb" else scn.oral_pk.to_dict(),
        "labeling_rule": ("onset/offset: first/last time the muscle drive exceeds 10% of the event's peak drive "
                          "(tonic), first clonic burst / last burst + 0.1 s (clonus); peak_uV is the largest "
                          "100 ms ARV of the event's own EMG on that channel; observable = no lead-off or "
                          "not-worn time on the event's channels during it"),
        "doses": [dict(d.to_dict(), time_utc=utc_iso(tl, d.t_s)) for d in tl.plan.doses],
        "pump": [dict(p.to_dict(), time_utc=utc_iso(tl, max(p.t_s, -7 * 86400))) for p in tl.plan.pump],
        "events": [dict(e.to_dict(), onset_utc=utc_iso(tl, e.onset_s)) for e in tl.events],
        "intervals": [i.to_dict() for i in tl.intervals],
        "other_counts": dict(Counter(o.kind for o in tl.others)),
        "counts": {
            "events": len(tl.events),
            "events_observable": sum(e.observable for e in tl.events),
            "by_kind": dict(Counter(e.kind for e in tl.events)),
            "doses_taken": sum(d.status != "missed" and d.t_s >= 0 for d in tl.plan.doses),
            "doses_missed": sum(d.status == "missed" for d in tl.plan.doses),
            "doses_late": sum(d.status == "late" for d in tl.plan.doses),
        },
    }


def write_truth(tl: Timeline, out: Path) -> dict[str, Path]:
    """Write the truth files into ``out`` (created); returns {name: path}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f for k, f in (("json", "truth.json"), ("events", "events.csv"),
                                     ("doses", "doses.csv"), ("concentration", "concentration.csv"))}
    paths["json"].write_text(json.dumps(truth_dict(tl), indent=1))
    with paths["events"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "kind", "onset_s", "offset_s", "duration_s", "onset_utc", "channels", "peak_uV",
                    "clonus_hz", "trigger", "concentration_ng_ml", "hazard_multiplier", "observable"])
        for e in tl.events:
            w.writerow([e.id, e.kind, e.onset_s, e.offset_s, round(e.duration_s, 3), utc_iso(tl, e.onset_s),
                        " ".join(map(str, e.channels)), " ".join(map(str, e.peak_uV)), e.clonus_hz, e.trigger,
                        e.concentration_ng_ml, e.hazard_multiplier, int(e.observable)])
    with paths["doses"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_utc", "scheduled_utc", "drug", "amount", "unit", "route", "status"])
        for d in tl.plan.doses:
            w.writerow([utc_iso(tl, d.t_s), utc_iso(tl, d.scheduled_t_s), d.drug, d.amount, d.unit, d.route, d.status])
    with paths["concentration"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "concentration_ng_ml", "hazard_per_h"])
        for t, c, h in zip(tl.grid_t_s, tl.conc, tl.hazard_per_h):
            w.writerow([int(t), round(float(c), 3), round(float(h), 4)])
    return paths
