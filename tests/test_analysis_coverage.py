"""Good-signal hours are device time: never summed over channels or duplicated windows,
never more than the period (a 24-h period across two local days is 24 h, not 48)."""
from __future__ import annotations

import numpy as np
import pytest

from spasmtrack import records as rec
from spasmtrack.analysis import Params, analyse, load
from spasmtrack.synth.multiweek import generate
from spasmtrack.analysis.tzutil import HOUR_MS
from spasmtrack.report.html import render
from spasmtrack.store import open_store
from spasmtrack.store import schema as s

P = Params(n_boot=50)


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    st = open_store(f"sqlite:///{tmp_path_factory.mktemp('cov')}/a.sqlite")
    tr = generate(st, days=2, start_day="2026-11-02", seed=9, bilateral_p=0.5)
    return st, tr


def test_24h_from_noon_is_24_hours_not_two_days(two_days):
    st, tr = two_days
    f = tr.start_utc_ms + 12 * HOUR_MS            # local noon (CET, no DST change then)
    a = analyse(load(st, "P1", f, f + 24 * HOUR_MS), P)
    cov = a.coverage
    assert len(cov["day_ids"]) == 2                       # touches two local days ...
    assert cov["total_h"] == 24                           # ... but lasts 24 h
    assert cov["day_in_period_h"].tolist() == [12, 12]
    assert 20 < cov["total_covered_h"] <= 24
    assert np.all(cov["covered_h"] <= cov["day_in_period_h"] + 1e-9)
    # the no-data bar counts only the period's part of the day
    assert np.all(cov["no_data_h"] < 1)
    html = render(a, st)
    assert f"{cov['total_covered_h']:.1f} of 24 h" in html
    assert "(12.0 in period)" in html


def test_covered_hours_equal_the_summaries_once(two_days):
    st, tr = two_days
    d = load(st, "P1", tr.start_utc_ms, tr.end_utc_ms)
    a = analyse(d, P)
    assert d.rec_channel.max() == 1                       # two channels in the data
    with st.engine.connect() as c:
        want_h = sum(r[0] for r in c.execute(s.summaries.select().with_only_columns(s.summaries.c.covered_ds))) / 36_000
    assert a.coverage["total_covered_h"] == pytest.approx(want_h, abs=1e-9)
    assert a.coverage["total_covered_h"] <= a.coverage["total_h"] == 48


def test_a_window_stored_twice_counts_once(tmp_path):
    st = open_store(f"sqlite:///{tmp_path}/b.sqlite")
    tr = generate(st, days=1, start_day="2026-11-02", seed=4)
    d0 = load(st, "P1", tr.start_utc_ms, tr.end_utc_ms)
    with st.engine.connect() as c:
        frames = [bytes(r[0]) for r in c.execute(s.records.select().with_only_columns(s.records.c.frame)
                                                 .where(s.records.c.rtype == rec.TYPE_SUMMARY)
                                                 .order_by(s.records.c.seq).limit(12))]
    key = d0.devices[0]
    seq = st.last_seq(key)
    dup = [rec.encode(rec.TYPE_SUMMARY, seq + 1 + i, **rec.decode_frame(fr).fields)
           for i, fr in enumerate(frames)]
    st.insert_records(key, dup)                            # same device time, new seqs
    d1 = load(st, "P1", tr.start_utc_ms, tr.end_utc_ms)
    assert d1.summaries_dropped_dup == 12 and d1.sm_t.size == d0.sm_t.size
    a0, a1 = analyse(d0, P), analyse(d1, P)
    assert a1.coverage["total_covered_h"] == pytest.approx(a0.coverage["total_covered_h"])
    assert a1.coverage["total_covered_h"] <= 24
    assert any("stored twice" in n for n in a1.notes)
