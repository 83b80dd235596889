"""Surface EMG synthesis from motor-unit action-potential (MUAP) trains.

This is deliberately a different generator from the accuracy corpus
(:mod:`spasmtrack.synth.corpus`), so the detector is judged on a texture it was not tuned on:

- a pool of motor units per channel with recruitment thresholds (many small, few large:
  exponential distribution) and amplitudes following the size principle (range 30x);
- tonic activity: each recruited unit fires with gamma-distributed inter-spike intervals
  (CV 0.2) at a rate rising from 8 to 16 Hz with the drive above its threshold
  (DOMAIN.md: motor units fire 8-16 Hz in spasms);
- clonic activity: reflex bursts at the clonus frequency; a unit joins a burst when the
  burst's strength exceeds its threshold, with a few ms of jitter and a fixed per-unit
  conduction delay;
- the volume conductor: each unit's MUAP is a Hermite-Rodriguez wave (first or second
  order, as seen by a bipolar electrode pair) whose width grows and amplitude falls with
  the unit's depth, then a first-order tissue low-pass (deeper = lower corner).

Amplitudes are then scaled so the event's largest 100 ms average rectified value (ARV)
equals the truth's ``peak_uV``. Units: µV, sampling rate ``fs`` (Hz) always explicit.
"""
from __future__ import annotations

import math

import numpy as np

N_CLASSES = 8          # depth classes sharing one MUAP shape


def _kernel(width_ms: float, order: int, lp_hz: float, fs: float) -> np.ndarray:
    t = np.arange(-4 * width_ms, 4 * width_ms + 1e-9, 1000.0 / fs) / width_ms
    w = t * np.exp(-t * t) if order == 1 else (2 * t * t - 1) * np.exp(-t * t)
    a = math.exp(-2 * math.pi * lp_hz / fs)
    ir = (1 - a) * a ** np.arange(int(5 * fs / (2 * math.pi * lp_hz)) + 2)
    k = np.convolve(w, ir)
    return k / np.max(np.abs(k))


class MotorUnitPool:
    """The motor units under one electrode pair (fixed for a patient and channel)."""

    def __init__(self, rng: np.random.Generator, fs: float, n_units: int = 80, fat_mm: float = 4.0):
        self.fs = float(fs)
        self.n = n_units
        thr = np.sort(rng.exponential(0.2, n_units))
        self.thr = np.clip(thr / max(thr.max(), 1e-9) * 0.8, 0.01, 0.8)       # drive units 0..1
        size = np.exp(np.log(30.0) * np.argsort(np.argsort(self.thr)) / max(n_units - 1, 1))
        depth = rng.uniform(0.0, 1.0, n_units)                                  # 0 superficial
        self.cls = np.minimum((depth * N_CLASSES).astype(int), N_CLASSES - 1)
        self.amp = size * np.exp(-1.5 * depth) * rng.uniform(0.7, 1.3, n_units) * np.where(
            rng.random(n_units) < 0.5, 1.0, -1.0)
        self.delay = rng.uniform(0.0, 0.006, n_units)                           # s
        self.kernels = []
        for c in range(N_CLASSES):
            d = (c + 0.5) / N_CLASSES
            self.kernels.append(_kernel(width_ms=0.9 + 1.6 * d + 0.1 * fat_mm, order=1 + (c % 2),
                                        lp_hz=420.0 - 250.0 * d, fs=self.fs))

    def _render_spikes(self, n: int, idx: np.ndarray, unit: np.ndarray) -> np.ndarray:
        out = np.zeros(n)
        ok = (idx >= 0) & (idx < n)
        idx, unit = idx[ok], unit[ok]
        for c in range(N_CLASSES):
            m = self.cls[unit] == c
            if not m.any():
                continue
            imp = np.bincount(idx[m], weights=self.amp[unit[m]], minlength=n)
            k = self.kernels[c]
            out += np.convolve(imp, k)[len(k) // 2: len(k) // 2 + n]
        return out

    def tonic(self, drive: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """EMG (arbitrary scale) of tonic firing for a drive profile (0..1 per sample)."""
        n = len(drive)
        fs = self.fs
        idx_all, unit_all = [], []
        cv = 0.2
        for i in np.nonzero(self.thr < drive.max())[0]:
            over = drive - self.thr[i]
            rate = np.where(over > 0, 8.0 + 8.0 * np.minimum(over / 0.4, 1.0), 0.0)
            lam = np.cumsum(rate) / fs                     # expected spikes so far
            k = int(lam[-1] * 1.3) + 3
            targets = rng.uniform(0, 1) + np.cumsum(rng.gamma(1 / cv**2, cv**2, k))
            targets = targets[targets < lam[-1]]
            idx = np.searchsorted(lam, targets)
            idx_all.append(idx + int(self.delay[i] * fs))
            unit_all.append(np.full(len(idx), i))
        if not idx_all:
            return np.zeros(n)
        return self._render_spikes(n, np.concatenate(idx_all), np.concatenate(unit_all))

    def clonic(self, burst_t: np.ndarray, burst_amp: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """EMG of reflex bursts at ``burst_t`` (s from the segment start) with strengths 0..1."""
        fs = self.fs
        b_idx, u_idx = np.nonzero(burst_amp[:, None] * rng.uniform(0.85, 1.15, (len(burst_t), self.n))
                                  > self.thr[None, :])
        t = burst_t[b_idx] + self.delay[u_idx] + rng.normal(0, 0.004, len(b_idx))
        # strong bursts make some units fire a doublet
        dbl = burst_amp[b_idx] > self.thr[u_idx] + 0.3
        t2 = t[dbl] + rng.uniform(0.008, 0.015, int(dbl.sum()))
        idx = np.round(np.concatenate([t, t2]) * fs).astype(int)
        unit = np.concatenate([u_idx, u_idx[dbl]])
        return self._render_spikes(n, idx, unit)


def arv_100ms_max(x: np.ndarray, fs: float) -> float:
    """Largest 100 ms average rectified value of ``x`` (same unit as ``x``)."""
    w = max(1, int(round(0.1 * fs)))
    if len(x) < w:
        return float(np.mean(np.abs(x))) if len(x) else 0.0
    c = np.concatenate([[0.0], np.cumsum(np.abs(x))])
    return float(np.max(c[w:] - c[:-w]) / w)


def tonic_drive(dur_s: float, fs: float, rise_s: float, fall_s: float, level: float,
                rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Spasm drive (0..1 per sample at ``fs``): raised-cosine rise, fluctuating plateau,
    raised-cosine fall. The drive is at 10 % of its peak ``dur_s`` apart (the labeled
    onset and offset); returns (drive, samples before the onset)."""
    pre, post = 0.205 * rise_s, 0.205 * fall_s        # raised cosine passes 10 % at 0.205
    total_s = pre + dur_s + post
    n = max(2, int(round(total_s * fs)))
    t = np.arange(n) / fs
    up = np.clip(t / rise_s, 0, 1)
    down = np.clip((total_s - t) / fall_s, 0, 1)
    shape = np.minimum(0.5 - 0.5 * np.cos(np.pi * up), 0.5 - 0.5 * np.cos(np.pi * down))
    m = max(2, int(total_s * 2) + 2)
    wob = np.interp(t, np.linspace(0, t[-1], m), 1 + 0.1 * np.clip(rng.standard_normal(m), -2, 2))
    wob[: int(rise_s * fs)] = np.minimum(wob[: int(rise_s * fs)], 1.0)
    return np.clip(level * shape * wob, 0, 1), int(round(pre * fs))
