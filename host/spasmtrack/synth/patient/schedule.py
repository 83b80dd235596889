"""Dose schedules for the simulated patient: oral TID/QID with late and missed doses,
and an intrathecal (ITB) pump program with boluses.

Times are seconds from the scenario start (t = 0); doses before t = 0 bring the
concentration to steady state and are listed too (``t_s < 0``).
"""
from __future__ import annotations

from typing import Any

import datetime as dt
from dataclasses import asdict, dataclass, field

import numpy as np

# Local clock times of the doses (hours) per regimen.
ORAL_TIMES_H = {
    "tid": (8.0, 14.0, 20.0),
    "qid": (7.0, 12.0, 17.0, 22.0),
}
REGIMENS = ("tid", "qid", "itb")


@dataclass
class Dose:
    """One dose as it was really taken (or missed).

    ``amount``/``unit``: mg for oral, µg ("ug") for an intrathecal bolus.
    ``status``: "on_time", "late" or "missed" (a missed dose has no effect and is not in
    the patient's dose log)."""

    t_s: float
    scheduled_t_s: float
    amount: float
    unit: str
    route: str            # "oral" or "intrathecal_bolus"
    status: str
    drug: str = "baclofen"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PumpStep:
    """From ``t_s`` on, the ITB pump infuses ``rate_ug_day`` (µg/day)."""

    t_s: float
    rate_ug_day: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DosePlan:
    regimen: str
    doses: list[Dose] = field(default_factory=list)
    pump: list[PumpStep] = field(default_factory=list)

    def taken(self) -> list[Dose]:
        return [d for d in self.doses if d.status != "missed"]


def _local_midnights(start_utc: dt.datetime, tz: dt.tzinfo, first_day: int, n_days: int) -> list[float]:
    """Seconds from ``start_utc`` of local midnight for day offsets first_day..first_day+n_days-1
    (local calendar days counted from the start's local date; DST-safe)."""
    local0 = start_utc.astimezone(tz)
    out = []
    for d in range(first_day, first_day + n_days):
        day = local0.date() + dt.timedelta(days=d)
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
        out.append((midnight.astimezone(dt.timezone.utc) - start_utc).total_seconds())
    return out


def oral_plan(regimen: str, dose_mg: float, start_utc: dt.datetime, tz: dt.tzinfo, duration_s: float,
              rng: np.random.Generator, p_late: float = 0.2, p_missed: float = 0.05,
              late_min: tuple[float, float] = (30.0, 150.0), lead_in_days: int = 3) -> DosePlan:
    """TID/QID oral schedule: each dose is late with ``p_late`` (by a uniform delay in
    ``late_min`` minutes) or missed with ``p_missed``; lead-in days before t=0 are all on time."""
    if regimen not in ORAL_TIMES_H:
        raise ValueError(f"unknown oral regimen {regimen!r} (known: {', '.join(ORAL_TIMES_H)})")
    n_days = int(np.ceil(duration_s / 86400.0)) + 2 + lead_in_days
    plan = DosePlan(regimen)
    for midnight in _local_midnights(start_utc, tz, -lead_in_days, n_days):
        for h in ORAL_TIMES_H[regimen]:
            sched = midnight + h * 3600.0
            if sched > duration_s:
                continue
            status, t = "on_time", sched
            if sched >= 0:
                u = rng.random()
                if u < p_missed:
                    status = "missed"
                elif u < p_missed + p_late:
                    status, t = "late", sched + rng.uniform(*late_min) * 60.0
                else:
                    t = sched + rng.normal(0.0, 5.0) * 60.0   # a few minutes either way
            if t > duration_s:
                continue
            plan.doses.append(Dose(t_s=round(t, 1), scheduled_t_s=sched, amount=dose_mg, unit="mg",
                                   route="oral", status=status))
    return plan


def itb_plan(start_utc: dt.datetime, tz: dt.tzinfo, duration_s: float, rng: np.random.Generator,
             day_rate_ug_day: float = 300.0, night_rate_ug_day: float = 420.0,
             bolus_ug: float = 50.0, p_bolus_per_day: float = 0.3) -> DosePlan:
    """Intrathecal flex program: a higher rate from 21:00 to 07:00 local (night spasms),
    the day rate otherwise, plus occasional 50 µg boluses (clinician bolus / PTM) at
    random daytime hours."""
    n_days = int(np.ceil(duration_s / 86400.0)) + 2
    plan = DosePlan("itb")
    steps: list[PumpStep] = []
    for midnight in _local_midnights(start_utc, tz, -1, n_days):
        for h, r in ((7.0, day_rate_ug_day), (21.0, night_rate_ug_day)):
            steps.append(PumpStep(midnight + h * 3600.0, r))
        if midnight >= -86400 and rng.random() < p_bolus_per_day:
            t = midnight + rng.uniform(9.0, 18.0) * 3600.0
            if 0 <= t <= duration_s:
                plan.doses.append(Dose(t_s=round(t, 1), scheduled_t_s=t, amount=bolus_ug, unit="ug",
                                       route="intrathecal_bolus", status="on_time"))
    steps.sort(key=lambda s: s.t_s)
    # keep the step in force at t=0 (moved to the far past) and those after it
    before = [s for s in steps if s.t_s <= 0]
    plan.pump = ([PumpStep(-7 * 86400.0, before[-1].rate_ug_day)] if before else []) + \
        [s for s in steps if 0 < s.t_s <= duration_s]
    return plan
