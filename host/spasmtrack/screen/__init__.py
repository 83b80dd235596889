"""The learned screen's host side: training data, training, the exported table, the twin.

The firmware's rule-based detector proposes candidate episodes; its learned screen
(``firmware/core/screen.py``) keeps or drops each with a small integer decision tree
(``firmware/core/screen_table.py``). This package makes that table, from the tuning
generator only (the corpus, ``spasmtrack.synth.corpus``; never the held-out generators):

1. ``spasmtrack.accuracy.screendata``: replay every corpus recording through the firmware on the unix port with
   the screen off and the trace on, so that every candidate's integer features come out;
   a candidate is a true episode (1) when it matches a label one to one (overlap and
   |onset error| <= 0.5 s, the accuracy benchmark's rule), else 0. Written to
   ``data/screen/training.csv`` (in the repository: the training data).
2. ``train``: a scikit-learn ``DecisionTreeClassifier`` whose depth, leaf size and
   episode weight are chosen on the training data alone (``select``: each class of corpus
   recordings held out in turn; the simplest setting within ``TOLERANCE`` of the best
   out-of-class F1, so the screen learns only what holds across activities; holding out
   single recordings instead let it learn one class's quirks, and that tree lost half the
   episodes of both held-out generators: docs/detector.md), thresholds made integer (the features are integers, so
   ``x <= t`` equals ``x <= floor(t)``), written as ``screen_table.py``.
3. ``twin``: the host twin of the firmware's viper walker, vectorised with numpy; the tests
   check the walker on the unix port, the twin and scikit-learn's own ``predict`` agree on
   every training row.

``python -m spasmtrack.accuracy.screendata collect|train|all`` (``make screen``).
"""
from __future__ import annotations

import csv
import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import REPO_ROOT, firmware

DATA = REPO_ROOT / "data" / "screen" / "training.csv"
TABLE = firmware.CORE_DIR / "screen_table.py"
LEAF = 255


def features() -> tuple[str, ...]:
    """The firmware's feature names, in table order (``screen.FEATURES``)."""
    return tuple(firmware.core("screen").FEATURES)


def load(path: Path = DATA) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """(X int64 [n, features], y int [n], the rows) from the training CSV."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = features()
    missing = [n for n in names if rows and n not in rows[0]]
    if missing:
        raise ValueError(f"{path}: no column for feature(s) {', '.join(missing)}; run `make screen` again")
    X = np.array([[int(r[n]) for n in names] for r in rows], dtype=np.int64).reshape(len(rows), len(names))
    y = np.array([int(r["episode"]) for r in rows], dtype=np.int64)
    return X, y, rows


# ------------------------------------------------------------------------------- train
def export(tree: Any) -> list[int]:
    """A fitted sklearn tree as the firmware's pre-order integer table (screen.py)."""
    t = tree.tree_
    out: list[list[int]] = []

    pos = list(tree.classes_).index(1) if 1 in tree.classes_ else -1

    def decided(node: int) -> int | None:
        """The one leaf value of the subtree at node, or None when its leaves differ."""
        if t.children_left[node] == -1:
            return int(pos >= 0 and int(np.argmax(t.value[node][0])) == pos)
        a, b = decided(int(t.children_left[node])), decided(int(t.children_right[node]))
        return a if a is not None and a == b else None

    def visit(node: int) -> int:
        idx = len(out)
        keep = decided(node)
        if keep is not None:          # a leaf, or a split whose leaves all agree
            out.append([LEAF, keep, 0])
            return idx
        thr = int(np.floor(t.threshold[node]))
        if thr < 0:
            raise ValueError(f"negative threshold {t.threshold[node]} at node {node}: features must be >= 0")
        out.append([int(t.feature[node]), thr, 0])
        visit(int(t.children_left[node]))
        out[idx][2] = visit(int(t.children_right[node]))
        return idx

    visit(0)
    return [v for node in out for v in node]


def twin(nodes: Sequence[int], X: np.ndarray) -> np.ndarray:
    """The firmware walker (screen.walk) on the host: the leaf value for each row of X."""
    t = np.asarray(nodes, dtype=np.int64).reshape(-1, 3)
    idx = np.zeros(len(X), dtype=np.int64)
    rows = np.arange(len(X))
    for _ in range(len(t)):
        f = t[idx, 0]
        leaf = f == LEAF
        if leaf.all():
            break
        fi = np.where(leaf, 0, f)
        go_left = X[rows, fi] <= t[idx, 1]
        idx = np.where(leaf, idx, np.where(go_left, idx + 1, t[idx, 2]))
    return t[idx, 1]


@dataclass(frozen=True)
class Settings:
    """The tree's size and how much a true episode weighs against a false one."""
    max_depth: int
    min_leaf: int
    pos_weight: float

    def complexity(self) -> tuple[float, ...]:
        """Simpler first: shallower, larger leaves, episodes weighted more (keeps more)."""
        return (self.max_depth, -self.min_leaf, -self.pos_weight)


GRID = tuple(Settings(d, m, w) for d in (2, 3, 4, 5) for m in (5, 10, 20) for w in (1.0, 3.0, 10.0))
#: a simpler setting is chosen when its out-of-class F1 is within this of the best
TOLERANCE = 0.005


def group_of(recording: str) -> str:
    """A recording's class (``walking_2`` -> ``walking``; other names stay whole)."""
    head, _, tail = recording.rpartition("_")
    return head if head and tail.isdigit() else recording


def fit(X: np.ndarray, y: np.ndarray, s: Settings) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    clf = DecisionTreeClassifier(max_depth=s.max_depth, min_samples_leaf=s.min_leaf,
                                 class_weight={0: 1.0, 1: s.pos_weight}, random_state=0)
    return clf.fit(X, y)


def _f1(y: np.ndarray, keep: np.ndarray) -> float:
    tp = int(((keep == 1) & (y == 1)).sum())
    fp = int(((keep == 1) & (y == 0)).sum())
    fn = int(((keep == 0) & (y == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def select(X: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> tuple[Settings, list[dict[str, Any]]]:
    """The settings, chosen on the training data alone: each group (a class of recordings) is
    held out in turn and predicted by a tree trained on the others; the pooled out-of-group
    F1 over candidates scores a setting; the simplest within TOLERANCE of the best wins."""
    g = np.asarray(groups)
    names = sorted(set(g.tolist()))
    table: list[dict[str, Any]] = []
    for s in GRID:
        keep = np.ones(len(y), dtype=np.int64)
        for name in names:
            test = g == name
            train_y = y[~test]
            if test.any() and len(set(train_y.tolist())) == 2:
                keep[test] = fit(X[~test], train_y, s).predict(X[test])
        table.append({"settings": s, "f1": _f1(y, keep)})
    best = max(r["f1"] for r in table)
    ok = [r for r in table if r["f1"] >= best - TOLERANCE]
    return min(ok, key=lambda r: r["settings"].complexity())["settings"], table


def train(path: Path = DATA, table: Path = TABLE) -> dict[str, Any]:
    """Fit the tree on the training CSV, check the twin against sklearn, write the table."""
    X, y, rows = load(path)
    if len(set(y.tolist())) < 2:
        raise ValueError(f"{path}: the training data hold only one class; nothing to learn")
    chosen, _ = select(X, y, [group_of(r["recording"]) for r in rows])
    clf = fit(X, y, chosen)
    nodes = export(clf)
    pred = twin(nodes, X)
    sk = clf.predict(X)
    if not np.array_equal(pred, sk):
        raise AssertionError(f"host twin and scikit-learn disagree on {int((pred != sk).sum())} of {len(X)} rows")
    gens = sorted({r["generator"] for r in rows})
    stats = {"rows": len(X), "episodes": int(y.sum()), "not_episodes": int((y == 0).sum()),
             "kept_episodes": int(((pred == 1) & (y == 1)).sum()),
             "dropped_not_episodes": int(((pred == 0) & (y == 0)).sum()), "nodes": len(nodes) // 3,
             "trained_on": ", ".join(gens)}
    names = features()
    lines = [
        '"""Generated by ``make screen`` (``python -m spasmtrack.accuracy.screendata all``): do not edit.',
        "",
        "The learned screen's decision tree (see screen.py): scikit-learn DecisionTreeClassifier,",
        f"max_depth {chosen.max_depth}, min_samples_leaf {chosen.min_leaf}, episode weight {chosen.pos_weight:g}",
        "(chosen by leave-one-class-out on the training data, spasmtrack.screen.select); trained on",
        f"{stats['rows']} candidates of the {stats['trained_on']} generator ({stats['episodes']} episodes,",
        f"{stats['not_episodes']} not) from {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path};",
        f"on them it keeps {stats['kept_episodes']} episodes and drops {stats['dropped_not_episodes']} non-episodes.",
        '"""',
        f"TRAINED_ON = {stats['trained_on']!r}",
        "FEATURES = (",
        *[f"    {n!r}," for n in names],
        ")",
        "# pre-order nodes: (feature, threshold, right child) or (255, keep, 0) for a leaf",
        "NODES = (",
    ]
    for i in range(0, len(nodes), 3):
        f, v, r = nodes[i:i + 3]
        note = f"leaf: {'keep' if v else 'drop'}" if f == LEAF else f"{names[f]} <= {v} ? {i // 3 + 1} : {r}"
        lines.append(f"    {f}, {v}, {r},  # {i // 3}: {note}")
    lines.append(")")
    table.write_text("\n".join(lines) + "\n")
    stats["written"] = str(table)
    stats["when"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return stats
