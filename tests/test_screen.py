"""The learned screen: the committed table is what the committed training data and script
produce, the host twin, scikit-learn and the firmware's viper walker on the unix port agree
on every training row, and the detector emits exactly the candidates the walker keeps."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from spasmtrack import firmware, screen
from spasmtrack.accuracy.generators import Job, build
from spasmtrack.replay import replay_recording


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    return screen.load()


def test_committed_table_is_what_the_training_data_and_script_produce(data):
    X, y, rows = data
    assert {r["generator"] for r in rows} == {"corpus"}      # the tuning generator only
    assert 0 < int(y.sum()) < len(y)
    chosen, _ = screen.select(X, y, [screen.group_of(r["recording"]) for r in rows])
    nodes = screen.export(screen.fit(X, y, chosen))
    table = firmware.core("screen_table")
    assert tuple(nodes) == tuple(table.NODES), "run `make screen` and commit the table"
    assert tuple(table.FEATURES) == screen.features()


def test_twin_sklearn_and_the_unix_port_walker_agree_on_every_training_row(data):
    X, y, _ = data
    clf = screen.fit(X, y, screen.Settings(6, 2, 1.0))    # deeper than shipped: more paths to walk
    nodes = screen.export(clf)
    twin = screen.twin(nodes, X)
    assert np.array_equal(twin, clf.predict(X))
    assert 0 < int((twin == 0).sum()), "the tree drops nothing on its own training data"
    code = ("import sys\nfrom array import array\nfrom core import screen as SC\n"
            "t = SC.table(tuple(int(v) for v in sys.stdin.readline().split()))\n"
            "f = array('i', bytes(4 * SC.NF))\nout = []\n"
            "for line in sys.stdin:\n"
            "    vals = line.split()\n"
            "    for i in range(SC.NF):\n"
            "        f[i] = SC.clamp(int(vals[i]))\n"
            "    out.append(str(SC.walk(t, f)))\n"
            "print(''.join(out))\n")
    stdin = " ".join(map(str, nodes)) + "\n" + "\n".join(" ".join(map(str, r)) for r in X.tolist()) + "\n"
    p = subprocess.run(firmware.unix_command("-c", code), input=stdin, capture_output=True, text=True,
                       env=firmware.unix_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    walked = np.array([int(c) for c in p.stdout.strip()])
    assert np.array_equal(walked, twin)


def test_the_detector_emits_exactly_the_candidates_the_screen_keeps(data):
    # a table that drops every candidate whose longest burst is under 2 s, on a corpus
    # recording with candidates either side: the firmware emits exactly the kept ones
    X, _, rows = data
    names = screen.features()
    b = names.index("burst_ms")
    name = next(r["recording"] for r in rows
                if any(int(q["burst_ms"]) < 2000 for q in rows if q["recording"] == r["recording"])
                and any(int(q["burst_ms"]) >= 2000 for q in rows if q["recording"] == r["recording"]))
    table = (b, 1999, 2, 255, 0, 0, 255, 1, 0)
    rec = build(Job("corpus", name, 1, 1.0))
    res = replay_recording(rec.recording(), trace=True, screen=table)
    kept = [c["onset_s"] for c in res.candidates if c["keep"]]
    assert any(not c["keep"] for c in res.candidates) and kept
    assert [c["keep"] for c in res.candidates] == [int(c["features"][b] >= 2000) for c in res.candidates]
    assert [e["onset_s"] for e in res.events] == kept
    off = replay_recording(rec.recording(), config={"screen_on": 0})
    assert len(off.events) == len(res.candidates)
    # the features the trace reports are the ones the training data hold for this recording
    mine = [r for r in rows if r["recording"] == name]
    assert [[int(r[n]) for n in names] for r in mine] == [c["features"] for c in res.candidates]


@pytest.mark.parametrize("name", ["transfer_2", "shapes_1", "displaced_2"])
def test_committed_training_rows_are_what_the_firmware_gives_today(data, name):
    # a detector change without `make screen` leaves stale training data: replay a few
    # corpus recordings and compare their candidates with the committed rows
    from spasmtrack.accuracy.screendata import _candidates

    _, _, rows = data
    committed = [r for r in rows if r["recording"] == name]
    fresh = _candidates(Job("corpus", name, 1, 1.0))
    assert committed, name
    assert len(fresh) == len(committed), "run `make screen` and commit the data"
    for f, c in zip(fresh, committed):
        assert abs(f["onset_s"] - float(c["onset_s"])) < 1e-6 and f["episode"] == int(c["episode"])
        assert all(int(c[k]) == f[k] for k in screen.features()), "run `make screen` and commit the data"
