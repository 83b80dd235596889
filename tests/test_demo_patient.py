"""Statistical and structural checks of the simulated patient (spasmtrack.synth.patient)."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import scipy.optimize as so
import scipy.signal as ss

from spasmtrack.synth.patient import PatientSignal, Scenario, build_timeline, write_truth
from spasmtrack.synth.patient.pk import IntrathecalPK, OralPK, ka_from_tmax
from spasmtrack.synth.patient.scenario import _local_hours, circadian


def test_oral_pk_peaks_at_tmax_and_decays_with_half_life():
    pk = OralPK(half_life_h=3.5, tmax_h=1.5)
    t = np.arange(0, 30, 0.001)
    c = pk.concentration(t, [0.0], [20.0])
    assert abs(t[np.argmax(c)] - 1.5) < 0.01
    late = (t > 15) & (t < 25)
    slope = np.polyfit(t[late], np.log(c[late]), 1)[0]
    assert abs(-math.log(2) / slope - 3.5) < 0.01
    # AUC = dose / (CL/F): 20 mg / 10.8 L/h = 1.852 mg*h/L = 1852 ng*h/mL
    t2 = np.arange(0, 200, 0.01)
    auc = np.trapezoid(pk.concentration(t2, [0.0], [20.0]), t2)
    assert abs(auc - 20.0 / (180 * 60 / 1000) * 1000) / auc < 0.01


def test_ka_from_tmax_rejects_unreachable_tmax():
    with pytest.raises(ValueError, match="not reachable"):
        ka_from_tmax(10.0, 0.2)


def test_itb_steady_state_and_bolus():
    pk = IntrathecalPK(half_life_h=4.0, v_csf_l=0.15)
    t = np.array([0.0, 10.0, 100.0])
    c = pk.concentration(t, [(-1000.0, 360.0)], [], [])
    assert np.allclose(c, 15.0 / (pk.ke * 0.15))             # 360 ug/day = 15 ug/h
    step = pk.concentration(np.array([200.0]), [(-1000.0, 360.0), (0.0, 720.0)], [], [])
    assert abs(step[0] - 2 * c[0]) / c[0] < 1e-6
    tb = np.arange(0, 24, 0.01)
    cb = pk.concentration(tb, [(-1000.0, 0.0)], [0.0], [50.0])
    assert 1.0 < tb[np.argmax(cb)] < 4.5                       # a bolus peaks within about 4 h


def _events_by_trigger(tl, trigger):
    return np.array([e.onset_s for e in tl.events if e.trigger == trigger])


def test_hazard_follows_concentration_and_emax_is_recovered():
    """Poisson MLE of (base, Emax, EC50) on 60 simulated days recovers the truth."""
    scn = Scenario(days=60, seed=11, regimen="tid")
    tl = build_timeline(scn)
    on = _events_by_trigger(tl, "spontaneous")
    grid = tl.grid_t_s
    circ = circadian(_local_hours(scn, grid), scn.circadian_amp, scn.circadian_peak_h)
    c = tl.conc
    c_ev = tl.concentration_at(on)
    circ_ev = np.interp(on, grid, circ)
    dt_h = np.diff(grid, append=grid[-1] + 60) / 3600

    def nll(p):
        b, e, ec = np.exp(p[0]), 1 / (1 + np.exp(-p[1])), np.exp(p[2])
        lam = lambda cc, cir: b * cir * (1 - e * cc / (ec + cc))
        return np.sum(lam(c, circ) * dt_h) - np.sum(np.log(lam(c_ev, circ_ev)))

    r = so.minimize(nll, [math.log(4), 0.5, math.log(100)], method="Nelder-Mead",
                    options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-6})
    b, e, ec = np.exp(r.x[0]), 1 / (1 + np.exp(-r.x[1])), np.exp(r.x[2])
    truth = scn.response
    # Emax and EC50 trade off against each other inside the observed concentration range:
    # compare the effect curve there (about 4000 events: effect SE about 0.03)
    assert abs(b - truth.base_rate_per_h) / truth.base_rate_per_h < 0.15, (b, e, ec)
    for cq in np.quantile(c, [0.1, 0.5, 0.9]):
        fitted = e * cq / (ec + cq)
        true = truth.effect(np.array([cq]))[0]
        assert abs(fitted - true) < 0.08, (cq, fitted, true, b, e, ec)
    # model-free: rate in the highest concentration tertile is lower than in the lowest
    q1, q2 = np.quantile(c, [1 / 3, 2 / 3])
    lo_rate = np.sum(c_ev < q1) / (np.sum(c < q1) / 60)
    hi_rate = np.sum(c_ev > q2) / (np.sum(c > q2) / 60)
    assert hi_rate < 0.8 * lo_rate


def test_more_spasms_at_night():
    scn = Scenario(days=30, seed=5)
    tl = build_timeline(scn)
    h = _local_hours(scn, _events_by_trigger(tl, "spontaneous"))
    night = np.sum((h >= 0) & (h < 6)) / 6
    day = np.sum((h >= 12) & (h < 18)) / 6
    assert night > 1.5 * day


def test_transfers_trigger_spasms():
    tl = build_timeline(Scenario(days=20, seed=2))
    transfers = np.array([(o.start_s + o.end_s) / 2 for o in tl.others if o.kind == "transfer"])
    trig = _events_by_trigger(tl, "transfer")
    assert len(trig) > 0.2 * len(transfers)
    assert all(np.min(np.abs(transfers - t)) < 60 for t in trig)


def test_dose_schedule_has_late_and_missed_doses_at_local_times():
    scn = Scenario(days=30, seed=3, regimen="qid")
    tl = build_timeline(scn)
    st = [d.status for d in tl.plan.doses if d.t_s >= 0]
    assert st.count("late") > 0 and st.count("missed") > 0 and st.count("on_time") > 0.6 * len(st)
    h = _local_hours(scn, np.array([d.scheduled_t_s for d in tl.plan.doses]))
    assert set(np.round(h, 3)) <= {7.0, 12.0, 17.0, 22.0}
    late = [d for d in tl.plan.doses if d.status == "late"]
    assert all(30 * 60 <= d.t_s - d.scheduled_t_s <= 150 * 60 for d in late)


def test_unknown_regimen_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown regimen 'bid'"):
        build_timeline(Scenario(regimen="bid"))


def _signal(scn, start, end, chunk_s=60.0):
    ps = PatientSignal(build_timeline(scn))
    ch = list(ps.chunks(chunk_s, start, end))
    return (np.concatenate([c.emg_uV for c in ch], axis=1), np.concatenate([c.imu for c in ch], axis=1),
            np.concatenate([c.leadoff for c in ch], axis=1), ch)


def test_signal_is_reproducible_and_independent_of_chunk_size():
    scn = Scenario(days=0.1, seed=9)
    a = _signal(scn, 600, 1200, 60.0)
    b = _signal(scn, 600, 1200, 20.0)
    c = _signal(Scenario(days=0.1, seed=9), 600, 1200, 300.0)
    d = _signal(Scenario(days=0.1, seed=10), 600, 1200, 60.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[0], c[0])
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], d[0])
    times = [ch.t0_s for ch in b[3]]
    assert np.allclose(np.diff(times), 20.0) and b[0].shape[1] == 600 * 1000
    assert b[1].shape[1] == 600 * 100


def test_bad_chunk_size_is_rejected():
    ps = PatientSignal(build_timeline(Scenario(days=0.01)))
    with pytest.raises(ValueError, match="multiple of 10"):
        next(ps.chunks(15.0))


def _first(tl, pred):
    return next(e for e in tl.events if pred(e))


def test_event_texture_peak_and_clonus_frequency():
    scn = Scenario(days=0.5, seed=4)
    tl = build_timeline(scn)
    sos = ss.butter(4, [20, 450], "bandpass", fs=1000, output="sos")
    checked = 0
    for ev in [e for e in tl.events if e.observable and e.kind != "spasm" and e.duration_s > 6][:3] + \
              [e for e in tl.events if e.observable and e.kind == "spasm"][:3]:
        s0 = int(ev.onset_s) // 10 * 10 - 10
        emg, imu, _, _ = _signal(scn, s0, s0 + 20 + 10 * math.ceil(ev.duration_s / 10))
        ch = ev.channels[-1] if ev.kind != "spasm" else ev.channels[0]
        x = ss.sosfiltfilt(sos, emg[ch].astype(float))
        a, b = int((ev.onset_s - s0) * 1000), int((ev.offset_s - s0) * 1000)
        arv = np.convolve(np.abs(x), np.ones(100) / 100, "valid")
        pk = ev.peak_uV[ev.channels.index(ch)]
        assert 0.8 * pk < arv[a:b].max() < 1.3 * pk + 5
        # quiet before the onset: ARV well under the event's peak
        assert np.median(arv[a - 3000:a - 500]) < 0.25 * pk + 3
        if ev.clonus_hz:
            seg = x[a + int(ev.tonic_s * 1000):b]
            env = np.convolve(np.abs(seg), np.ones(20) / 20, "same")
            f, p = ss.welch(env - env.mean(), fs=1000, nperseg=min(len(env), 4096))
            m = (f > 2) & (f < 12)
            assert abs(f[m][np.argmax(p[m])] - ev.clonus_hz) < 0.6
            assert 4.0 <= ev.clonus_hz <= 8.0
        # limb moves during the event
        assert np.abs(imu[3:, a // 10:b // 10]).max() > 3.0
        checked += 1
    assert checked == 6


def test_clonus_frequencies_in_physiological_range():
    tl = build_timeline(Scenario(days=14, seed=6))
    hz = np.array([e.clonus_hz for e in tl.events if e.kind != "spasm"])
    assert len(hz) > 50 and hz.min() >= 4.0 and hz.max() <= 8.0
    assert 4.7 <= np.median(hz) <= 7.0


def test_leadoff_rails_and_not_worn_is_still():
    scn = Scenario(days=1, seed=1)
    tl = build_timeline(scn)
    nw = tl.intervals_of("not_worn")[0]
    s0 = int(nw.start_s) // 10 * 10 + 60
    emg, imu, lo, _ = _signal(scn, s0, s0 + 120)
    assert lo.all() and np.all(emg == 500_000.0)
    assert np.abs(imu[3:] - np.array([[0.4], [-0.3], [0.2]])).max() < 0.5   # gyro: bias + noise only


def test_truth_files(tmp_path):
    tl = build_timeline(Scenario(days=2, seed=8))
    paths = write_truth(tl, tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert doc["counts"]["events"] == len(tl.events) == len(list(csv.DictReader(paths["events"].open())))
    assert doc["true_response"]["emax"] == 0.8 and doc["true_pk"]["half_life_h"] == 3.5
    kinds = {r["status"] for r in csv.DictReader(paths["doses"].open())}
    assert "on_time" in kinds
    assert all(e["onset_utc"].endswith("Z") for e in doc["events"])


def test_itb_flex_program_raises_night_concentration_and_lowers_hazard():
    scn = Scenario(days=7, seed=12, regimen="itb")
    tl = build_timeline(scn)
    assert tl.plan.pump and all(d.route == "intrathecal_bolus" and d.unit == "ug" for d in tl.plan.doses)
    h = _local_hours(scn, tl.grid_t_s)
    late_night = (h >= 2) & (h < 6)          # hours after the 21:00 rate rise
    afternoon = (h >= 15) & (h < 19)         # hours after the 07:00 rate fall
    assert tl.conc[late_night].mean() > 1.08 * tl.conc[afternoon].mean()
    mult = tl.hazard_per_h / (scn.itb_response.base_rate_per_h * circadian(h, scn.circadian_amp, scn.circadian_peak_h))
    assert mult[late_night].mean() < mult[afternoon].mean()


def test_tolerance_raises_ec50_and_weakens_the_effect():
    base = build_timeline(Scenario(days=28, seed=4))
    tol = build_timeline(Scenario(days=28, seed=4, tolerance_pct_per_week=20.0))
    last_week = base.grid_t_s > 21 * 86400
    assert np.allclose(base.conc, tol.conc)
    assert tol.hazard_per_h[last_week].mean() > 1.1 * base.hazard_per_h[last_week].mean()
    assert np.allclose(tol.hazard_per_h[:60], base.hazard_per_h[:60], rtol=0.01)
