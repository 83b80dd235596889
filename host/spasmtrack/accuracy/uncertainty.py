"""How much the accuracy figures would move with other recordings: percentile bootstrap
over recordings.

A generator's recordings (days, windows, corpus recordings) are the independent units:
events within one recording share its patient, its noise and its context, so resampling
events would understate the spread. Each bootstrap draw takes as many recordings as there
are, with replacement, and recomputes the pooled figure from the summed counts. The 95 %
interval is the 2.5th to 97.5th percentile of 2000 draws (seeded: the same input gives the
same interval). Few recordings give a coarse interval; one recording gives none.

False events per hour are counts: their interval is the exact Poisson (Garwood) interval of
the pooled count over the pooled hours, widened to the bootstrap interval where that is
wider (false events cluster by day and context, more than Poisson). Zero false events in
0.4 h is then 0 to 9.2 per hour, not "0 exactly".
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .scoring import Score

N_DRAWS = 2000
SEED = 20261205


def _draws(n: int) -> np.ndarray:
    return np.random.default_rng(SEED).integers(0, n, size=(N_DRAWS, n))


def f1_interval(per_recording: Sequence[Score]) -> tuple[float, float] | None:
    """95 % bootstrap interval of the pooled event F1 (None with fewer than 2 recordings
    or no labels and no detections at all)."""
    if len(per_recording) < 2:
        return None
    c = np.array([(s.tp, s.fp, s.fn) for s in per_recording], dtype=np.float64)
    tot = c[_draws(len(c))].sum(axis=1)              # (draws, 3)
    den = 2 * tot[:, 0] + tot[:, 1] + tot[:, 2]
    if not np.any(den > 0):
        return None
    f1 = np.where(den > 0, 2 * tot[:, 0] / np.where(den > 0, den, 1.0), 1.0)
    lo, hi = np.percentile(f1, [2.5, 97.5])
    return float(lo), float(hi)


def poisson_interval(count: int, hours: float) -> tuple[float, float]:
    """Exact (Garwood) 95 % interval of a rate per hour from ``count`` events in ``hours``."""
    from scipy.stats import chi2

    lo = 0.0 if count == 0 else float(chi2.ppf(0.025, 2 * count)) / 2.0
    hi = float(chi2.ppf(0.975, 2 * count + 2)) / 2.0
    return lo / hours, hi / hours


def rate_interval(per_recording: Sequence[Score]) -> tuple[float, float] | None:
    """95 % interval of the pooled false events per hour (None when no time was spent in
    the context): Poisson exact, widened to the bootstrap over recordings."""
    c = np.array([(s.fp, s.hours) for s in per_recording if s.hours > 0], dtype=np.float64)
    if len(c) == 0:
        return None
    lo, hi = poisson_interval(int(c[:, 0].sum()), float(c[:, 1].sum()))
    if len(c) >= 2:
        tot = c[_draws(len(c))].sum(axis=1)
        b_lo, b_hi = np.percentile(tot[:, 0] / tot[:, 1], [2.5, 97.5])
        lo, hi = min(lo, float(b_lo)), max(hi, float(b_hi))
    return lo, hi
