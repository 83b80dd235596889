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
    nodes = screen.export(screen.fit(X, y))
    table = firmware.core("screen_table")
    assert tuple(nodes) == tuple(table.NODES), "run `make screen` and commit the table"
    assert tuple(table.FEATURES) == screen.features()


def test_twin_sklearn_and_the_unix_port_walker_agree_on_every_training_row(data):
    X, y, _ = data
    clf = screen.fit(X, y)
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
    X, _, rows = data
    nodes = tuple(firmware.core("screen_table").NODES)
    drop = screen.twin(nodes, X) == 0
    name = next(r["recording"] for r, d in zip(rows, drop) if d)
    rec = build(Job("corpus", name, 1, 1.0))
    res = replay_recording(rec.recording(), trace=True)
    kept = [c["onset_s"] for c in res.candidates if c["keep"]]
    dropped = [c for c in res.candidates if not c["keep"]]
    assert dropped, f"{name}: the screen dropped nothing on a recording where its training data say it does"
    assert [e["onset_s"] for e in res.events] == kept
    off = replay_recording(rec.recording(), config={"screen_on": 0})
    assert len(off.events) == len(res.candidates)
    # the features the trace reports are the ones the training data hold for this recording
    mine = [r for r in rows if r["recording"] == name]
    names = screen.features()
    assert [[int(r[n]) for n in names] for r in mine] == [c["features"] for c in res.candidates]
