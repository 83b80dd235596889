"""14-day scenario at the event level: the host analysis recovers the simulated
concentration-response within its own stated CI, and the peri-dose curve has the
simulated shape. (The raw-signal path is exercised by test_e2e_demo.py on a short
scenario; 14 days of raw signal through the firmware is a benchmark, not a test.)"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from spasmtrack.analysis import Params, analyse, load
from spasmtrack.demo import PATIENT_CODE
from spasmtrack.synth.patient.doselog import write_dose_log
from spasmtrack.doses import DoseLog
from spasmtrack.synth.patient import Scenario, build_timeline
from spasmtrack.synth.patient.eventlevel import peridose_truth, truth_frames
from spasmtrack.store import open_store


def _start(days: int) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return (now - dt.timedelta(days=days + 2)).replace(hour=6, minute=0, second=0, microsecond=0).isoformat()


def _analyse(tmp, seed: int, regimen: str = "tid"):
    scn = Scenario(days=14, seed=seed, regimen=regimen, start_utc=_start(14))
    tl = build_timeline(scn)
    st = open_store(f"sqlite:///{tmp / f'db{seed}.sqlite'}")
    st.add_patient(PATIENT_CODE, scn.tz)
    st.device_id("sim-e2e", board="sim")
    st.assign_device("sim-e2e", PATIENT_CODE)
    frames = truth_frames(tl)
    res = st.insert_records("sim-e2e", frames)
    assert res.inserted == len(frames)
    DoseLog(st, who="test").import_csv(PATIENT_CODE, write_dose_log(tl, tmp / f"doses{seed}.csv"))
    f_ms = int(scn.start().timestamp() * 1000)
    a = analyse(load(st, PATIENT_CODE, f_ms, f_ms + int(scn.duration_s * 1000)), Params(n_boot=200))
    return tl, a


SEEDS = range(30, 40)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    return _analyse(tmp_path_factory.mktemp("e2e14"), 21)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e14many")
    return [_analyse(tmp, s) for s in SEEDS]


def test_concentration_response_recovered_within_stated_ci(many):
    """Ten 14-day patients: each parameter's stated 95 % CI covers the truth in at least
    7 of 10 (an honest 95 % CI fails this with probability < 0.2 %), and the fitted
    effect curve is unbiased over the observed concentrations."""
    truth = many[0][0].scenario.response
    true = {"e0_per_h": truth.base_rate_per_h, "imax": truth.emax, "ic50": truth.ec50_ng_ml}
    covered = {k: 0 for k in true}
    effects = []
    print("\nC-R truth vs measured (14 d each, event level):")
    for seed, (tl, a) in zip(SEEDS, many):
        cr = a.cr
        assert cr.get("ok"), (seed, cr.get("error", a.notes))
        line = []
        for k, t in true.items():
            est, lo, hi = cr[k]
            covered[k] += lo <= t <= hi
            line.append(f"{k} {est:6.2f} [{lo:7.2f}, {hi:7.2f}]")
        print(f"  seed {seed}: " + " | ".join(line))
        effects.append([cr["imax"][0] * c / (cr["ic50"][0] + c) for c in (50.0, 150.0, 300.0)])
    print(f"  truth: {true}; CI covers truth in {covered} of {len(many)}")
    med = np.median(np.array(effects), axis=0)
    for c, m in zip((50.0, 150.0, 300.0), med):
        assert abs(m - truth.effect(np.array([c]))[0]) < 0.1, (c, m)
    for k, n in covered.items():
        assert n >= 7, f"{k}: the stated 95 % CI covered the truth in only {n} of {len(many)} patients"


def test_peridose_curve_has_the_simulated_shape(analysed):
    tl, a = analysed
    x, y_true = peridose_truth(tl, a.params.bin_min, a.params.max_h)
    pd = a.peridose
    assert pd is not None
    ok = np.isfinite(pd.y) & np.isfinite(y_true) & (x <= 6.0)
    assert ok.sum() >= 8
    r = np.corrcoef(pd.y[ok], y_true[ok])[0, 1]
    nadir_true = x[ok][np.argmin(y_true[ok])]
    nadir_meas = x[ok][np.argmin(pd.y[ok])]
    print(f"\nperi-dose: correlation with the truth curve {r:.2f}; nadir truth {nadir_true:.2f} h, "
          f"measured {nadir_meas:.2f} h")
    assert r > 0.6
    assert abs(nadir_meas - nadir_true) <= 1.5
    # spasms return before the next dose: the pre-dose rate exceeds the nadir
    assert a.pre_dose_rate[0] > np.nanmin(pd.y[ok])
