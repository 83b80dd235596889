"""Stage ``doses``: the patient's dose log into the store through ``spasmtrack.doses``."""
from __future__ import annotations

import datetime as dt

from ..doses import DoseLog, PumpStep
from ..store import open_store
from .run import PATIENT_CODE, DemoRun, StageResult, ensure_patient

TITLE = "dose log import"
#: The simulated intrathecal pump's flex program (local time, µg/day), logged a week before the scenario.
ITB_PROGRAM = (PumpStep("07:00", 300.0), PumpStep("21:00", 420.0))


def stage_doses(run: DemoRun) -> StageResult:
    if run.dose_log is None:
        raise RuntimeError("no dose log: the simulate stage has not run")
    st = open_store(run.db_url)
    ensure_patient(st, run)
    dl = DoseLog(st, who="demo")
    rep = dl.import_csv(PATIENT_CODE, run.dose_log)
    detail = f"{len(rep.inserted)} doses imported from {run.dose_log}"
    if rep.warnings:
        detail += f" ({len(rep.warnings)} warnings)"
    if run.regimen == "itb":
        scn = run.scn
        start_local = (scn.start() - dt.timedelta(days=7)).astimezone(scn.zone())
        dl.add_pump_program(PATIENT_CODE, list(ITB_PROGRAM), start_local.strftime("%Y-%m-%d %H:%M"), zone=scn.tz,
                            note="simulated flex program")
        detail += "; ITB flex program " + ", ".join(f"{s.at} {s.rate_ug_day:g} ug/day" for s in ITB_PROGRAM)
    return StageResult("doses", TITLE, provider="spasmtrack.doses.DoseLog.import_csv", detail=detail)
