"""Event-level scoring: one-to-one matching of detections to labels.

A detection and a label may match when their intervals overlap and their onsets differ by
at most ``tol_s`` (0.5 s). Pairs are taken greedily by increasing onset error, each
detection and each label at most once (for these sparse events greedy equals the optimal
assignment in practice, and it is deterministic). Detections inside a labelled lost span
are false positives like any other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Any, Sequence

CLONIC = {"clonus", "spasm_with_clonus"}


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    hours: float = 0.0
    onset_err_s: list[float] = field(default_factory=list)      # signed (detected - label)
    clonus_ok: int = 0                                           # matched with same clonic/non-clonic class
    kind_ok: int = 0                                             # matched with the exact kind
    clonus_hz_err: list[float] = field(default_factory=list)    # |detected - label| on clonic matches

    def add(self, other: "Score") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.hours += other.hours
        self.onset_err_s += other.onset_err_s
        self.clonus_ok += other.clonus_ok
        self.kind_ok += other.kind_ok
        self.clonus_hz_err += other.clonus_hz_err

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_onset_ms(self) -> float | None:
        return 1000.0 * median(abs(e) for e in self.onset_err_s) if self.onset_err_s else None

    @property
    def clonus_accuracy(self) -> float | None:
        return self.clonus_ok / self.tp if self.tp else None

    @property
    def kind_accuracy(self) -> float | None:
        return self.kind_ok / self.tp if self.tp else None

    @property
    def clonus_hz_mae(self) -> float | None:
        return sum(self.clonus_hz_err) / len(self.clonus_hz_err) if self.clonus_hz_err else None

    @property
    def fp_per_hour(self) -> float:
        return self.fp / self.hours if self.hours else 0.0

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None, nd: int = 3) -> float | None:
            return None if x is None else round(x, nd)
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": r(self.precision),
                "recall": r(self.recall), "f1": r(self.f1), "median_onset_error_ms": r(self.median_onset_ms, 1),
                "clonus_accuracy": r(self.clonus_accuracy), "kind_accuracy": r(self.kind_accuracy),
                "clonus_hz_mae": r(self.clonus_hz_mae), "fp_per_hour": r(self.fp_per_hour, 2),
                "hours": r(self.hours, 3)}


def match(labels: Sequence[dict[str, Any]], dets: Sequence[dict[str, Any]], tol_s: float = 0.5
          ) -> list[tuple[int, int]]:
    """One-to-one pairs (label index, detection index): overlap and |onset error| <= tol_s."""
    cands = []
    for i, lab in enumerate(labels):
        for j, d in enumerate(dets):
            err = abs(d["onset_s"] - lab["onset_s"])
            if err <= tol_s and d["onset_s"] < lab["offset_s"] and lab["onset_s"] < d["offset_s"]:
                cands.append((err, i, j))
    cands.sort()
    used_l: set[int] = set()
    used_d: set[int] = set()
    pairs = []
    for _, i, j in cands:
        if i in used_l or j in used_d:
            continue
        used_l.add(i)
        used_d.add(j)
        pairs.append((i, j))
    return pairs


def score(labels: Sequence[dict[str, Any]], dets: Sequence[dict[str, Any]], hours: float,
          tol_s: float = 0.5) -> Score:
    """Score detections against labels. Each is a dict with onset_s, offset_s, kind and
    (optionally) clonus_hz. ``hours``: recording length for false positives per hour."""
    pairs = match(labels, dets, tol_s)
    s = Score(tp=len(pairs), fp=len(dets) - len(pairs), fn=len(labels) - len(pairs), hours=hours)
    for i, j in pairs:
        lab, d = labels[i], dets[j]
        s.onset_err_s.append(d["onset_s"] - lab["onset_s"])
        lk, dk = lab.get("kind", "spasm"), d.get("kind", "spasm")
        if (lk in CLONIC) == (dk in CLONIC):
            s.clonus_ok += 1
        if lk == dk:
            s.kind_ok += 1
        if lk in CLONIC and dk in CLONIC and lab.get("clonus_hz") and d.get("clonus_hz"):
            s.clonus_hz_err.append(abs(d["clonus_hz"] - lab["clonus_hz"]))
    return s


def merge_channels(dets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Detections on different channels that overlap in time are one episode: the union
    of their spans, with the kind and clonus rate of the longest."""
    out: list[dict[str, Any]] = []
    for d in sorted(dets, key=lambda d: d["onset_s"]):
        if out and d["onset_s"] < out[-1]["offset_s"]:
            m = out[-1]
            longest = d if d["offset_s"] - d["onset_s"] > m["_len"] else None
            m["offset_s"] = max(m["offset_s"], d["offset_s"])
            if longest is not None:
                m.update(kind=d.get("kind", "spasm"), clonus_hz=d.get("clonus_hz"), _len=d["offset_s"] - d["onset_s"])
        else:
            out.append(dict(d, _len=d["offset_s"] - d["onset_s"]))
    for m in out:
        del m["_len"]
    return out


def drop_ignored(dets: Sequence[dict[str, Any]], ignore: Sequence[tuple[float, float]]) -> list[dict[str, Any]]:
    """Detections overlapping a span that is not scored (an event the generator itself
    calls unobservable) count neither way."""
    return [d for d in dets if not any(d["onset_s"] < b and a < d["offset_s"] for a, b in ignore)]


def context_of(contexts: Sequence[tuple[float, float, str]], t_s: float) -> str:
    for a, b, c in contexts:
        if a <= t_s < b:
            return c
    return contexts[-1][2] if contexts else "all"


def score_contexts(labels: Sequence[dict[str, Any]], dets: Sequence[dict[str, Any]],
                   contexts: Sequence[tuple[float, float, str]], tol_s: float = 0.5) -> dict[str, Score]:
    """Score per context, with ONE matching over the whole recording: a label counts in
    the context at its onset (TP or FN), a false detection in the context at its onset
    (FP); hours per context are the time spent in it. ``contexts``: (start_s, end_s, name)
    covering the recording."""
    out: dict[str, Score] = {}
    for a, b, c in contexts:
        out.setdefault(c, Score()).hours += (b - a) / 3600.0
    pairs = match(labels, dets, tol_s)
    matched_l = {i for i, _ in pairs}
    matched_d = {j for _, j in pairs}
    for i, j in pairs:
        lab = labels[i]
        c = lab.get("context") or context_of(contexts, lab["onset_s"])
        out.setdefault(c, Score()).add(score([lab], [dets[j]], 0.0, tol_s))
    for i, lab in enumerate(labels):
        if i not in matched_l:
            out.setdefault(lab.get("context") or context_of(contexts, lab["onset_s"]), Score()).fn += 1
    for j, d in enumerate(dets):
        if j not in matched_d:
            out.setdefault(context_of(contexts, d["onset_s"]), Score()).fp += 1
    return out


def recall_by(labels: Sequence[dict[str, Any]], dets: Sequence[dict[str, Any]], key: str,
              tol_s: float = 0.5) -> dict[str, tuple[int, int]]:
    """(found, labelled) per value of ``labels[key]`` (e.g. the Thomas type)."""
    found = {i for i, _ in match(labels, dets, tol_s)}
    out: dict[str, tuple[int, int]] = {}
    for i, lab in enumerate(labels):
        f, n = out.get(str(lab.get(key)), (0, 0))
        out[str(lab.get(key))] = (f + (i in found), n + 1)
    return out


def score_by_context(labels: Sequence[dict[str, Any]], dets: Sequence[dict[str, Any]],
                     spans: Sequence[tuple[float, float, str]], duration_s: float,
                     tol_s: float = 0.5) -> dict[str, Score]:
    """Scores per activity context when only the activities are given as spans (the corpus:
    ``spans`` (start s, end s, context), time outside them is 'rest'): :func:`score_contexts`
    over the spans with the gaps painted 'rest'. One global one-to-one matching; each matched
    or missed label counts in its own ``context`` and each false detection in the context at
    its onset; hours per context are the time spent in it, so false events per hour are per
    hour of that context."""
    return score_contexts(labels, dets, rest_filled(spans, duration_s), tol_s)


def rest_filled(spans: Sequence[tuple[float, float, str]], duration_s: float,
                fill: str = "rest") -> list[tuple[float, float, str]]:
    """Activity spans (possibly with gaps, in any order) -> contexts covering 0..duration_s,
    the gaps named ``fill`` (the corpus generator's own rule, defined once there)."""
    from ..synth.corpus.daily import fill_contexts

    return fill_contexts(list(spans), duration_s, fill)
