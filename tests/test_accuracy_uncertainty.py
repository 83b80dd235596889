"""Intervals on the accuracy figures: bootstrap over recordings, exact Poisson for rates."""
from __future__ import annotations

import pytest

from spasmtrack.accuracy.scoring import Score
from spasmtrack.accuracy.uncertainty import f1_interval, poisson_interval, rate_interval


def test_f1_interval_holds_the_pooled_value_and_is_wider_with_uneven_recordings():
    even = [Score(tp=8, fp=2, fn=2) for _ in range(10)]
    lo, hi = f1_interval(even)
    assert lo == pytest.approx(0.8) and hi == pytest.approx(0.8)     # identical days: no spread
    uneven = [Score(tp=10, fp=0, fn=0)] * 5 + [Score(tp=6, fp=4, fn=4)] * 5
    lo, hi = f1_interval(uneven)
    assert lo < 0.8 < hi and 0.0 <= lo and hi <= 1.0


def test_one_recording_gives_no_f1_interval():
    assert f1_interval([Score(tp=3, fp=1, fn=0)]) is None


def test_zero_false_events_is_not_a_rate_of_exactly_zero():
    lo, hi = rate_interval([Score(fp=0, hours=0.2), Score(fp=0, hours=0.2)])
    assert lo == 0.0
    assert hi == pytest.approx(3.689 / 0.4, rel=1e-3)     # Garwood upper bound for 0 events


def test_poisson_interval_matches_the_tabulated_garwood_bounds():
    lo, hi = poisson_interval(10, 1.0)
    assert lo == pytest.approx(4.795, abs=1e-3) and hi == pytest.approx(18.390, abs=1e-3)


def test_rate_interval_widens_to_the_spread_between_days():
    clustered = [Score(fp=20, hours=0.5)] + [Score(fp=0, hours=0.5)] * 9
    lo, hi = rate_interval(clustered)
    p_lo, p_hi = poisson_interval(20, 5.0)
    assert lo <= p_lo and hi > p_hi        # all on one day: wider than Poisson says
    assert lo >= 0.0


def test_a_missed_label_is_put_down_to_the_rule_that_dropped_its_activity():
    from spasmtrack.accuracy.__main__ import miss_cause

    lab = {"onset_s": 10.0, "offset_s": 14.0}
    dropped = [{"onset_s": 9.8, "offset_s": 9.9, "rule": "short"},
               {"onset_s": 10.1, "offset_s": 11.0, "rule": "moved"},
               {"onset_s": 11.0, "offset_s": 14.0, "rule": "posture"}]
    assert miss_cause(lab, [], dropped) == "posture"          # the one overlapping most
    assert miss_cause(lab, [{"onset_s": 11.0, "offset_s": 12.0}], []) == "mistimed"
    assert miss_cause(lab, [], dropped[:1]) == "short"
    assert miss_cause(lab, [{"onset_s": 20.0, "offset_s": 21.0}], []) == "not detected"
