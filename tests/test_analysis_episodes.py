"""Per-channel EVENT records are grouped into episodes before anything is counted."""
from __future__ import annotations

import numpy as np
import pytest

from spasmtrack.analysis import Params, analyse, load
from spasmtrack.analysis.episodes import EPISODE_GAP_MS, combine_kinds, group_episodes
from spasmtrack.synth.multiweek import generate
from spasmtrack.report.html import render
from spasmtrack.store import open_store

P = Params(n_boot=100)


def _g(rows, gap=EPISODE_GAP_MS):
    """rows: (onset, dur, kind, channel, device[, peak, flags])."""
    r = [tuple(x) + (100, 0)[len(x) - 5:] if len(x) < 7 else tuple(x) for x in rows]
    a = np.array(r, dtype=np.int64)
    return group_episodes(a[:, 0], a[:, 1], a[:, 2], a[:, 6], a[:, 5], np.full(len(a), 3), a[:, 3], a[:, 4],
                          gap_ms=gap)


def test_overlapping_channels_are_one_episode_with_combined_fields():
    e = _g([(1000, 2000, 1, 0, 1, 500, 1), (1300, 3000, 2, 1, 1, 900, 16)])
    assert e.t.tolist() == [1000] and e.dur.tolist() == [3300]   # earliest onset .. latest offset
    assert e.kind.tolist() == [3]                                 # tonic + clonic part
    assert e.peak_cuv.tolist() == [900] and e.flags.tolist() == [17]
    assert e.channels.tolist() == [0b11] and e.n_records.tolist() == [2]
    assert e.record_episode.tolist() == [0, 0]


def test_gap_rule_and_what_is_never_merged():
    # other channel 0.5 s after the end: one episode; 0.6 s after: two
    assert len(_g([(0, 1000, 1, 0, 1), (1000 + EPISODE_GAP_MS, 800, 1, 1, 1)]).t) == 1
    assert len(_g([(0, 1000, 1, 0, 1), (1000 + EPISODE_GAP_MS + 100, 800, 1, 1, 1)]).t) == 2
    # same channel, even overlapping: the detector's decision stands
    assert len(_g([(0, 1000, 1, 0, 1), (900, 800, 1, 0, 1)]).t) == 2
    # same times on two devices (two patients' sensors, or a swap): never merged
    assert len(_g([(0, 1000, 1, 0, 1), (0, 1000, 1, 1, 2)]).t) == 2
    # a record on channel 1 overlapping two channel-0 records joins them
    e = _g([(0, 1000, 1, 0, 1), (800, 2000, 1, 1, 1), (2500, 500, 2, 0, 1)])
    assert e.n_records.tolist() == [3] and e.dur.tolist() == [3000]
    # gap 0: touching is still one, 1 ms apart is two
    assert len(_g([(0, 1000, 1, 0, 1), (1000, 10, 1, 1, 1)], gap=0).t) == 1
    assert len(_g([(0, 1000, 1, 0, 1), (1001, 10, 1, 1, 1)], gap=0).t) == 2


def test_kinds_input_order_and_empty():
    assert combine_kinds(np.array([1, 1])) == 1
    assert combine_kinds(np.array([2, 2])) == 2
    assert combine_kinds(np.array([2, 1])) == 3 and combine_kinds(np.array([3, 2])) == 3
    rows = [(5000, 100, 2, 1, 1), (0, 1000, 1, 0, 1), (5050, 100, 2, 0, 1), (200, 300, 1, 1, 1)]
    e = _g(rows)
    assert e.t.tolist() == [0, 5000] and e.kind.tolist() == [1, 2]
    assert e.record_episode.tolist() == [1, 0, 1, 0]          # per input record, sorted episodes
    z = group_episodes(*(np.zeros(0, np.int64) for _ in range(8)))
    assert z.t.size == 0 and z.record_episode.size == 0


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Same seed, once with every event on one channel, once with 40 % also on channel 1."""
    out = {}
    for name, bp in (("uni", 0.0), ("bi", 0.4)):
        st = open_store(f"sqlite:///{tmp_path_factory.mktemp(name)}/a.sqlite")
        tr = generate(st, days=6, start_day="2026-11-02", seed=5, bilateral_p=bp)
        d = load(st, "P1", tr.start_utc_ms, tr.end_utc_ms)
        out[name] = (st, tr, d, analyse(d, P))
    return out


def test_bilateral_records_do_not_inflate_counts_rates_scores_or_e0(pair):
    _, tu, du, au = pair["uni"]
    st, tb, db, ab = pair["bi"]
    assert tb.n_events == tu.n_events and tb.n_bilateral > 0.3 * tb.n_events
    assert db.rec_t.size == tb.n_events + tb.n_bilateral                 # every record kept
    assert du.ev_t.size == tu.n_events
    # grouping may only join channel-0 events that a channel-1 record bridges (the synthetic
    # channel 0 has overlapping events at 34/h; a real detector's channel has none)
    assert 0.98 * tb.n_events <= db.ev_t.size <= tb.n_events
    assert int((db.ev_n_records == 2).sum()) >= 0.97 * tb.n_bilateral
    ch0_per_ep = np.bincount(db.rec_episode[db.rec_channel == 0], minlength=db.ev_t.size)
    assert (ch0_per_ep >= 1).all()          # a channel-1 copy never stands alone as an episode
    assert np.all(db.rec_episode < db.ev_t.size)
    assert np.array_equal(np.bincount(db.rec_episode, minlength=db.ev_t.size), db.ev_n_records)
    e0u, e0b = au.cr["e0_per_h"][0], ab.cr["e0_per_h"][0]
    naive = (db.rec_t.size / db.ev_t.size)                                 # what counting records gave
    assert naive > 1.3
    assert abs(e0b / e0u - 1) < 0.05, (e0u, e0b)
    assert abs(ab.timeline_rate[np.isfinite(ab.timeline_rate)].sum()
               / au.timeline_rate[np.isfinite(au.timeline_rate)].sum() - 1) < 0.05
    # PSFS / Snow / SCATS count episodes too
    assert ab.daily["n_spasms"].sum() <= au.daily["n_spasms"].sum() + tb.n_bilateral * 0.4
    assert ab.scats["clonus"]["n"] + ab.scats["spasm"]["n"] <= db.ev_t.size
    assert ab.daily["n_spasms"].sum() == np.isin(db.ev_kind, (1, 3)).sum()
    assert np.nanmax(np.abs(ab.daily["snow"] - au.daily["snow"])) <= 1
    html = render(ab, st)
    assert "one episode" in html and f"{EPISODE_GAP_MS / 1000:g} s apart" in html
    n0, n1 = np.bincount(db.rec_channel)[:2]
    assert f"channel 0: {n0}, channel 1: {n1} ({db.ev_t.size} episodes)" in html
    assert f"from {db.rec_t.size} per-channel records" in html


def test_csv_export_has_one_row_per_episode_with_its_channels(pair, tmp_path):
    from spasmtrack.export.csvout import write_csv
    _, tb, db, _ = pair["bi"]
    n = write_csv(db, tmp_path)
    lines = (tmp_path / "events.csv").read_text().splitlines()
    assert n["events.csv"] == db.ev_t.size == len(lines) - 1
    assert lines[0].endswith(",channels,n_records")
    both = sum(1 for ln in lines[1:] if ln.rsplit(",", 2)[1] == "0;1")
    assert both == int((db.ev_channels == 3).sum()) >= 0.97 * tb.n_bilateral
