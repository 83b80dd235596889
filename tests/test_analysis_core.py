"""Analysis on generated multi-week data whose truth is known (Emax, night factor, gaps,
DST, reboots, clock jump, late/missed doses)."""
from __future__ import annotations

import numpy as np
import pytest

from spasmtrack.analysis import Params, analyse, load
from spasmtrack.analysis.core import psfs_level, snow_level
from spasmtrack.analysis.pk import OralPK, oral_concentration
from spasmtrack.synth.multiweek import generate
from spasmtrack.analysis.tzutil import local_day_and_hour, utc_offset_ms
from spasmtrack.store import open_store

P = Params(n_boot=300)


@pytest.fixture(scope="module")
def oral(tmp_path_factory):
    st = open_store(f"sqlite:///{tmp_path_factory.mktemp('an')}/a.sqlite")
    tr = generate(st, days=16, start_day="2026-10-14", seed=3)
    d = load(st, "P1", tr.start_utc_ms, tr.end_utc_ms)
    return st, tr, d, analyse(d, P)


def test_everything_is_placed_despite_reboots_drift_and_clock_jump(oral):
    st, tr, d, a = oral
    assert d.unplaced_events == 0
    assert d.ev_t.size == tr.n_events and d.sm_t.size == tr.n_summaries
    assert d.reboots >= 4 and d.reset_causes.get(3) == 1       # one watchdog reset
    assert d.rejected_anchors == 1
    assert any("clock jump" in n for n in a.notes)
    assert not any("travel?" in n for n in a.notes)        # anchors' offsets match the zone
    # consecutive 5-minute windows stay 300 s apart in UTC (drift followed, the wrong
    # anchor did not shift anything by an hour, no overlap across reboots)
    step = np.diff(d.sm_t)
    assert step.min() > 299_000
    assert np.sum(np.abs(step - 300_000) > 1_500) <= d.reboots + 1


def test_gaps_and_dst_in_coverage(oral):
    _, tr, d, a = oral
    cov = a.coverage
    days = [str(np.datetime64(int(x), "D")) for x in cov["day_ids"]]
    assert cov["day_len_h"][days.index("2026-10-25")] == 25
    off = days.index("2026-10-23")          # day 9: device off all day
    assert cov["covered_h"][off] == 0 and np.isnan(a.daily["psfs"][off])
    assert cov["not_worn_h"][0] == pytest.approx(0.5, abs=0.01)      # shower 07:30-08:00
    assert 20 < np.median(cov["covered_h"]) <= 24


def test_peridose_curve_has_a_nadir_after_the_dose(oral):
    _, tr, d, a = oral
    c = a.peridose
    assert 0.5 <= a.nadir[0] <= 3.0
    assert a.nadir[1] < a.pre_dose_rate[1]              # below the pre-dose CI
    assert np.all(c.lo[np.isfinite(c.y)] <= c.y[np.isfinite(c.y)] + 1e-9)
    assert a.nadir[0] < a.return_h[0] < a.median_interval_h + 1
    assert a.dosing["n_logged"] == tr.n_doses


def test_emax_fit_recovers_truth_within_its_interval(oral):
    _, tr, d, a = oral
    cr = a.cr
    assert cr["ok"]
    ic50_mid = tr.ic50_start * (1 + tr.ic50_growth_per_day * 8)
    for name, truth in (("e0_per_h", tr.e0_per_h), ("imax", tr.imax), ("ic50", ic50_mid)):
        est, lo, hi = cr[name]
        assert lo <= truth <= hi, (name, cr[name], truth)
    assert abs(cr["circadian_peak_h"] - 3.0) < 2.0


def test_nights_have_more_spasms_than_days(oral):
    _, _, _, a = oral
    assert a.night["lo"] > a.night["day_hi"]
    assert a.tod.y[3] > a.tod.y[15]


def test_late_and_missed_doses_are_flagged(oral):
    _, tr, _, a = oral
    assert tr.missed_doses + tr.late_doses > 0
    assert a.dosing["n_long_intervals"] >= 1
    # a QID schedule's overnight interval is not flagged every night
    assert a.dosing["n_long_intervals"] < 8


def test_scale_mappings_at_boundaries():
    n = np.array([0, 5, 12, 120, 121, 50])
    cov = np.array([12, 12, 12, 12, 12, 2])
    assert psfs_level(n, cov, 4).tolist()[:5] == [0, 2, 3, 3, 4]
    assert np.isnan(psfs_level(n, cov, 4)[5])
    per24 = np.array([0, 1, 2, 5, 6, 9, 10])
    s = snow_level(per24 / 2, np.full(7, 12.0), 12)
    assert s.tolist() == [1, 2, 3, 3, 4, 4, 5]
    assert np.isnan(snow_level(np.array([3]), np.array([11.9]), 12)[0])


def test_scats_bins_partition_all_events(oral):
    _, _, d, a = oral
    sc = a.scats
    for k in ("clonus", "spasm", "spasm with clonus"):
        assert sc[k]["lt"] + sc[k]["mid"] + sc[k]["gt"] == sc[k]["n"]
    # one kind per episode: the three groups partition the events
    assert sc["clonus"]["n"] + sc["spasm"]["n"] + sc["spasm with clonus"]["n"] == d.ev_t.size


def test_oral_pk_peaks_at_tmax_and_halves():
    pk = OralPK(t_half_h=3.5, tmax_h=1.5)
    t = np.arange(0, 30 * 3_600_000, 60_000)
    c = oral_concentration(t, np.array([0]), np.array([20_000.0]), pk)
    assert abs(t[np.argmax(c)] / 3_600_000 - 1.5) < 0.02
    i10, i135 = 10 * 60, int(13.5 * 60)
    assert c[i135] / c[i10] == pytest.approx(0.5, rel=0.02)
    # superposition: two doses = sum of each
    c2 = oral_concentration(t, np.array([0, 5 * 3_600_000]), np.array([20_000.0, 20_000.0]), pk)
    c5 = oral_concentration(t - 5 * 3_600_000, np.array([0]), np.array([20_000.0]), pk)
    assert np.allclose(c2, c + np.where(t >= 5 * 3_600_000, c5, 0))


def test_tz_offsets_follow_dst():
    t = np.array([1792890000000 - 3_600_000, 1792890000000 + 3_600_000])  # 2026-10-25 01:00 UTC +-1h
    assert utc_offset_ms(t, "Europe/Berlin").tolist() == [7_200_000, 3_600_000]
    day, hour = local_day_and_hour(t, "America/New_York")
    assert hour.tolist() == [20.0, 22.0]  # EDT until 1 Nov


def test_itb_pump_schedule_drives_concentration_and_fit(tmp_path):
    st = open_store(f"sqlite:///{tmp_path}/i.sqlite")
    tr = generate(st, days=8, start_day="2026-11-02", mode="itb", seed=5, travel_days=(3, 5))
    d = load(st, "P1", tr.start_utc_ms, tr.end_utc_ms)
    assert d.is_itb and len(d.pumps) == 1
    a = analyse(d, P)
    assert a.conc_route == "intrathecal" and a.cr["ok"]
    travel = [n for n in a.notes if "travel?" in n]
    assert len(travel) == 1 and ("on 2 day(s)" in travel[0] or "on 3 day(s)" in travel[0])
    from spasmtrack.analysis import concentration
    day = tr.start_utc_ms + 5 * 86_400_000
    c = concentration(d, P, np.array([day + 6 * 3_600_000, day + 20 * 3_600_000]), "intrathecal")
    assert c[1] > c[0]                     # 420 ug/day from 07:00 local vs 300 at night
    assert a.cr["imax"][1] <= tr.imax <= a.cr["imax"][2]


def test_rising_ic50_is_reported_as_tolerance(tmp_path):
    st = open_store(f"sqlite:///{tmp_path}/t.sqlite")
    tr = generate(st, days=28, start_day="2026-09-01", seed=4, ic50=60.0, ic50_growth_per_day=0.08)
    a = analyse(load(st, "P1", tr.start_utc_ms, tr.end_utc_ms), P)
    wk = a.cr["weekly_ic50"]
    assert len(wk) == 4 and wk[-1][1] > 2 * wk[0][1]
    assert a.tolerance["ic50_pct_lo"] > 10            # truth: +56 % a week at the start


def test_fault_records_are_counted(tmp_path):
    from spasmtrack import records as r
    st = open_store(f"sqlite:///{tmp_path}/f.sqlite")
    st.add_patient("P1", "UTC")
    st.assign_device("d", "P1")
    st.insert_records("d", [r.encode("FAULT", 1, boot=1, ms=5, cause=2, code=0, line=0),
                            r.encode("FAULT", 2, boot=2, ms=5, cause=1, code=r.fw.name_code("MemoryError"), line=12)])
    d = load(st, "P1", 0, 2_000_000_000_000)
    assert d.faults == {"watchdog": 1, "exception": 1}
