"""Synthetic surface-EMG + IMU recordings with labels (see the package docstring for the rule).

EMG texture: Gaussian noise band-limited and shaped like a surface-EMG spectrum (a
second-order band-pass whose corners are drawn per recording, 30-70 Hz and 150-300 Hz,
giving the usual hump near 60-150 Hz), amplitude-modulated by each episode's envelope
(raised-cosine rise and decay, slow 0.3-2 Hz fluctuations of the plateau; clonus as
Hann-shaped bursts whose rate drifts at the ends of a bout). Background: white amplifier
and electrode noise of a few uV, optional 50/60 Hz hum with a weak third harmonic, and
electrode-offset drift (DC offset plus a slow random wander of a few mV).
Artifacts: motion transients (sharp rise, 2-8 Hz ringing decay, 100-1500 uV, with an IMU
acceleration spike), short voluntary bursts, mains hum switching on for 20-200 s (5-20 uV),
lead-off (railed beyond full scale, or flat).

Everything is generated in fixed 10 s chunks from seeded generators, so a recording is the
same whatever the reader's chunk size, and hours of signal never sit in memory at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from scipy import signal as sps

from ...recording import Chunk, Recording, RecordingInfo
from . import daily

FS = 1000
IMU_FS = 100
#: s: a spasm turns the limb by imu_gain (dps) x this at full activation (20-150 dps: 5-38 deg;
#: flexor and extensor spasms move a limb by tens of degrees and back)
LIMB_S = 0.25
#: s: time constant of the limb's mechanical response to activation (both poles)
LIMB_TAU_S = 0.08
CHUNK = 10 * FS


@dataclass
class Label:
    """One ground-truth event (times in s from the start of the recording)."""
    onset_s: float
    offset_s: float
    kind: str                 # spasm | clonus | spasm_with_clonus
    clonus_hz: float | None
    snr_db: float
    rms_uv: float             # plateau RMS of the EMG
    context: str = "rest"     # activity at onset: rest, walking, wheelchair, vehicle, tapping
    shape: str = "plateau"    # spasm shape (daily.SHAPES) or the clonic kinds' "bursts"


@dataclass
class Item:
    """A scheduled episode: an event, a distractor or a lost span (generator internals)."""
    kind: str                 # spasm, clonus, spasm_with_clonus, voluntary, motion, leadoff_rail, leadoff_flat
    t0: float
    t1: float
    amp: float = 0.0          # EMG RMS (uV) or artifact peak (uV)
    rise: float = 0.05
    fall: float = 0.2
    am: list[tuple[float, float, float]] = field(default_factory=list)   # (freq, phase, depth)
    bursts: list[tuple[float, float, float]] = field(default_factory=list)  # (centre, width, gain)
    tonic: tuple[float, float] | None = None   # tonic part (start, end) of spasm_with_clonus
    freq: float = 0.0         # motion ringing / clonus label frequency
    imu_gain: float = 0.0     # dps for movement (a spasm's angle is imu_gain * LIMB_S), g for jerks
    extra: dict[str, Any] = field(default_factory=dict)   # activity / shape parameters (daily.py)


@dataclass
class RecordingSpec:
    name: str
    cls: str
    seed: int
    duration_s: float
    noise_uv: float
    hum_hz: int = 0
    hum_uv: float = 0.0
    drift_mv: float = 0.0
    snr_db: tuple[float, float] = (10.0, 30.0)
    mix: dict[str, float] = field(default_factory=lambda: {"spasm": 1.0})
    gap_s: tuple[float, float] = (3.0, 25.0)
    shaped: bool = False      # daily-life class: spasm shapes, drifting clonus (daily.py)
    tonic_x: float = 0.0      # tonic background EMG, RMS in multiples of noise_uv
    ecg_uv: float = 0.0       # ECG bleed, QRS peak (uV)
    # clinic and home classes (daily.CLINIC); the defaults leave the older classes unchanged
    context: str = ""         # context of the whole recording outside activity spans ("" = rest)
    shapes: tuple[str, ...] = ()   # spasm shapes drawn (default daily.SHAPES)
    clonus_max_s: float = 60.0
    overlay: str = ""         # a timeline laid over the schedule: "roll", "mains" or "ride"
    rule10: bool = False      # labels by the 10 % rule (daily.py), contexts from the spans
    displace: float = 0.0     # displaced class: share of episodes that leave the limb in a new posture


# class -> (duration s, recordings, spec keyword arguments)
CLASSES: dict[str, tuple[float, int, dict[str, Any]]] = {
    "clean": (900, 2, dict(noise_uv=(1.5, 3.0), snr_db=(10.0, 30.0), mix={"spasm": 1.0})),
    "weak": (900, 2, dict(noise_uv=(2.0, 5.0), snr_db=(3.0, 6.0), mix={"spasm": 1.0})),
    "hum_drift": (900, 2, dict(noise_uv=(2.0, 4.0), hum_uv=(5.0, 30.0), drift_mv=(1.0, 5.0),
                               snr_db=(6.0, 20.0), mix={"spasm": 0.7, "clonus": 0.2, "hum_step": 0.1})),
    "motion": (900, 2, dict(noise_uv=(2.0, 4.0), snr_db=(6.0, 25.0),
                            mix={"spasm": 0.4, "voluntary": 0.3, "motion": 0.3})),
    "clonus": (1200, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0),
                             mix={"clonus": 0.5, "spasm_with_clonus": 0.25, "spasm": 0.25})),
    "leadoff": (900, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0),
                             mix={"spasm": 0.6, "leadoff_rail": 0.2, "leadoff_flat": 0.2})),
    "hours": (3600, 2, dict(noise_uv=(1.5, 4.0), hum_uv=(0.0, 10.0), drift_mv=(1.0, 5.0),
                            snr_db=(4.0, 25.0), gap_s=(20.0, 600.0),
                            mix={"spasm": 0.35, "clonus": 0.1, "spasm_with_clonus": 0.05,
                                 "voluntary": 0.2, "motion": 0.2, "leadoff_rail": 0.05, "hum_step": 0.05})),
    # daily life (daily.py): activities with the IMU, spasm shapes, tonic background, ECG
    "walking": (1200, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 2.0),
                              ecg_uv=(0.0, 40.0), mix={"walk": 0.45, "spasm": 0.3, "clonus": 0.1, "tapping": 0.15})),
    "wheelchair": (1200, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 2.0),
                                 ecg_uv=(0.0, 60.0), mix={"push": 0.45, "spasm": 0.3, "clonus": 0.1,
                                                          "hum_step": 0.15})),
    "vehicle": (1200, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 2.0),
                              ecg_uv=(0.0, 40.0), mix={"ride": 0.45, "spasm": 0.35, "clonus": 0.1, "hum_step": 0.1})),
    "desk": (1200, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 3.0),
                           ecg_uv=(0.0, 60.0), mix={"tapping": 0.4, "spasm": 0.3, "clonus": 0.1,
                                                    "spasm_with_clonus": 0.05, "hum_step": 0.15})),
    "shapes": (1200, 2, dict(noise_uv=(1.5, 4.0), snr_db=(6.0, 25.0), shaped=True, tonic_x=(0.0, 3.0),
                             ecg_uv=(0.0, 60.0), mix={"spasm": 0.7, "clonus": 0.2, "spasm_with_clonus": 0.1})),
    # clinic and home (daily.py, "clinic and home classes"): labels by the 10 % rule
    "physio": (600, 2, dict(noise_uv=(2.0, 4.0), snr_db=(6.0, 20.0), shaped=True, tonic_x=(0.0, 2.0),
                            ecg_uv=(0.0, 40.0), gap_s=(3.0, 6.0), context="physio", clonus_max_s=25.0,
                            mix={"stretch": 1.0})),
    "transfer": (450, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 2.0),
                              ecg_uv=(0.0, 40.0), gap_s=(5.0, 60.0),
                              mix={"transfer": 0.6, "spasm": 0.25, "clonus": 0.15})),
    "sleep": (900, 2, dict(noise_uv=(1.5, 3.0), snr_db=(6.0, 25.0), shaped=True, tonic_x=(0.0, 1.0),
                           ecg_uv=(0.0, 40.0), gap_s=(20.0, 300.0), context="sleep", overlay="roll",
                           shapes=("jerk", "plateau"), mix={"spasm": 0.85, "clonus": 0.15})),
    "prelude": (300, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 2.0),
                             ecg_uv=(0.0, 40.0), shapes=("prelude", "crescendo0"), mix={"spasm": 1.0})),
    "desk_mains": (450, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 3.0),
                                ecg_uv=(0.0, 60.0), context="desk", overlay="mains",
                                mix={"tapping": 0.5, "spasm": 0.35, "clonus": 0.15})),
    "car": (900, 2, dict(noise_uv=(2.0, 4.0), snr_db=(8.0, 25.0), shaped=True, tonic_x=(0.0, 2.0),
                         ecg_uv=(0.0, 40.0), gap_s=(10.0, 120.0), context="vehicle", overlay="ride",
                         mix={"spasm": 0.8, "clonus": 0.2})),
    # spasms that leave the limb in a new resting posture, and voluntary posture changes
    # (daily.py, "displaced"); context per recording: in bed at night, then in the chair
    "displaced": (600, 2, dict(noise_uv=(1.5, 3.0), snr_db=(6.0, 25.0), shaped=True, tonic_x=(0.0, 1.0),
                               ecg_uv=(0.0, 40.0), gap_s=(4.0, 40.0), context=("sleep", "rest"),
                               shapes=("jerk", "plateau"), displace=0.5,
                               mix={"spasm": 0.55, "spasm_with_clonus": 0.15, "reposition": 0.3})),
}


#: the classes labelled by the 10 % rule (daily.py)
CLINIC_CLASSES = ("physio", "transfer", "sleep", "prelude", "desk_mains", "car", "displaced")


def build_corpus(seed: int = 1, scale: float = 1.0, classes: list[str] | None = None) -> list[RecordingSpec]:
    """The benchmark's recordings. ``scale`` shortens them (tests); ``classes`` selects some."""
    rng = np.random.default_rng(seed)
    specs = []
    for cls, (dur, n, kw) in CLASSES.items():
        for k in range(n):
            r = int(rng.integers(1 << 31))
            if classes is not None and cls not in classes:
                continue
            g = np.random.default_rng(r)
            hum_rng = kw.get("hum_uv")
            spec = RecordingSpec(
                name=f"{cls}_{k + 1}", cls=cls, seed=r, duration_s=max(30.0, dur * scale),
                noise_uv=float(g.uniform(*kw["noise_uv"])),
                hum_hz=(50 if k % 2 == 0 else 60) if hum_rng else 0,
                hum_uv=float(g.uniform(*hum_rng)) if hum_rng else 0.0,
                drift_mv=float(g.uniform(*kw["drift_mv"])) if "drift_mv" in kw else 0.0,
                snr_db=kw["snr_db"], mix=dict(kw["mix"]), gap_s=kw.get("gap_s", (3.0, 25.0)))
            if kw.get("shaped"):
                spec.shaped = True
                spec.tonic_x = float(g.uniform(*kw["tonic_x"]))
                spec.ecg_uv = float(g.uniform(*kw["ecg_uv"]))
            if cls in CLINIC_CLASSES:
                spec.rule10 = True
                ctx = kw.get("context", "")
                spec.context = ctx[k % len(ctx)] if isinstance(ctx, tuple) else ctx
                spec.shapes = tuple(kw.get("shapes", ()))
                spec.clonus_max_s = float(kw.get("clonus_max_s", 60.0))
                spec.overlay = kw.get("overlay", "")
                spec.displace = float(kw.get("displace", 0.0))
            specs.append(spec)
    return specs


def _shaping(rng: np.random.Generator) -> np.ndarray:
    lo = float(rng.uniform(30, 70))
    hi = float(rng.uniform(150, 300))
    sos = sps.butter(2, [lo, hi], btype="bandpass", fs=FS, output="sos")
    imp = np.zeros(4000)
    imp[0] = 1.0
    h = sps.sosfilt(sos, imp)
    sos[0, :3] /= math.sqrt(float(np.sum(h * h)))      # unit output RMS for unit white input
    return sos


def _raised(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


class SynthRecording:
    """A generated recording: ``labels``, ``lost`` spans, ``distractors``, and the signal."""

    def __init__(self, spec: RecordingSpec):
        self.spec = spec
        ss = np.random.SeedSequence(spec.seed)
        sched_seed, self._noise_seed, self._emg_seed, self._imu_seed, self._drift_seed = ss.spawn(5)
        rng = np.random.default_rng(sched_seed)
        self.sos = _shaping(rng)
        self.items: list[Item] = []
        self.labels: list[Label] = []
        self.lost: list[tuple[float, float]] = []
        self.distractors: list[tuple[float, float, str]] = []
        self.contexts: list[tuple[float, float, str]] = []   # activity spans (else: rest)
        self.tilts: list[tuple[float, float, float]] = []    # lasting posture changes (t0 s, dur s, deg)
        self._phi = 0.0                                        # posture angle after the last tilt (deg)
        # displaced class: sequential limb rotations (t0 s, dur s, deg, axis, gravity before;
        # daily.add_moves) and the gravity vector after the last one
        self.moves: list[tuple[float, float, float, tuple[float, float, float], tuple[float, float, float]]] = []
        self._g = np.array(daily.G_REST)
        band_noise = spec.noise_uv ** 2 * (430.0 / 500.0)
        self.bg_power = band_noise + spec.hum_uv ** 2 * 1.01     # hum RMS is hum_uv (+1 % third harmonic)
        self.bg_power += (spec.tonic_x * spec.noise_uv) ** 2       # tonic background EMG
        self.beats = daily.heart_beats(spec.duration_s, rng) if spec.ecg_uv else np.zeros(0)
        self.hum_phase = float(rng.uniform(0, 2 * math.pi))
        self.dc_uv = float(rng.uniform(-50, 50)) * 1000.0 if spec.drift_mv else 0.0
        self._schedule(rng)
        if spec.rule10:
            self._clinic_finish(rng)

    # -- schedule --------------------------------------------------------------------------
    def _schedule(self, rng: np.random.Generator) -> None:
        s = self.spec
        kinds = list(s.mix)
        p = np.array([s.mix[k] for k in kinds], dtype=float)
        p /= p.sum()
        t = float(rng.uniform(4.0, 8.0))
        end = s.duration_s - 4.0
        while True:
            kind = kinds[int(rng.choice(len(kinds), p=p))]
            n_lab, n_dis, n_lost = len(self.labels), len(self.distractors), len(self.lost)
            n_it, n_ctx, n_tilt, phi = len(self.items), len(self.contexts), len(self.tilts), self._phi
            n_mv, g = len(self.moves), self._g
            it = self._make(kind, t, rng)
            if it.t1 > end:
                del self.labels[n_lab:], self.distractors[n_dis:], self.lost[n_lost:]
                del self.items[n_it:], self.contexts[n_ctx:], self.tilts[n_tilt:], self.moves[n_mv:]
                self._phi, self._g = phi, g
                break
            self.items.append(it)
            lo, hi = s.gap_s
            gap = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
            if kind.startswith("leadoff"):
                gap = max(gap, 3.0)
            t = it.t1 + gap

    def _clinic_finish(self, rng: np.random.Generator) -> None:
        """Clinic and home classes: lay the overlay timeline over the schedule, fill the gaps
        between activity spans with the class's own context, then label every episode by the
        10 % rule and give each label the context at its onset."""
        s = self.spec
        events = [it for it in self.items if it.kind in ("spasm", "clonus", "spasm_with_clonus")]
        assert len(events) == len(self.labels)
        if s.overlay:
            self._overlay(s.overlay, events, rng)
        if s.context:
            self.contexts = daily.fill_contexts(self.contexts, s.duration_s, s.context)
        for it, lab in zip(events, self.labels):
            lab.onset_s, lab.offset_s = self._span10(it)
            lab.context = daily.context_at(self.contexts, lab.onset_s)

    def _span10(self, it: Item) -> tuple[float, float]:
        """Where the episode's own amplitude envelope first and last exceeds 10 % of its peak
        (on a 1 ms grid)."""
        g = np.arange(math.floor((it.t0 - 1.0) * FS), math.ceil((it.t1 + 1.0) * FS) + 1) / FS
        env = self._envelope(it, g)
        above = np.nonzero(env > 0.1 * env.max())[0]
        return round(float(g[above[0]]), 3), round(float(g[above[-1]]), 3)

    def _overlay(self, kind: str, events: list[Item], rng: np.random.Generator) -> None:
        """Activities on a timeline of their own, over the schedule: rolls in bed every 3-10 min
        (moved to 3 s clear of any episode), mains hum switching on for 30-180 s and off for
        30-180 s, or a car ride (driving 60-300 s, stops of 5-40 s)."""
        s = self.spec
        end = s.duration_s - 2.0
        t = float(rng.uniform(5.0, 90.0) if kind != "roll" else rng.uniform(60.0, 240.0))
        while t < end:
            if kind == "roll":
                dur = float(rng.uniform(1.0, 3.0))
                for ev in events:
                    if ev.t0 - 3.0 < t + dur and t < ev.t1 + 3.0:
                        t = ev.t1 + 3.0
                if t + dur > end:
                    return
                v = float(rng.uniform(30.0, 120.0))
                deg = min(v * dur / 2.0, 120.0)
                sign = -np.sign(self._phi) if abs(self._phi) > 45.0 else (1.0 if rng.random() < 0.5 else -1.0)
                self.tilts.append((t, dur, float(sign * deg)))
                self._phi += float(sign * deg)
                _, a = self._amp(rng, (10.0, 20.0))
                self.items.append(Item("roll", t, t + dur, a, extra={"t0": t, "t1": t + dur}))
                self.distractors.append((t, t + dur, "roll"))
                t += dur + float(rng.uniform(180.0, 600.0))
            elif kind == "mains":
                dur = min(float(rng.uniform(30.0, 180.0)), s.duration_s - t)
                self.items.append(Item("mains", t, t + dur, extra=daily.mains_params(rng)))
                self.distractors.append((t, t + dur, "mains"))
                t += dur + float(rng.uniform(30.0, 180.0))
            else:
                dur = min(float(rng.uniform(60.0, 300.0)), end - t)
                extra: dict[str, Any] = daily.ride_params(rng, sway_hz=(1.0, 10.0))
                extra["spikes"] = daily.ride_spikes(t, t + dur, extra, rng)
                self.items.append(Item("ride", t, t + dur, extra=extra))
                self.distractors.append((t, t + dur, "ride"))
                t += dur + float(rng.uniform(5.0, 40.0))

    def _amp(self, rng: np.random.Generator, snr: tuple[float, float]) -> tuple[float, float]:
        snr_db = float(rng.uniform(*snr))
        return snr_db, math.sqrt(self.bg_power * 10 ** (snr_db / 10.0))

    def _make(self, kind: str, t: float, rng: np.random.Generator, pose: bool = True) -> Item:
        s = self.spec
        if pose and s.displace and kind in ("spasm", "spasm_with_clonus"):
            return self._posed(kind, t, rng)
        if kind in ("spasm", "clonus", "spasm_with_clonus"):
            snr_db, a = self._amp(rng, s.snr_db)
            rise = float(rng.uniform(0.03, 0.15))
            fall = float(rng.uniform(0.1, 0.4))
            am = [(float(rng.uniform(0.3, 2.0)), float(rng.uniform(0, 6.283)), float(rng.uniform(0.05, 0.15)))
                  for _ in range(3)]
            if kind == "spasm":
                dur = float(np.exp(rng.uniform(math.log(0.8), math.log(30.0))))
                if rng.random() < 0.1:
                    dur = float(rng.uniform(30.0, 90.0))
                extra: dict[str, Any] = {}
                if s.shaped:
                    extra, dur = daily.shape_params(rng, s.shapes or daily.SHAPES)
                    if extra["shape"] == "jerk":
                        rise = float(rng.uniform(0.01, 0.03))
                it = Item(kind, t, t + dur, a, rise, fall, am, imu_gain=float(rng.uniform(20, 150)), extra=extra)
                self.labels.append(Label(t, t + dur, kind, None, snr_db, a,
                                         shape=extra.get("shape", "plateau")))
                return it
            cdur = float(np.exp(rng.uniform(math.log(2.0), math.log(s.clonus_max_s if kind == "clonus" else 20.0))))
            tonic = None
            c0 = t
            if kind == "spasm_with_clonus":
                tdur = float(rng.uniform(1.5, 5.0))
                if rng.random() < 0.5:
                    tonic = (t, t + tdur)
                    c0 = t + tdur
                else:
                    tonic = (t + cdur, t + cdur + tdur)
            bursts, hz = self._bursts(c0, cdur, rng)
            if s.shaped:     # frequency drifting across the bout, waxing or decaying amplitude
                bursts, hz = self._drift(bursts, rng)
            t_end = max(bursts[-1][0] + bursts[-1][1] / 2, tonic[1] if tonic else 0.0)
            t_start = min(bursts[0][0] - bursts[0][1] / 2, tonic[0] if tonic else 1e18)
            it = Item(kind, t_start, t_end, a, rise, fall, am, bursts, tonic, hz,
                      imu_gain=float(rng.uniform(10, 60)))
            self.labels.append(Label(t_start, t_end, kind, hz, snr_db, a, shape="bursts"))
            return it
        if kind in ("walk", "push", "ride"):
            return self._bout(kind, t, rng)
        if kind == "stretch":
            return self._stretch(t, rng)
        if kind == "transfer":
            return self._transfer(t, rng)
        if kind == "reposition":
            return self._reposition(t, rng)
        if kind == "tapping":
            _, a = self._amp(rng, (10.0, 25.0))
            bursts = daily.tapping_bursts(t, rng)
            t1 = bursts[-1][0] + bursts[-1][1] / 2
            self.distractors.append((t, t1, kind))
            self.contexts.append((t, t1 + 1.0, s.context or "tapping"))
            return Item(kind, t, t1, a, bursts=bursts)
        if kind == "voluntary":
            snr_db, a = self._amp(rng, (10.0, 25.0))
            dur = float(rng.uniform(0.1, 0.35))
            self.distractors.append((t, t + dur, kind))
            return Item(kind, t, t + dur, a, 0.02, 0.05, imu_gain=float(rng.uniform(10, 40)))
        if kind == "motion":
            dur = float(rng.uniform(0.3, 1.5))
            self.distractors.append((t, t + dur, kind))
            return Item(kind, t, t + dur, float(rng.uniform(100, 1500)) * (1 if rng.random() < 0.5 else -1),
                        rise=float(rng.uniform(0.003, 0.015)), fall=dur / 3, freq=float(rng.uniform(2, 8)),
                        imu_gain=float(rng.uniform(0.5, 2.0)))
        if kind == "hum_step":
            dur = float(rng.uniform(20.0, 200.0))
            self.distractors.append((t, t + dur, kind))
            if s.shaped:     # intermittent hum of nearby equipment: 50 or 60 Hz, 5-25 uV, minutes
                dur = float(rng.uniform(60.0, 300.0))
                self.distractors[-1] = (t, t + dur, kind)
                return Item(kind, t, t + dur, float(rng.uniform(5.0, 25.0)),
                            freq=float(50 if rng.random() < 0.5 else 60))
            return Item(kind, t, t + dur, float(rng.uniform(5.0, 20.0)), freq=float(s.hum_hz or 50))
        if kind in ("leadoff_rail", "leadoff_flat"):
            dur = float(np.exp(rng.uniform(math.log(2.0), math.log(60.0))))
            self.lost.append((t, t + dur))
            return Item(kind, t, t + dur)
        raise ValueError(f"unknown item kind {kind!r}")

    def _bout(self, kind: str, t: float, rng: np.random.Generator) -> Item:
        """A walk, push or ride bout; with probability 0.35 a spasm inside it (the activity
        pauses from 0.5 s before it to 1 s after it)."""
        dur = float(rng.uniform(30.0, 180.0) if kind == "ride" else rng.uniform(20.0, 120.0))
        t1 = t + dur
        _, a = self._amp(rng, (10.0, 25.0))
        extra: dict[str, Any] = {"phase": float(rng.uniform(0, 6.283))}
        bursts: list[tuple[float, float, float]] = []
        hz = 0.0
        if kind == "walk":
            bursts, hz = daily.bout_bursts(t, t1, (0.6, 1.2), (0.1, 0.4), rng)
            extra.update(acc_g=float(rng.uniform(0.15, 0.5)), strike_g=float(rng.uniform(0.3, 1.0)),
                         gyro_dps=float(rng.uniform(60, 200)))
        elif kind == "push":
            bursts, hz = daily.bout_bursts(t, t1, (0.7, 1.3), (0.2, 0.5), rng)
            extra.update(acc_g=float(rng.uniform(0.1, 0.3)), gyro_dps=float(rng.uniform(30, 100)),
                         roll_hz=float(rng.uniform(12, 20)))
        else:
            extra.update(daily.ride_params(rng))
            extra["spikes"] = daily.ride_spikes(t, t1, extra, rng)
        if kind in ("walk", "push"):
            extra["tonic"] = float(rng.uniform(0.0, 0.5))
        ctx = daily.CONTEXT_OF[kind]
        self.distractors.append((t, t1, kind))
        self.contexts.append((t, t1, ctx))
        bout = Item(kind, t, t1, a, bursts=bursts, freq=hz, extra=extra)
        if dur > 15.0 and rng.random() < 0.35:
            ts = float(rng.uniform(t + 5.0, t1 - 10.0))
            sp = self._make("spasm", ts, rng)
            if sp.t1 < t1 - 3.0:
                self.labels[-1].context = ctx
                self.items.append(sp)
                bout.bursts = [b for b in bout.bursts if not (ts - 0.5 < b[0] + b[1] / 2 and b[0] - b[1] / 2 < sp.t1 + 1.0)]
            else:
                self.labels.pop()
        return bout

    def _stretch(self, t: float, rng: np.random.Generator) -> Item:
        """A therapist's passive stretch (daily.stretch_params) with its stretch reflex; with
        probability 0.3 it provokes clonus, a spasm or a spasm with clonus that follows the
        reflex burst without a pause; the therapist then holds the stretch until 0.3 s after
        the episode ends (a sustained stretch sustains clonus). The item spans the provoked
        episode, the return and 3 s after them."""
        p = daily.stretch_params(t, rng)
        _, a = self._amp(rng, (3.0, 12.0))
        it = Item("stretch", t, p["end"], a * abs(p["v"]) / 60.0, extra=p)
        if rng.random() < 0.3:
            kind = str(rng.choice(["clonus", "spasm", "spasm_with_clonus"], p=[0.5, 0.25, 0.25]))
            ep = self._make(kind, p["r1"] - p["fall"] * float(rng.uniform(0.3, 1.0)), rng)
            self.items.append(ep)
            p["hold"] = max(p["hold"], ep.t1 + 0.3 - (t + p["d"]))
            p["end"] = t + p["d"] + p["hold"] + p["ret"]
            it.t1 = max(p["end"], ep.t1) + 3.0
        self.distractors.append((t, max(p["end"], p["r1"]), "stretch"))
        return it

    def _transfer(self, t: float, rng: np.random.Generator) -> Item:
        """A 4-8 s sitting-pivot transfer: weight bearing (a Hann-shaped voluntary contraction),
        a pivot of 40-150 dps about the vertical, a lift of 0.1-0.3 g. Half are bed-chair
        transfers with a lasting posture change of 20-60 deg (alternating bed to chair and
        back); half are between seats of about the same height (wheelchair to car seat,
        toilet or shower chair: Gagnon et al. 2008), where the thigh stays level and only the
        heading changes. With probability 0.5 a spasm follows 0.5-3 s after."""
        dur = float(rng.uniform(4.0, 8.0))
        _, a = self._amp(rng, (10.0, 20.0))
        deg = float(rng.uniform(20.0, 60.0)) * (-1.0 if self._phi > 0 else 1.0)
        if rng.random() < 0.5:
            deg = 0.0                   # seat to seat: level
        self.tilts.append((t, dur, deg))
        self._phi += deg
        extra = {"t0": t, "t1": t + dur, "yaw_dps": float(rng.uniform(40.0, 150.0)) * (1 if rng.random() < 0.5 else -1),
                 "lift_g": float(rng.uniform(0.1, 0.3))}
        it = Item("transfer", t, t + dur, a, extra=extra)
        self.distractors.append((t, t + dur, "transfer"))
        self.contexts.append((t, t + dur, "transfer"))
        if rng.random() < 0.5:
            sp = self._make("spasm", t + dur + float(rng.uniform(0.5, 3.0)), rng)
            self.items.append(sp)
            it.t1 = sp.t1
        return it

    def _move(self, t0: float, dur: float, deg: float, axis: np.ndarray) -> None:
        """Append a limb rotation (daily.add_moves) and keep the gravity vector after it."""
        assert not self.moves or t0 >= self.moves[-1][0] + self.moves[-1][1] - 1e-9
        ax = (float(axis[0]), float(axis[1]), float(axis[2]))
        self.moves.append((t0, dur, deg, ax, (float(self._g[0]), float(self._g[1]), float(self._g[2]))))
        self._g = daily.rotate(self._g, axis, -deg)

    def _axis(self, rng: np.random.Generator, roll: bool = False) -> np.ndarray:
        """The axis of a new movement (unit, sensor frame): back towards the rest posture when the
        limb lies more than 40 deg from it; else about x (a roll) or in the x-y plane at a
        random bearing, made perpendicular to gravity (so gravity turns by the whole angle)."""
        g = self._g / np.linalg.norm(self._g)
        rest = np.array(daily.G_REST)
        if daily.turn_deg(g, rest) > 40.0:
            a = np.cross(rest, g)
            return a / np.linalg.norm(a)
        psi = 0.0 if roll else float(rng.uniform(0.0, 2 * np.pi))
        a = np.array([math.cos(psi), math.sin(psi), 0.0]) * (1.0 if not roll or rng.random() < 0.5 else -1.0)
        if not roll:
            a = a - float(a @ g) * g
        return a / np.linalg.norm(a)

    def _posed(self, kind: str, t: float, rng: np.random.Generator) -> Item:
        """A spasm or spasm with clonus that moves the limb (daily.py, "displaced"): it stays
        displaced (held 10-40 s after the episode, then half the time brought back slowly) or
        falls back as the contraction relaxes. The item spans the episode, the hold and the
        return."""
        ep = self._make(kind, t, rng, pose=False)
        self.items.append(ep)
        ep.imu_gain = ep.imu_gain if kind == "spasm_with_clonus" else 0.0   # the movement is the rotation
        # the contraction that moves the limb: the whole spasm or the tonic part
        a, b = (ep.t0, ep.t1) if kind == "spasm" else (ep.tonic or (ep.t0, ep.t1))
        tonic = ep if kind == "spasm" else Item("spasm", a, b, ep.amp, ep.rise, ep.fall, ep.am)
        g = np.arange(math.floor(a * FS), math.ceil(b * FS) + 1) / FS
        env = self._envelope(tonic, g)
        t30 = float(g[np.nonzero(env > 0.3 * env.max())[0][-1]])
        off = self._span10(ep)[1]
        delay = float(ep.extra["delay"]) if "delay" in ep.extra else float(rng.uniform(0.05, 0.15))
        ts = a + delay
        deg = float(rng.uniform(20.0, 70.0))
        axis = self._axis(rng)
        dur = min(2.0 * deg / float(rng.uniform(60.0, 250.0)), 0.9 * (min(off, b) - ts))
        self._move(ts, dur, deg, axis)
        displaced = rng.random() < self.spec.displace
        ep.extra.update(pose="displaced" if displaced else "returning", move=(ts, dur, deg))
        end = ep.t1
        if displaced:
            end += float(rng.uniform(10.0, 40.0))      # held after the episode (the movement ends before it)
            if rng.random() < 0.5:       # brought back slowly by the hands or a carer
                rdur = float(rng.uniform(3.0, 8.0))
                self._move(end, rdur, -deg, axis)
                self.distractors.append((end, end + rdur, "return"))
                end += rdur
        else:                            # falls back as the contraction relaxes
            r0 = max(t30, ts + dur)
            rdur = float(rng.uniform(0.5, 1.5))
            self._move(r0, rdur, -deg, axis)
            end = max(end, r0 + rdur)
        return Item("pose", t, end, extra={"episode": ep.t0})

    def _reposition(self, t: float, rng: np.random.Generator) -> Item:
        """A voluntary posture change (daily.py, "displaced"): in bed half of them a roll (1-3 s,
        30-120 dps, up to 120 deg about x), else a reposition of the leg (1.5-4 s, 20-60 deg),
        with a voluntary burst (Hann, 10-20 dB); the posture is kept. Not labelled."""
        roll = self.spec.context == "sleep" and rng.random() < 0.5
        if roll:
            dur = float(rng.uniform(1.0, 3.0))
            deg = min(float(rng.uniform(30.0, 120.0)) * dur / 2.0, 120.0)
        else:
            dur = float(rng.uniform(1.5, 4.0))
            deg = float(rng.uniform(20.0, 60.0))
        self._move(t, dur, deg, self._axis(rng, roll=roll))
        _, a = self._amp(rng, (10.0, 20.0))
        self.distractors.append((t, t + dur, "roll" if roll else "reposition"))
        return Item("reposition", t, t + dur, a, extra={"t0": t, "t1": t + dur, "roll": roll})

    @staticmethod
    def _drift(bursts: list[tuple[float, float, float]], rng: np.random.Generator
               ) -> tuple[list[tuple[float, float, float]], float]:
        """Re-time clonus bursts with a frequency drifting linearly by up to +-1 Hz across the
        bout and a gain ramp (waxing or decaying, 0.4-1)."""
        n = len(bursts)
        if n < 3:
            return bursts, (n - 1) / (bursts[-1][0] - bursts[0][0]) if n > 1 else 6.0
        f0 = (n - 1) / (bursts[-1][0] - bursts[0][0])
        df = float(rng.uniform(-1.0, 1.0))
        g0, g1 = (1.0, float(rng.uniform(0.4, 0.8))) if rng.random() < 0.5 else (float(rng.uniform(0.4, 0.8)), 1.0)
        out = []
        tt = bursts[0][0]
        for k, (_, w, g) in enumerate(bursts):
            x = k / (n - 1)
            f = min(9.0, max(3.5, f0 + df * (x - 0.5)))
            out.append((tt, min(w, 0.6 / f), g * (g0 + (g1 - g0) * x)))
            tt += 1.0 / f
        hz = (n - 1) / (out[-1][0] - out[0][0])
        return out, hz

    @staticmethod
    def _bursts(t0: float, dur: float, rng: np.random.Generator) -> tuple[list[tuple[float, float, float]], float]:
        f0 = float(rng.uniform(4.5, 7.5))
        d_start = float(rng.uniform(-1.5, 1.5))
        d_end = float(rng.uniform(-1.5, 1.5))
        duty = float(rng.uniform(0.35, 0.6))
        out = []
        tt = t0
        while tt < t0 + dur:
            x = (tt - t0) / dur
            f = f0 + (d_start * (1 - x / 0.2) if x < 0.2 else 0.0) + (d_end * (x - 0.8) / 0.2 if x > 0.8 else 0.0)
            f = min(10.0, max(3.0, f))
            per = 1.0 / f
            width = duty * per
            out.append((tt + width / 2, width, float(np.clip(1 + 0.2 * rng.standard_normal(), 0.5, 1.5))))
            tt += per
        n = len(out)
        hz = (n - 1) / (out[-1][0] - out[0][0]) if n > 1 else f0
        return out, hz

    # -- signal ----------------------------------------------------------------------------
    def _envelope(self, it: Item, t: np.ndarray) -> np.ndarray:
        """EMG RMS amplitude (uV) of an event or voluntary item on times t."""
        env = np.zeros_like(t)
        if it.kind == "spasm" and it.extra:
            env = daily.shaped_envelope(it, t)
        elif it.kind in ("spasm", "voluntary"):
            ramp = _raised((t - it.t0) / it.rise) * _raised((it.t1 - t) / it.fall)
            env = it.amp * ramp
        else:
            for c, w, g in it.bursts:
                if c + w < t[0] or c - w > t[-1]:
                    continue
                x = (t - (c - w / 2)) / w
                inside = (x > 0) & (x < 1)
                env[inside] += it.amp * 1.3 * g * np.sin(np.pi * x[inside]) ** 2
            if it.tonic:
                a, b = it.tonic
                env = np.maximum(env, it.amp * _raised((t - a) / it.rise) * _raised((b - t) / it.fall))
        if it.am:
            mod = np.ones_like(t)
            for f, ph, d in it.am:
                mod += d * np.sin(2 * np.pi * f * t + ph)
            env *= mod
        return env

    def _limb(self, it: Item, ti: np.ndarray, tau_s: float = 0.0) -> np.ndarray:
        """The limb's response (0-1) to item it's activation on IMU times ti: the activation
        (delayed by the item's electromechanical delay) through the limb's mechanics, a
        critically damped second-order low-pass of ``tau_s`` (default LIMB_TAU_S: a limb
        segment's inertia against its stiffness, it cannot follow a 20 ms rise). Run from 1 s
        before ti so the chunk's start needs no state."""
        pre = int(IMU_FS)
        tx = np.concatenate([ti[0] + (np.arange(pre) - pre) / IMU_FS, ti])
        e = self._envelope(it, tx - it.extra.get("delay", 0.0)) / max(it.amp, 1e-9)
        a = math.exp(-1.0 / ((tau_s or LIMB_TAU_S) * IMU_FS))
        sos = np.array([[(1 - a) ** 2, 0.0, 0.0, 1.0, -2 * a, a * a]])
        return sps.sosfilt(sos, e)[pre:]

    def _chunk(self, k: int, st: dict[str, Any]) -> Chunk:
        s = self.spec
        n = int(min(CHUNK, round(s.duration_s * FS) - k * CHUNK))
        i0 = k * CHUNK
        t = (i0 + np.arange(n)) / FS
        t0, t1 = t[0], t[-1]
        noise = st["noise"].standard_normal(n) * s.noise_uv
        white = st["emg"].standard_normal(n)
        tex, st["zi"] = sps.sosfilt(self.sos, white, zi=st["zi"])
        amp = np.zeros(n)
        art = np.zeros(n)
        nimu = n // (FS // IMU_FS)
        ti = (i0 // (FS // IMU_FS) + np.arange(nimu)) / IMU_FS
        imu = np.zeros((6, nimu))
        imu[0] += 0.10
        imu[1] += 0.20
        imu[2] += 0.975
        imu[:3] += st["imu"].standard_normal((3, nimu)) * 0.003
        imu[3:] += st["imu"].standard_normal((3, nimu)) * 0.2
        lost_rail = np.zeros(n, bool)
        lost_flat = np.zeros(n, bool)
        for it in self.items:
            if it.t1 + 1.0 < t0 or it.t0 - 1.0 > t1:
                continue
            if it.kind in ("spasm", "clonus", "spasm_with_clonus", "voluntary"):
                amp += self._envelope(it, t)
                if it.kind == "clonus" or (it.kind == "spasm_with_clonus"):
                    # each beat jerks the limb and it swings back before the next: the angle
                    # follows the beats' activation less its slow mean (peak rate ~imu_gain)
                    beats = self._limb(it, ti, LIMB_TAU_S / 4) - self._limb(it, ti, 0.3)
                    ang = it.imu_gain * beats / (2 * np.pi * it.freq)
                    daily.add_rotation(imu, ang, np.gradient(ang) * IMU_FS)
                else:
                    # the limb is pulled to an angle that follows the activation (a force
                    # against its weight and stiffness) and returns as the muscle relaxes: the
                    # gyro reads that angle's rate, gravity turns by the angle
                    ang = it.imu_gain * LIMB_S * self._limb(it, ti)
                    daily.add_rotation(imu, ang, np.gradient(ang) * IMU_FS)
            elif it.kind == "motion":
                x = t - it.t0
                on = x >= 0
                w = np.zeros(n)
                xo = x[on]
                w[on] = (1 - np.exp(-xo / it.rise)) * np.exp(-xo / it.fall) * np.cos(2 * np.pi * it.freq * xo)
                art += it.amp * w
                xi = ti - it.t0
                imu[2] += it.imu_gain * np.exp(-0.5 * (xi / 0.02) ** 2)
                imu[4] += 100 * it.imu_gain * np.exp(-0.5 * ((xi - 0.05) / 0.08) ** 2)
            elif it.kind in daily.ACTIVITIES:
                daily.render(it, t, ti, amp, art, imu)
            elif it.kind in daily.CLINIC:
                daily.render_clinic(it, t, ti, amp, art, imu)
            elif it.kind == "hum_step":
                on = (t >= it.t0) & (t < it.t1)
                art[on] += it.amp * math.sqrt(2) * np.sin(2 * np.pi * it.freq * t[on] + self.hum_phase)
            elif it.kind == "leadoff_rail":
                lost_rail |= (t >= it.t0) & (t < it.t1)
            elif it.kind == "leadoff_flat":
                lost_flat |= (t >= it.t0) & (t < it.t1)
        if self.tilts:
            daily.add_rotation(imu, *daily.posture(self.tilts, ti))
        if self.moves:
            daily.add_moves(imu, self.moves, ti)
        if s.tonic_x:
            amp += s.tonic_x * s.noise_uv
        if s.ecg_uv:
            art += daily.ecg(t, self.beats, s.ecg_uv)
        emg = noise + tex * amp + art
        if s.hum_uv:
            hum_mod = 1 + 0.2 * np.sin(2 * np.pi * 0.01 * t)
            ph = 2 * np.pi * s.hum_hz * t + self.hum_phase
            emg += s.hum_uv * math.sqrt(2) * hum_mod * (np.sin(ph) + 0.1 * np.sin(3 * ph))
        if s.drift_mv:
            wander, st["dzi"] = sps.sosfilt(st["dsos"], st["drift"].standard_normal(n), zi=st["dzi"])
            emg += self.dc_uv + wander * s.drift_mv * 1000.0 * st["dgain"]
        emg[lost_rail] = 600000.0       # beyond every board's full scale: the ADC rails
        emg[lost_flat] = 0.0
        imu_full = np.repeat(imu, FS // IMU_FS, axis=1)[:, :n]
        return Chunk(i0, emg[None, :], imu_full)

    def chunks(self) -> Iterator[Chunk]:
        st = {"noise": np.random.default_rng(self._noise_seed), "emg": np.random.default_rng(self._emg_seed),
              "imu": np.random.default_rng(self._imu_seed), "drift": np.random.default_rng(self._drift_seed),
              "zi": np.zeros((self.sos.shape[0], 2))}
        # electrode-offset wander: white noise through a 4th-order 0.1 Hz low-pass (smooth,
        # nothing left in the EMG band), scaled to unit RMS
        dsos = sps.butter(4, 0.1, fs=FS, output="sos")
        st["dsos"] = dsos
        st["dzi"] = np.zeros((dsos.shape[0], 2))
        imp = np.zeros(40 * FS)
        imp[0] = 1.0
        st["dgain"] = 1.0 / math.sqrt(float(np.sum(sps.sosfilt(dsos, imp) ** 2)))
        n_chunks = int(math.ceil(self.spec.duration_s * FS / CHUNK))
        for k in range(n_chunks):
            yield self._chunk(k, st)

    def recording(self) -> Recording:
        info = RecordingInfo(Path(f"<corpus:{self.spec.name}>"), float(FS), ["emg_uV"], True,
                             int(round(self.spec.duration_s * FS)))
        return Recording(info, self.chunks())

    def signal(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole EMG (uV) and IMU (6, n) in memory (for the offline peer detectors)."""
        parts = list(self.chunks())
        return np.concatenate([c.emg_uv[0] for c in parts]), np.concatenate([c.imu for c in parts], axis=1)

    def write_csv(self, path: Path) -> None:
        with open(path, "w") as fh:
            fh.write("t_s,emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps\n")
            for c in self.chunks():
                n = c.emg_uv.shape[1]
                t = (c.start + np.arange(n)) / FS
                a = np.column_stack([t, c.emg_uv[0], c.imu.T])
                np.savetxt(fh, a, fmt=["%.3f", "%.3f"] + ["%.4f"] * 6, delimiter=",")


def generate(spec: RecordingSpec) -> SynthRecording:
    return SynthRecording(spec)
