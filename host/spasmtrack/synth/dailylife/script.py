"""Scripted days: which activity happens when, which involuntary episodes occur, which
artifacts are on. Pure data, seeded; :mod:`.render` turns a script into signals.

A day is a list of :class:`Segment` (context, start, end) covering the recording, a list
of :class:`Episode` (involuntary activity, the labels) and a list of :class:`Artifact`.
Contexts: ``sleep``, ``rest``, ``transfer``, ``wheelchair``, ``vehicle``, ``walking``,
``physio``, ``desk``.

Spasm types follow Thomas et al. 2014 (involuntary EMG in spinal cord injury: unit
activity, tonic, clonus, myoclonus/spasm, mixed) and are mapped to what the device
reports: ``clonus`` -> clonus, ``mixed`` -> spasm_with_clonus, the others -> spasm.
Shapes of tonic and myoclonic episodes: a flexor jerk with an exponential decay,
waxing-waning bursts, a crescendo that builds over seconds, a tonic plateau.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

CONTEXTS = ("sleep", "rest", "transfer", "wheelchair", "vehicle", "walking", "physio", "desk")
THOMAS_TYPES = ("unit", "tonic", "clonus", "myoclonus", "mixed")
DEVICE_KIND = {"unit": "spasm", "tonic": "spasm", "myoclonus": "spasm", "clonus": "clonus",
               "mixed": "spasm_with_clonus"}
TONIC_SHAPES = ("plateau", "jerk_decay", "waxing_waning", "crescendo")


@dataclass
class Segment:
    context: str
    start_s: float
    end_s: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """One involuntary episode. ``peak``: peak excitation (0..1 of maximal); ``shape``
    for unit/tonic/myoclonus/mixed's tonic part; clonus: ``clonus_hz`` start and end
    (drifting), beats decaying or waxing (``amp_trend``: last beat / first beat)."""
    thomas_type: str
    t0_s: float
    duration_s: float
    peak: float
    shape: str = "plateau"
    clonus_hz: tuple[float, float] = (0.0, 0.0)
    amp_trend: float = 1.0
    tonic_s: float = 0.0                 # mixed: tonic part first, clonic after
    imu_delay_s: float = 0.1             # limb movement after the EMG (50-150 ms)
    imu_dps: float = 0.0                 # peak limb angular rate of the movement
    cause: str = "spontaneous"           # spontaneous, transfer, stretch, bump


@dataclass
class Artifact:
    kind: str                            # hum, peel_off, sweat, ecg, cable_sway
    start_s: float
    end_s: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Patient:
    """Who wears the sensor: the condition, the muscle, the pool's gain, background tone,
    the clonus rate, the mains of the home, the ECG bleed."""
    condition: str                       # SCI, MS, stroke, CP
    muscle: str
    emg_gain_uv: float                   # MUAP peak of the largest unit at 0 mm depth (uV)
    tone: float                          # background excitation (0..1 of maximal)
    clonus_hz: float
    mains_hz: int
    ecg_uv: float                        # R-wave amplitude bleeding into the EMG (uV)
    heart_bpm: float
    noise_uv: float                      # electrode + amplifier noise RMS (uV)
    ambulant: bool                       # walks (with a cane) rather than uses a wheelchair


@dataclass
class DayScript:
    name: str
    seed: int
    patient: Patient
    duration_s: float
    segments: list[Segment]
    episodes: list[Episode]
    artifacts: list[Artifact]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------ plans
# Each plan: (name, [(context, minutes)...]) -- the order of the day. Durations are
# multiplied by the run's scale and jittered by the seed.
PLANS: dict[str, list[tuple[str, float]]] = {
    "night": [("sleep", 9.0), ("transfer", 0.3), ("rest", 2.0), ("wheelchair", 2.0), ("desk", 2.0)],
    "morning": [("rest", 1.5), ("transfer", 0.3), ("wheelchair", 3.0), ("desk", 6.0), ("transfer", 0.3),
                ("rest", 2.0)],
    "outing": [("rest", 1.0), ("transfer", 0.3), ("vehicle", 8.0), ("transfer", 0.3), ("wheelchair", 3.0),
               ("rest", 1.5)],
    "walk": [("rest", 2.0), ("walking", 4.0), ("rest", 1.5), ("walking", 3.0), ("desk", 3.0), ("walking", 2.0)],
    "physio": [("rest", 1.5), ("transfer", 0.3), ("physio", 8.0), ("transfer", 0.3), ("rest", 2.0),
               ("desk", 2.5)],
    "ride_walk": [("walking", 2.5), ("vehicle", 6.0), ("walking", 2.5), ("rest", 2.0), ("desk", 2.0)],
}

# spontaneous involuntary episodes per hour in each context (spastic patients have
# several per hour at rest and at night; fewer during purposeful movement)
RATE_PER_H = {"sleep": 14.0, "rest": 18.0, "transfer": 0.0, "wheelchair": 8.0, "vehicle": 8.0,
              "walking": 6.0, "physio": 10.0, "desk": 10.0}


def patient_for(rng: np.random.Generator, k: int) -> Patient:
    condition = ("SCI", "MS", "stroke", "CP")[k % 4]
    ambulant = condition in ("MS", "stroke") or rng.random() < 0.3
    muscle = ("quadriceps", "triceps surae", "biceps brachii")[int(rng.integers(0, 3))] \
        if condition in ("stroke", "CP") else ("quadriceps", "triceps surae")[int(rng.integers(0, 2))]
    return Patient(condition=condition, muscle=muscle,
                   emg_gain_uv=float(rng.uniform(1200.0, 3000.0)),
                   tone=float(rng.uniform(0.0, 0.035)),
                   clonus_hz=float(rng.uniform(4.0, 8.0)),
                   mains_hz=int(rng.choice([50, 60])),
                   ecg_uv=float(rng.uniform(3.0, 25.0)) if muscle != "triceps surae" else float(rng.uniform(0.0, 5.0)),
                   heart_bpm=float(rng.uniform(55.0, 90.0)),
                   noise_uv=float(rng.uniform(1.5, 4.0)),
                   ambulant=ambulant)


def _episode(rng: np.random.Generator, t0: float, pat: Patient, ctx: str, cause: str) -> Episode:
    if ctx == "physio" or cause == "stretch":
        weights = {"unit": 0.0, "tonic": 0.15, "clonus": 0.6, "myoclonus": 0.05, "mixed": 0.2}
    elif ctx == "sleep":
        weights = {"unit": 0.1, "tonic": 0.35, "clonus": 0.15, "myoclonus": 0.3, "mixed": 0.1}
    else:
        weights = {"unit": 0.1, "tonic": 0.35, "clonus": 0.2, "myoclonus": 0.2, "mixed": 0.15}
    types = list(weights)
    p = np.array([weights[t] for t in types])
    tt = types[int(rng.choice(len(types), p=p / p.sum()))]
    hz = pat.clonus_hz * rng.uniform(0.9, 1.1)
    drift = rng.uniform(-0.8, 0.8)
    imu = float(rng.uniform(20.0, 150.0))
    if tt == "unit":
        return Episode(tt, t0, float(rng.uniform(3.0, 15.0)), float(rng.uniform(0.04, 0.07)), "plateau",
                       imu_dps=0.0, cause=cause, imu_delay_s=float(rng.uniform(0.05, 0.15)))
    if tt == "tonic":
        shape = TONIC_SHAPES[int(rng.choice(4, p=[0.35, 0.2, 0.25, 0.2]))]
        dur = float(rng.uniform(1.5, 20.0) if shape != "jerk_decay" else rng.uniform(1.0, 4.0))
        return Episode(tt, t0, dur, float(rng.uniform(0.08, 0.45)), shape, imu_dps=imu, cause=cause,
                       imu_delay_s=float(rng.uniform(0.05, 0.15)))
    if tt == "myoclonus":
        return Episode(tt, t0, float(rng.uniform(0.6, 2.5)), float(rng.uniform(0.15, 0.6)), "jerk_decay",
                       imu_dps=imu, cause=cause, imu_delay_s=float(rng.uniform(0.05, 0.15)))
    if tt == "clonus":
        return Episode(tt, t0, float(rng.uniform(2.0, 25.0)), float(rng.uniform(0.15, 0.5)), "beats",
                       clonus_hz=(hz, float(np.clip(hz + drift, 3.5, 8.5))),
                       amp_trend=float(rng.uniform(0.3, 0.8) if rng.random() < 0.6 else rng.uniform(1.2, 2.0)),
                       imu_dps=imu * 0.5, cause=cause, imu_delay_s=float(rng.uniform(0.05, 0.15)))
    tonic = float(rng.uniform(1.0, 5.0))
    return Episode(tt, t0, tonic + float(rng.uniform(2.0, 12.0)), float(rng.uniform(0.12, 0.45)), "plateau",
                   clonus_hz=(hz, float(np.clip(hz + drift, 3.5, 8.5))), amp_trend=float(rng.uniform(0.4, 1.0)),
                   tonic_s=tonic, imu_dps=imu, cause=cause, imu_delay_s=float(rng.uniform(0.05, 0.15)))


def build_day(name: str, plan: str, seed: int, patient_index: int, scale: float = 1.0) -> DayScript:
    """One scripted day (``scale`` shortens every segment)."""
    rng = np.random.default_rng(seed)
    pat = patient_for(rng, patient_index)
    steps = PLANS[plan]
    if not pat.ambulant:
        steps = [("wheelchair", m) if c == "walking" else (c, m) for c, m in steps]
    segments: list[Segment] = []
    t = 0.0
    for ctx, minutes in steps:
        dur = max(10.0, minutes * 60.0 * scale * rng.uniform(0.85, 1.15)) if ctx != "transfer" \
            else float(rng.uniform(4.0, 8.0))
        params: dict[str, Any] = {}
        if ctx == "walking":
            params = {"stride_hz": float(rng.uniform(0.6, 1.2)), "burst_s": float(rng.uniform(0.1, 0.4)),
                      "burst_peak": float(rng.uniform(0.1, 0.3)), "swing_deg": float(rng.uniform(15.0, 30.0))}
        elif ctx == "wheelchair":
            params = {"push_hz": float(rng.uniform(0.7, 1.2)), "vib_g": float(rng.uniform(0.02, 0.08))}
        elif ctx == "vehicle":
            params = {"vib_hz": (float(rng.uniform(10.0, 15.0)), float(rng.uniform(20.0, 30.0))),
                      "vib_g": float(rng.uniform(0.02, 0.1)), "sway_uv": float(rng.uniform(20.0, 150.0))}
        elif ctx == "physio":
            params = {"stretch_period_s": float(rng.uniform(6.0, 12.0)), "stretch_dps": float(rng.uniform(30.0, 70.0))}
        elif ctx == "transfer":
            params = {"effort": float(rng.uniform(0.1, 0.3)), "rotation_dps": float(rng.uniform(40.0, 120.0))}
        segments.append(Segment(ctx, t, t + dur, params))
        t += dur
    total = t
    episodes: list[Episode] = []
    busy: list[tuple[float, float]] = []

    def free(a: float, b: float) -> bool:
        return a > 2.0 and b < total - 2.0 and all(b + 3.0 < x or a > y + 3.0 for x, y in busy)

    def place(ep: Episode) -> None:
        if free(ep.t0_s, ep.t0_s + ep.duration_s):
            episodes.append(ep)
            busy.append((ep.t0_s, ep.t0_s + ep.duration_s))

    for seg in segments:
        if seg.context == "transfer" and rng.random() < 0.6:
            place(_episode(rng, seg.end_s + float(rng.uniform(0.5, 3.0)), pat, "rest", "transfer"))
        if seg.context == "physio":
            # every few stretches provoke a clonus or a stretch reflex
            p = seg.params["stretch_period_s"]
            k = 0
            while seg.start_s + (k + 1) * p < seg.end_s - 5.0:
                if rng.random() < 0.35:
                    place(_episode(rng, seg.start_s + k * p + float(rng.uniform(0.3, 1.5)), pat, "physio", "stretch"))
                k += 1
        n = rng.poisson(RATE_PER_H[seg.context] * (seg.end_s - seg.start_s) / 3600.0)
        for t0 in np.sort(rng.uniform(seg.start_s, seg.end_s, n)):
            place(_episode(rng, float(t0), pat, seg.context, "spontaneous"))
    episodes.sort(key=lambda e: e.t0_s)

    artifacts: list[Artifact] = []
    if pat.ecg_uv > 0:
        artifacts.append(Artifact("ecg", 0.0, total, {"uv": pat.ecg_uv, "bpm": pat.heart_bpm}))
    for seg in segments:
        # switching equipment near the desk (and now and then elsewhere): hum on for minutes
        if seg.context == "desk" or (seg.context in ("rest", "physio") and rng.random() < 0.3):
            a = seg.start_s + float(rng.uniform(0.0, 0.3)) * (seg.end_s - seg.start_s)
            while a < seg.end_s - 10.0:
                b = min(seg.end_s, a + float(rng.uniform(30.0, 180.0)))
                artifacts.append(Artifact("hum", a, b, {"hz": pat.mains_hz, "uv": float(rng.uniform(5.0, 25.0)),
                                                        "harmonic3": float(rng.uniform(0.05, 0.3))}))
                a = b + float(rng.uniform(20.0, 120.0))
        if seg.context == "vehicle":
            artifacts.append(Artifact("cable_sway", seg.start_s, seg.end_s, {"uv": seg.params["sway_uv"]}))
    if rng.random() < 0.6:
        a = float(rng.uniform(0.2, 0.8)) * total
        artifacts.append(Artifact("sweat", a, min(total, a + float(rng.uniform(120.0, 400.0))),
                                  {"drift_uv": float(rng.uniform(200.0, 1500.0)), "noise_factor": 0.7}))
    if rng.random() < 0.5:
        # an electrode peels: wander grows, then the lead comes off (rails or flat), is pressed back
        a = float(rng.uniform(0.3, 0.9)) * total
        off = a + float(rng.uniform(10.0, 30.0))
        b = off + float(rng.uniform(10.0, 45.0))
        if b < total - 5.0 and all(b + 3.0 < e.t0_s or a > e.t0_s + e.duration_s + 3.0 for e in episodes):
            artifacts.append(Artifact("peel_off", a, b, {"lead_off_s": off, "rail": bool(rng.random() < 0.6),
                                                         "wander_uv": float(rng.uniform(300.0, 3000.0))}))
    return DayScript(name, seed, pat, total, segments, episodes, artifacts)


DAYS = [("night", 0), ("morning", 1), ("outing", 0), ("walk", 1), ("physio", 2), ("ride_walk", 3),
        ("night", 2), ("walk", 3), ("morning", 3), ("outing", 2), ("physio", 1), ("night", 1)]


def build_days(seed: int = 1, scale: float = 1.0, n: int | None = None) -> list[DayScript]:
    """The generator's set of scripted days (12 by default, about 15 minutes each)."""
    out = []
    for k, (plan, who) in enumerate(DAYS[: n or len(DAYS)]):
        out.append(build_day(f"day{k + 1:02d}_{plan}", plan, seed * 1000 + k, who + 4 * (k // 4), scale))
    return out
