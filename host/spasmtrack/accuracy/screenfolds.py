"""What the learned screen does on generators it was not trained on, measured exactly.

The screen is the detector's last stage: an emitted event is a candidate the screen kept
(``tests/test_screen.py`` pins that), so replaying once with the trace on gives every
candidate's features, and any screen can be scored offline by walking its table (the host
twin) over them. Per generator this compares

* ``rules only``: every candidate (the screen off);
* ``shipped``: the committed table (trained on the tuning generator only);
* ``trained on the others``: a table trained, with the same script and settings, on the
  candidates of every *other* generator: leave-one-generator-out for the learned stage.
  This is an analysis, not what the device runs: it shows whether more varied training data
  would carry over to a generator the screen has not seen.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import firmware, screen
from .scoring import Score, drop_ignored, match, merge_channels, score_contexts


def candidates(rec: Any, cands: list[dict[str, Any]]) -> dict[str, Any]:
    """What a recording contributes to the fold analysis (JSON-able)."""
    kinds = firmware.core("records")
    names = {kinds.KIND_SPASM: "spasm", kinds.KIND_CLONUS: "clonus", kinds.KIND_SPASM_WITH_CLONUS: "spasm_with_clonus"}
    kf = screen.features().index("kind")
    cs = [{"onset_s": c["onset_s"], "offset_s": c["offset_s"], "channel": c["channel"],
           "kind": names.get(c["features"][kf], "spasm"), "features": c["features"]} for c in cands]
    kept = drop_ignored(cs, rec.ignore)
    true = {j for _, j in match(rec.labels, kept)}
    idx = {id(c): k for k, c in enumerate(cs)}
    y = [0] * len(cs)
    for j in true:
        y[idx[id(kept[j])]] = 1
    return {"labels": rec.labels, "contexts": rec.contexts, "ignore": rec.ignore, "cands": cs, "y": y}


def _score(r: dict[str, Any], keep: np.ndarray) -> Score:
    dets = [c for c, k in zip(r["cands"], keep) if k]
    dets = drop_ignored(merge_channels(dets), r["ignore"])
    s = Score()
    for v in score_contexts(r["labels"], dets, r["contexts"]).values():
        s.add(v)
    return s


def _xy(rs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(screen.features())
    X = np.array([c["features"] for r in rs for c in r["cands"]], dtype=np.int64).reshape(-1, n)
    y = np.array([v for r in rs for v in r["y"]], dtype=np.int64)
    return X, y


def folds(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per generator: Scores of rules only, the shipped screen, and a screen trained on the
    other generators' candidates."""
    shipped = tuple(firmware.core("screen_table").NODES)
    gens = list(dict.fromkeys(r["generator"] for r in results))
    out: dict[str, dict[str, Any]] = {}
    for g in gens:
        mine = [r["screen"] for r in results if r["generator"] == g]
        others = [r["screen"] for r in results if r["generator"] != g]
        Xo, yo = _xy(others)
        fold = None
        if len(set(yo.tolist())) == 2:
            groups = [screen.group_of(r["name"]) for r in results if r["generator"] != g
                      for _ in r["screen"]["y"]]
            chosen, _ = screen.select(Xo, yo, groups)
            fold = screen.export(screen.fit(Xo, yo, chosen))
        row: dict[str, Any] = {"rules only": Score(), "shipped": Score()}
        if fold is not None:
            row["trained on the others"] = Score()
        for r in mine:
            X, _ = _xy([r])
            row["rules only"].add(_score(r, np.ones(len(X), dtype=np.int64)))
            row["shipped"].add(_score(r, screen.twin(shipped, X) if len(X) else np.zeros(0)))
            if fold is not None:
                row["trained on the others"].add(_score(r, screen.twin(fold, X) if len(X) else np.zeros(0)))
        row["others"] = [x for x in gens if x != g]
        row["fold_nodes"] = len(fold) // 3 if fold is not None else 0
        out[g] = row
    return out
