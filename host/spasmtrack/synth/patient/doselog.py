"""The simulated patient's own dose log, as a patient or carer would keep it."""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from .scenario import Timeline


def write_dose_log(tl: Timeline, path: Path) -> Path:
    """The patient's own dose log (taken doses only, local times with offset) in the CSV
    format of ``spasmtrack dose import``."""
    scn = tl.scenario
    tz = ZoneInfo(scn.tz)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "drug", "amount", "unit", "route", "note"])
        for d in tl.plan.doses:
            if d.status == "missed" or d.t_s < 0:
                continue
            t = (scn.start() + dt.timedelta(seconds=d.t_s)).astimezone(tz)
            w.writerow([t.isoformat(timespec="seconds"), d.drug, f"{d.amount:g}", d.unit, d.route,
                        "late" if d.status == "late" else ""])
    return path
