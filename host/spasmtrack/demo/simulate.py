"""Stage ``simulate``: the patient's scenario, truth files and own dose log."""
from __future__ import annotations

import datetime as dt

from ..synth.patient import Scenario, build_timeline, write_truth
from ..synth.patient.doselog import write_dose_log
from .boardscale import board_scale
from .run import DemoRun, StageResult

TITLE = "simulated patient"


def stage_simulate(run: DemoRun) -> StageResult:
    # the latest start at the chosen UTC hour whose scenario has ended by now: the device
    # clock keeps running in wall time afterwards, so the host's clock at sync agrees with it
    now = dt.datetime.now(dt.timezone.utc)
    start = now.replace(hour=run.start_hour_utc, minute=0, second=0, microsecond=0)
    while start + dt.timedelta(days=run.days) > now - dt.timedelta(minutes=1):
        start -= dt.timedelta(days=1)
    run.scenario = scn = Scenario(days=run.days, seed=run.seed, regimen=run.regimen, start_utc=start.isoformat(),
                                  tolerance_pct_per_week=run.tolerance_pct_per_week,
                                  n_channels=board_scale(run.board).n_channels)
    run.timeline = tl = build_timeline(scn)
    run.truth_paths = write_truth(tl, run.out / "truth")
    run.dose_log = write_dose_log(tl, run.out / "dose_log.csv")
    n_obs = sum(e.observable for e in tl.events)
    taken = sum(d.status != "missed" and d.t_s >= 0 for d in tl.plan.doses)
    missed = sum(d.status == "missed" for d in tl.plan.doses)
    return StageResult("simulate", TITLE, provider="spasmtrack.synth.patient (MUAP-train EMG, IMU, Emax hazard)",
                       detail=(f"{run.days * 24:g} h from {start.isoformat()} ({scn.tz}), regimen {run.regimen}: "
                               f"{len(tl.events)} events ({n_obs} while worn with leads on), {taken} doses taken, "
                               f"{missed} missed; truth in {run.out / 'truth'}"))
