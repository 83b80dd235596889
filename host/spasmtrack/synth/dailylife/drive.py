"""Excitation of the motor-unit pool over a scripted day (0..1 of maximal, at the EMG rate).

Three layers add up: the patient's background tone, purposeful activity of each context
(gait bursts at every stride, wheelchair pushes, tapping at the desk, weight bearing in
transfers, rolling in bed, a stretch reflex during passive stretches), and the
involuntary episodes. Reflex volleys (clonic beats, myoclonic jerks) are returned as
times and sizes for :meth:`MotorUnitPool.volley`.

Label rule (what the labels in :mod:`.day` say): a tonic, unit, myoclonic or mixed
episode begins where its own excitation first exceeds 10 % of its peak and ends where
it last does; a clonic part ends 0.1 s after its last beat; a clonus episode begins at
its first beat.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .script import DayScript, Episode, Segment

LABEL_FRACTION = 0.10


@dataclass
class EpisodeDrive:
    """An episode's own excitation (``start`` index, values) and reflex volleys."""
    start: int
    excitation: np.ndarray
    volley_idx: np.ndarray
    volley_size: np.ndarray
    onset_s: float
    offset_s: float
    clonus_hz: float | None


def _hann(n: int) -> np.ndarray:
    return np.hanning(max(n, 3))


def _rise_fall(n: int, rise: int, fall: int) -> np.ndarray:
    env = np.ones(n)
    rise, fall = min(rise, n // 2), min(fall, n // 2)
    if rise:
        env[:rise] = 0.5 - 0.5 * np.cos(np.pi * np.arange(rise) / rise)
    if fall:
        env[n - fall:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, fall + 1) / fall)
    return env


def tonic_envelope(ep: Episode, n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Excitation of a tonic-like episode (peak = ep.peak), n samples."""
    t = np.arange(n) / fs
    if ep.shape == "jerk_decay":
        rise = int(0.03 * fs)
        tau = ep.duration_s / np.log(1.0 / (LABEL_FRACTION * 0.8))
        env = np.exp(-np.maximum(t - rise / fs, 0.0) / tau)
        env[:rise] = np.linspace(0.0, 1.0, rise, endpoint=False)
    elif ep.shape == "crescendo":
        build = 0.75 * n
        env = np.clip(t * fs / build, 0.0, 1.0) ** 1.5 * _rise_fall(n, 0, int(rng.uniform(0.2, 0.5) * fs))
    elif ep.shape == "waxing_waning":
        f = rng.uniform(0.3, 1.2)
        env = _rise_fall(n, int(rng.uniform(0.1, 0.4) * fs), int(rng.uniform(0.2, 0.8) * fs)) \
            * (0.65 + 0.35 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)))
    else:   # plateau
        env = _rise_fall(n, int(rng.uniform(0.05, 0.5) * fs), int(rng.uniform(0.2, 1.0) * fs)) \
            * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t))
    return ep.peak * env / max(env.max(), 1e-9)


def clonic_beats(ep: Episode, t0: float, t1: float, fs: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) from t0 to t1 with the rate drifting from clonus_hz[0] to [1], and
    beat sizes going exponentially from ep.peak to ep.peak * ep.amp_trend (decaying or
    waxing) over the bout."""
    f0, f1 = ep.clonus_hz
    times, sizes = [], []
    t = t0
    while t < t1:
        frac = (t - t0) / max(t1 - t0, 1e-9)
        times.append(t)
        sizes.append(min(1.0, ep.peak * ep.amp_trend ** frac))
        f = f0 + (f1 - f0) * frac
        t += (1.0 / f) * (1.0 + rng.normal(0.0, 0.03))
    return np.asarray(times), np.asarray(sizes)


def episode_drive(ep: Episode, fs: int, rng: np.random.Generator) -> EpisodeDrive:
    start = int(round(ep.t0_s * fs))
    n = int(round(ep.duration_s * fs))
    exc = np.zeros(n + int(0.2 * fs))
    v_idx = np.zeros(0, dtype=np.int64)
    v_size = np.zeros(0)
    clonus_hz = None
    if ep.thomas_type in ("clonus", "mixed"):
        tc = ep.tonic_s if ep.thomas_type == "mixed" else 0.0
        if tc:
            m = int(tc * fs)
            exc[:m] = tonic_envelope(Episode("tonic", ep.t0_s, tc, ep.peak, "plateau"), m, fs, rng)
            # the tonic part hands over to the beats without a gap
            exc[m - int(0.2 * fs):m] = np.maximum(exc[m - int(0.2 * fs):m], 0.5 * ep.peak)
        times, sizes = clonic_beats(ep, tc, ep.duration_s, fs, rng)
        v_idx = np.round(times * fs).astype(np.int64)
        v_size = sizes
        # each beat: the volley plus a 30-70 ms burst of asynchronous firing
        w = int(rng.uniform(0.03, 0.07) * fs)
        for k, s in zip(v_idx, sizes):
            seg = exc[k:k + w]
            exc[k:k + w] = np.maximum(seg, 0.6 * s * _hann(w)[: seg.size])
        if len(times) > 1:
            clonus_hz = float((len(times) - 1) / (times[-1] - times[0]))
        last = times[-1] + 0.1 if len(times) else ep.duration_s
        first = 0.0 if tc else times[0]
        onset = ep.t0_s + (_first_above(exc, ep.peak) / fs if tc else first)
        offset = ep.t0_s + last
    else:
        exc[:n] = tonic_envelope(ep, n, fs, rng)
        if ep.thomas_type == "myoclonus":
            v_idx = np.array([0], dtype=np.int64)
            v_size = np.array([ep.peak])
        onset = ep.t0_s + _first_above(exc, ep.peak) / fs
        offset = ep.t0_s + _last_above(exc, ep.peak) / fs
    return EpisodeDrive(start, exc, v_idx + start, v_size, round(onset, 3), round(offset, 3), clonus_hz)


def _first_above(x: np.ndarray, peak: float) -> int:
    return int(np.argmax(x > LABEL_FRACTION * peak))


def _last_above(x: np.ndarray, peak: float) -> int:
    return int(len(x) - 1 - np.argmax(x[::-1] > LABEL_FRACTION * peak))


def activity_drive(seg: Segment, script: DayScript, fs: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Purposeful excitation of one segment (n samples) and the voluntary bursts placed
    (start_s, end_s) for the record."""
    a, b = int(seg.start_s * fs), int(seg.end_s * fs)
    n = b - a
    x = np.zeros(n)
    bursts: list[tuple[float, float]] = []
    arm = script.patient.muscle == "biceps brachii"

    def burst(t: float, dur: float, peak: float) -> None:
        i, m = int(t * fs), max(3, int(dur * fs))
        if 0 <= i and i + m <= n:
            x[i:i + m] = np.maximum(x[i:i + m], peak * _hann(m))
            bursts.append((seg.start_s + t, seg.start_s + t + dur))

    dur_s = n / fs
    c = seg.context
    if c == "walking" and not arm:
        t = float(rng.uniform(0.0, 0.5))
        while t < dur_s - 1.0:
            burst(t, seg.params["burst_s"] * rng.uniform(0.85, 1.15), seg.params["burst_peak"] * rng.uniform(0.8, 1.2))
            t += (1.0 / seg.params["stride_hz"]) * (1.0 + rng.normal(0.0, 0.03))
    elif c == "wheelchair":
        t = float(rng.uniform(0.0, 0.5))
        while t < dur_s - 1.0:
            if arm:
                burst(t, rng.uniform(0.2, 0.4), rng.uniform(0.15, 0.35))
            elif rng.random() < 0.5:
                burst(t, rng.uniform(0.15, 0.3), rng.uniform(0.03, 0.06))
            t += (1.0 / seg.params["push_hz"]) * (1.0 + rng.normal(0.0, 0.05))
    elif c == "transfer":
        x += seg.params["effort"] * _hann(n)
        bursts.append((seg.start_s, seg.end_s))
    elif c == "physio":
        p = seg.params["stretch_period_s"]
        t = 0.0
        while t < dur_s - p:
            burst(t + 0.3, rng.uniform(0.6, 1.5), rng.uniform(0.015, 0.035))   # velocity-dependent stretch reflex
            t += p
    elif c in ("desk", "rest", "vehicle"):
        t = float(rng.uniform(5.0, 40.0))
        while t < dur_s - 3.0:
            kind = rng.random()
            if c == "desk" or kind < 0.4:
                # tapping: two or three bursts of 0.1-0.4 s, 0.25-0.6 s apart
                tt = t
                for _ in range(int(rng.integers(2, 4))):
                    d = float(rng.uniform(0.1, 0.4))
                    burst(tt, d, rng.uniform(0.08, 0.3))
                    tt += d + float(rng.uniform(0.25, 0.6))
            else:
                burst(t, rng.uniform(0.2, 0.5), rng.uniform(0.05, 0.2))          # shifting, bracing
            t += float(rng.uniform(15.0, 70.0) if c == "desk" else rng.uniform(30.0, 120.0))
    elif c == "sleep":
        t = float(rng.uniform(60.0, 300.0))
        while t < dur_s - 5.0:
            burst(t, rng.uniform(1.0, 3.0), rng.uniform(0.08, 0.2))              # rolling over
            t += float(rng.uniform(180.0, 600.0))
    return x, bursts
