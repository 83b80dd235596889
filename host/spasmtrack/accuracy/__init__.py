"""Accuracy benchmark (``make accuracy``): leave-one-generator-out scoring of the detector.

``python -m spasmtrack.accuracy [--generators corpus,patient,dailylife] [--seed N]
[--scale F] [--classes a,b] [--limit N] [--no-peers]`` builds the recordings of three
independently written generators (:mod:`.generators`: the corpus the detector is tuned
on, the demo's simulated patient, and the daily-life motor-unit generator
:mod:`spasmtrack.synth.dailylife`), replays each through the real firmware on the
MicroPython unix port (the path ``spasmtrack replay`` uses), runs the peer detectors on
the same signal, and scores all of them with one-to-one event matching (overlap and
|onset error| <= 0.5 s, :mod:`.scoring`) per generator and per context
(the corpus: rest, walking, wheelchair, vehicle, tapping; the patient: rest, sleep, transfer;
the daily-life days: their scripted contexts). It prints the
table and writes ``build/accuracy.json`` with ``f1_min_unseen`` (the lowest F1 over the
generators not tuned on), ``fp_per_h_walking``, ``fp_per_h_vehicle`` and
``fp_per_h_rest`` (rest and sleep), pooled over the unseen generators. See
docs/accuracy.md.
"""
from __future__ import annotations

from .scoring import Score, match, score, score_by_context, score_contexts

__all__ = ["Score", "match", "score", "score_by_context", "score_contexts"]
