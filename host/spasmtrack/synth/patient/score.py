"""Event-level scoring of detections against the simulator's truth.

Detections on different channels that overlap in time are merged into one episode first
(the device reports per channel; the truth has one event per episode, possibly on both
channels). Matching is one-to-one, greedy by onset error: a detection matches a truth
event when they overlap in time and their onsets differ by at most ``max_onset_err_s``
(0.5 s, as the accuracy benchmark). Only observable truth events (worn, leads on) count.
"""
from __future__ import annotations

from typing import Any

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Detection:
    onset_s: float
    offset_s: float
    kind: str            # spasm | clonus | spasm_with_clonus
    channels: list[int] = field(default_factory=list)
    clonus_hz: float = 0.0


@dataclass
class Score:
    n_true: int
    n_detected: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    onset_err_median_s: float
    onset_err_p90_s: float
    duration_ratio_median: float
    clonus_agreement: float        # matched events: clonic part present in both or neither
    clonus_hz_err_median: float
    fp_per_hour: float
    max_onset_err_s: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


_KIND_RANK = {"spasm": 1, "clonus": 2, "spasm_with_clonus": 3}


def merge_channels(dets: list[Detection], gap_s: float = 0.0) -> list[Detection]:
    """Merge detections (any channel) that overlap (or are closer than ``gap_s``)."""
    out: list[Detection] = []
    for d in sorted(dets, key=lambda d: d.onset_s):
        if out and d.onset_s <= out[-1].offset_s + gap_s:
            m = out[-1]
            m.offset_s = max(m.offset_s, d.offset_s)
            m.channels = sorted(set(m.channels) | set(d.channels))
            cl = {m.kind, d.kind} & {"clonus", "spasm_with_clonus"}
            if cl:
                m.kind = "spasm_with_clonus" if ("spasm" in {m.kind, d.kind} or "spasm_with_clonus" in cl) else "clonus"
                m.clonus_hz = max(m.clonus_hz, d.clonus_hz)
        else:
            out.append(Detection(d.onset_s, d.offset_s, d.kind, list(d.channels), d.clonus_hz))
    return out


def score(truth: list[Any], dets: list[Detection], hours: float, max_onset_err_s: float = 0.5) -> tuple[Score, list[Any]]:
    """Score detections (already merged) against truth events (``Event`` objects with
    onset_s, offset_s, kind, clonus_hz, observable). Returns (Score, pairs)."""
    tr = [e for e in truth if getattr(e, "observable", True)]
    cands = []
    for i, e in enumerate(tr):
        for j, d in enumerate(dets):
            if d.onset_s < e.offset_s and d.offset_s > e.onset_s:
                err = d.onset_s - e.onset_s
                if abs(err) <= max_onset_err_s:
                    cands.append((abs(err), i, j))
    cands.sort()
    ti, dj, pairs = set(), set(), []
    for _, i, j in cands:
        if i in ti or j in dj:
            continue
        ti.add(i)
        dj.add(j)
        pairs.append((tr[i], dets[j]))
    tp = len(pairs)
    fp = len(dets) - tp
    fn = len(tr) - tp
    prec = tp / len(dets) if dets else 0.0
    rec = tp / len(tr) if tr else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    errs = np.array([d.onset_s - e.onset_s for e, d in pairs]) if pairs else np.zeros(0)
    durr = np.array([(d.offset_s - d.onset_s) / max(e.offset_s - e.onset_s, 1e-6) for e, d in pairs]) if pairs else np.zeros(0)
    agree = [(e.kind != "spasm") == (d.kind != "spasm") for e, d in pairs]
    hz = [abs(d.clonus_hz - e.clonus_hz) for e, d in pairs if e.kind != "spasm" and d.kind != "spasm" and d.clonus_hz]
    nan = float("nan")
    s = Score(len(tr), len(dets), tp, fp, fn, prec, rec, f1,
              float(np.median(np.abs(errs))) if len(errs) else nan,
              float(np.percentile(np.abs(errs), 90)) if len(errs) else nan,
              float(np.median(durr)) if len(durr) else nan,
              float(np.mean(agree)) if agree else nan,
              float(np.median(hz)) if hz else nan,
              fp / hours if hours > 0 else nan, max_onset_err_s)
    return s, pairs
