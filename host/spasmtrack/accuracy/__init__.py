"""Accuracy benchmark (``make accuracy``): the firmware detector vs labels and vs peers.

``python -m spasmtrack.accuracy [--seed N] [--scale F] [--classes a,b] [--no-peers]``
generates the seeded corpus (:mod:`spasmtrack.synth.corpus`), replays every recording through
the real firmware on MicroPython, runs the peer detectors on the same signal, scores all
of them with one-to-one event matching (:mod:`.scoring`), prints a table per recording
class and overall and one per activity context of the firmware detector (rest, walking,
wheelchair, vehicle, tapping: :func:`.scoring.score_by_context`), and writes
``build/accuracy.json``.
"""
from __future__ import annotations

from .scoring import Score, match, score, score_by_context

__all__ = ["Score", "match", "score", "score_by_context"]
