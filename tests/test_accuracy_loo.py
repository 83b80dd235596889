"""Leave-one-generator-out scoring: per-context matching and false-event rates on hand-made
cases, and the accuracy.json a short real run writes."""
from __future__ import annotations

import json

import pytest

from spasmtrack.accuracy.__main__ import main, summarise
from spasmtrack.accuracy.scoring import drop_ignored, merge_channels, recall_by, score_contexts


def ev(on: float, off: float, kind: str = "spasm", **kw) -> dict:
    return {"onset_s": on, "offset_s": off, "kind": kind, "clonus_hz": None, **kw}


CONTEXTS = [(0.0, 1800.0, "rest"), (1800.0, 2700.0, "walking"), (2700.0, 3600.0, "vehicle")]


def test_per_context_counts_follow_the_onsets_and_one_to_one_matching() -> None:
    labels = [ev(100.0, 110.0, context="rest"), ev(1790.0, 1805.0, context="rest"), ev(2000.0, 2003.0, context="walking")]
    dets = [ev(100.2, 109.0),            # TP in rest
            ev(100.4, 101.0),            # second detection of the same label: FP in rest
            ev(1790.3, 1804.0),          # TP in rest although it ends in walking
            ev(1900.0, 1900.8),          # FP in walking
            ev(1950.0, 1950.8),          # FP in walking
            ev(2000.8, 2003.0),          # onset 0.8 s late: FP in walking, and the label is missed
            ev(3000.0, 3001.0)]          # FP in the vehicle
    per = score_contexts(labels, dets, CONTEXTS)
    rest, walk, car = per["rest"], per["walking"], per["vehicle"]
    assert (rest.tp, rest.fp, rest.fn) == (2, 1, 0)
    assert (walk.tp, walk.fp, walk.fn) == (0, 3, 1)
    assert (car.tp, car.fp, car.fn) == (0, 1, 0)
    assert rest.hours == pytest.approx(0.5) and walk.hours == pytest.approx(0.25)
    assert walk.fp_per_hour == pytest.approx(12.0) and car.fp_per_hour == pytest.approx(4.0)
    assert rest.fp_per_hour == pytest.approx(2.0)
    assert sorted(round(e * 1000) for e in rest.onset_err_s) == [200, 300]


def test_channels_merge_and_unobservable_events_are_ignored() -> None:
    dets = [ev(10.0, 12.0, channel=0), ev(10.5, 15.0, "clonus", channel=1), ev(20.0, 21.0, channel=1)]
    merged = merge_channels(dets)
    assert [(d["onset_s"], d["offset_s"], d["kind"]) for d in merged] == [(10.0, 15.0, "clonus"), (20.0, 21.0, "spasm")]
    assert drop_ignored(merged, [(20.5, 30.0)]) == merged[:1]
    labels = [ev(10.0, 14.0, thomas_type="tonic"), ev(40.0, 41.0, thomas_type="unit"), ev(50.0, 52.0, thomas_type="tonic")]
    assert recall_by(labels, merged + [ev(50.1, 52.0)], "thomas_type") == {"tonic": (2, 2), "unit": (0, 1)}


def test_headline_figures_pool_unseen_generators_only() -> None:
    def result(gen: str, labels: list, dets: list, contexts: list) -> dict:
        return {"generator": gen, "hours": contexts[-1][1] / 3600, "labels": len(labels), "types": {},
                "contexts": {"spasmtrack": score_contexts(labels, dets, contexts)}}

    seen = result("corpus", [ev(5, 8)], [ev(5, 8), ev(50, 51), ev(60, 61)], [(0.0, 3600.0, "clean")])
    a = result("patient", [ev(5, 8), ev(100, 104)], [ev(5.1, 8)], [(0.0, 3600.0, "rest")])
    b = result("dailylife", [ev(5, 8)], [ev(5.05, 8), ev(1900, 1901), ev(2800, 2801)],
               [(0.0, 1800.0, "sleep"), (1800.0, 2700.0, "walking"), (2700.0, 3600.0, "vehicle")])
    head = summarise([seen, a, b], ["spasmtrack"], "corpus")
    assert head["unseen"] == ["patient", "dailylife"]
    assert head["f1_min_unseen"] == pytest.approx(0.5, abs=1e-3)          # dailylife: 1 TP, 2 FP
    assert head["f1_min_unseen_generator"] == "dailylife"
    assert head["fp_per_h_walking"] == pytest.approx(4.0) and head["fp_per_h_vehicle"] == pytest.approx(4.0)
    assert head["fp_per_h_rest"] == 0.0 and head["hours_rest"] == pytest.approx(1.5)   # patient rest + sleep
    assert head["median_onset_error_ms_unseen"] == pytest.approx(75.0)
    assert head["generators"]["corpus"]["tuned_on"] and not head["generators"]["patient"]["tuned_on"]


def test_a_short_run_writes_the_leave_one_generator_out_table(tmp_path, capsys) -> None:
    out = tmp_path / "accuracy.json"
    rc = main(["--generators", "corpus,dailylife", "--scale", "0.05", "--limit", "1", "--no-peers",
               "--jobs", "1", "--out", str(out)])
    assert rc == 0
    rep = json.loads(out.read_text())
    for key in ("f1_min_unseen", "fp_per_h_walking", "fp_per_h_vehicle", "fp_per_h_rest", "tuned_on", "generators",
                "median_onset_error_ms_unseen", "clonus_accuracy_unseen"):
        assert key in rep, key
    assert rep["tuned_on"] == "corpus" and rep["unseen"] == ["dailylife"]
    gens = rep["generators"]
    assert gens["corpus"]["tuned_on"] and not gens["dailylife"]["tuned_on"]
    dl = gens["dailylife"]["overall"]["spasmtrack"]
    assert rep["f1_min_unseen"] == (dl["f1"] if dl["f1"] is not None else 0.0)
    assert set(gens["dailylife"]["contexts"]) <= {"sleep", "rest", "transfer", "wheelchair", "vehicle", "walking",
                                                  "physio", "desk"}
    assert sum(c["spasmtrack"]["hours"] for c in gens["dailylife"]["contexts"].values()) == \
        pytest.approx(gens["dailylife"]["hours"], abs=0.002)
    # the corpus is scored per activity it schedules too (rest between the activities)
    assert set(gens["corpus"]["contexts"]) <= {"rest", "walking", "wheelchair", "vehicle", "tapping"}
    assert sum(c["spasmtrack"]["hours"] for c in gens["corpus"]["contexts"].values()) == \
        pytest.approx(gens["corpus"]["hours"], abs=0.002)
    text = capsys.readouterr().out
    assert "corpus*" in text and "dailylife" in text and "F1 min" in text
    assert main(["--generators", "nosuch", "--out", str(out)]) == 2
