"""Peer detectors run side by side with the firmware on the same corpus.

Each peer sees the recording as the device's ADC would (clipped at the board's full
scale) and its activations become events with the SAME rules as the firmware: intervals
closer than the merge gap are merged, shorter than the minimum duration dropped. Peers do
not classify clonus: every event is a ``spasm``.

- NeuroKit2 ``emg_activation`` (``threshold``, its default, and ``mixture``) on
  ``emg_amplitude(emg_clean(x))``. The amplitude (already a smoothed envelope) is averaged
  over 10-sample blocks to 100 Hz before ``emg_activation``, whose per-sample pandas loop
  otherwise needs about a minute per 15 minutes of 1 kHz signal; onsets keep 10 ms resolution.
- BioSPPy ``signals.emg.emg`` (its band-pass filter and ``find_onsets``, default threshold
  1.2 * mean + 2 * SD of the smoothed rectified signal); the crossings it returns are paired
  into on/off intervals using the same smoothed signal.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

PEERS = ("neurokit2_threshold", "neurokit2_mixture", "biosppy_onsets")


def intervals_to_events(iv: list[tuple[float, float]], min_duration_s: float, merge_gap_s: float
                        ) -> list[dict[str, Any]]:
    """Merge (onset_s, offset_s) intervals closer than merge_gap_s; drop shorter than min."""
    out: list[list[float]] = []
    for a, b in sorted(iv):
        if out and a - out[-1][1] < merge_gap_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [{"onset_s": round(a, 3), "offset_s": round(b, 3), "kind": "spasm", "clonus_hz": None}
            for a, b in out if b - a >= min_duration_s]


def _mask_intervals(mask: np.ndarray, fs: float) -> list[tuple[float, float]]:
    m = np.concatenate(([False], mask.astype(bool), [False]))
    d = np.diff(m.astype(np.int8))
    on = np.flatnonzero(d == 1)
    off = np.flatnonzero(d == -1)
    return [(a / fs, b / fs) for a, b in zip(on, off)]


def neurokit2_peer(method: str) -> Callable[[np.ndarray, float], list[tuple[float, float]]]:
    def run(x: np.ndarray, fs: float) -> list[tuple[float, float]]:
        import neurokit2 as nk

        cleaned = nk.emg_clean(x, sampling_rate=int(fs))
        amp = np.asarray(nk.emg_amplitude(cleaned))
        k = int(fs // 100)
        a = amp[: len(amp) // k * k].reshape(-1, k).mean(axis=1)
        _, info = nk.emg_activation(emg_amplitude=a, sampling_rate=int(fs // k), method=method)
        on = np.asarray(info["EMG_Onsets"], dtype=float)
        off = np.asarray(info["EMG_Offsets"], dtype=float)
        n = min(len(on), len(off))
        return [(on[i] * k / fs, off[i] * k / fs) for i in range(n) if off[i] > on[i]]
    return run


def biosppy_peer(x: np.ndarray, fs: float) -> list[tuple[float, float]]:
    from biosppy.signals import emg as bemg
    from biosppy.signals import tools as st

    out = bemg.emg(signal=x, sampling_rate=float(fs), show=False)
    filtered = np.asarray(out["filtered"])
    onsets = np.asarray(out["onsets"], dtype=np.int64)
    # the same smoothing find_onsets uses, to tell rising from falling crossings
    mvgav, _ = st.smoother(signal=np.abs(filtered), kernel="boxzen", size=int(fs * 0.05), mirror=True)
    thr = 1.2 * np.mean(np.abs(mvgav)) + 2.0 * np.std(np.abs(mvgav), ddof=1)
    iv = []
    start = None
    for i in onsets:
        above_after = mvgav[min(i + 1, len(mvgav) - 1)] > thr
        if start is None and above_after:
            start = i
        elif start is not None and not above_after:
            iv.append((start / fs, i / fs))
            start = None
    if start is not None:
        iv.append((start / fs, len(x) / fs))
    return iv


def run_peers(x: np.ndarray, fs: float, min_duration_s: float, merge_gap_s: float
              ) -> dict[str, list[dict[str, Any]]]:
    fns = {"neurokit2_threshold": neurokit2_peer("threshold"),
           "neurokit2_mixture": neurokit2_peer("mixture"),
           "biosppy_onsets": biosppy_peer}
    return {name: intervals_to_events(fn(x, fs), min_duration_s, merge_gap_s) for name, fn in fns.items()}
