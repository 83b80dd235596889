"""Event scoring (one-to-one matching) and the peers' interval-to-event rules."""
from __future__ import annotations

import pytest

from spasmtrack.accuracy.peers import intervals_to_events
from spasmtrack.accuracy.scoring import match, rest_filled, score, score_by_context


def ev(on: float, off: float, kind: str = "spasm", hz: float | None = None) -> dict:
    return {"onset_s": on, "offset_s": off, "kind": kind, "clonus_hz": hz}


def test_one_to_one_matching_prefers_smallest_onset_error() -> None:
    labels = [ev(10.0, 12.0)]
    dets = [ev(10.3, 12.0), ev(10.05, 11.0)]
    assert match(labels, dets) == [(0, 1)]
    s = score(labels, dets, hours=1.0)
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    assert s.precision == 0.5 and s.recall == 1.0 and s.f1 == pytest.approx(2 / 3)
    assert s.median_onset_ms == pytest.approx(50.0)
    assert s.fp_per_hour == 1.0


def test_tolerance_and_overlap_are_both_required() -> None:
    labels = [ev(10.0, 10.6), ev(20.0, 25.0)]
    dets = [ev(10.7, 12.0),      # onset within 0.7 s but no overlap and > 0.5 s error
            ev(20.6, 25.0)]      # overlaps but onset 0.6 s late
    s = score(labels, dets, hours=0.5)
    assert (s.tp, s.fp, s.fn) == (0, 2, 2)
    assert s.median_onset_ms is None and s.f1 == 0.0
    assert score([ev(1.0, 2.0)], [ev(1.5, 2.5)], 1.0).tp == 1     # exactly 0.5 s: matched


def test_one_detection_cannot_match_two_labels() -> None:
    labels = [ev(10.0, 11.0), ev(10.2, 11.5)]
    s = score(labels, [ev(10.1, 11.2)], hours=1.0)
    assert (s.tp, s.fp, s.fn) == (1, 0, 1)


def test_clonus_and_kind_accuracy_and_frequency_error() -> None:
    labels = [ev(0, 5, "clonus", 6.0), ev(10, 15, "spasm_with_clonus", 5.0), ev(20, 25, "spasm")]
    dets = [ev(0.0, 5, "clonus", 6.5), ev(10.0, 15, "clonus", 5.2), ev(20.0, 25, "clonus", 7.0)]
    s = score(labels, dets, hours=1.0)
    assert s.tp == 3
    assert s.clonus_accuracy == pytest.approx(2 / 3)     # the tonic spasm called clonus is wrong
    assert s.kind_accuracy == pytest.approx(1 / 3)
    assert s.clonus_hz_mae == pytest.approx(0.35)


def test_peer_intervals_use_the_same_merge_gap_and_minimum() -> None:
    iv = [(1.0, 1.3), (1.5, 1.7), (5.0, 5.4), (9.0, 9.2), (9.6, 10.0)]
    out = intervals_to_events(iv, min_duration_s=0.5, merge_gap_s=0.3)
    assert [(e["onset_s"], e["offset_s"]) for e in out] == [(1.0, 1.7)]
    assert all(e["kind"] == "spasm" for e in out)


def test_scores_per_context_split_labels_and_false_events_by_context() -> None:
    labels = [dict(ev(10.0, 12.0), context="rest"), dict(ev(100.0, 103.0), context="walking")]
    dets = [ev(10.1, 12.0), ev(50.0, 51.0), ev(60.0, 61.0), ev(130.0, 131.0)]
    spans = [(40.0, 70.0, "walking"), (120.0, 150.0, "vehicle"), (200.0, 236.0, "walking")]
    s = score_by_context(labels, dets, spans, 3600.0)
    assert (s["rest"].tp, s["rest"].fp, s["rest"].fn) == (1, 0, 0)
    assert (s["walking"].tp, s["walking"].fp, s["walking"].fn) == (0, 2, 1)   # label 100 s: outside spans
    assert (s["vehicle"].tp, s["vehicle"].fp) == (0, 1)
    assert s["walking"].hours == pytest.approx(66.0 / 3600.0)
    assert s["walking"].fp_per_hour == pytest.approx(2 / (66.0 / 3600.0))
    assert s["rest"].hours == pytest.approx((3600.0 - 96.0) / 3600.0)


def test_activity_spans_become_contexts_covering_the_recording() -> None:
    spans = [(120.0, 150.0, "vehicle"), (40.0, 70.0, "walking"), (60.0, 80.0, "tapping")]
    assert rest_filled(spans, 200.0) == [(0.0, 40.0, "rest"), (40.0, 70.0, "walking"), (70.0, 80.0, "tapping"),
                                         (80.0, 120.0, "rest"), (120.0, 150.0, "vehicle"), (150.0, 200.0, "rest")]
    assert rest_filled([], 10.0) == [(0.0, 10.0, "rest")]
