"""A motor-unit pool: recruitment and rate coding after Fuglevand, Winter & Patla (1993).

Unit i of n has recruitment threshold ``RTE_i = exp(i ln(RR) / n)`` (excitation units,
RR = 30: many small low-threshold units, few large ones), fires at ``MFR`` (8 Hz) when
the excitation reaches its threshold and ``g_e`` (1 Hz per excitation unit) faster per
unit above it, up to a peak rate falling from 35 Hz (first unit) to 25 Hz (last).
Inter-spike intervals vary with a coefficient of variation of about 0.2. The twitch
force of a unit grows with its threshold (range 100) and so does its fibre count, hence
its MUAP amplitude (Enoka & Fuglevand 2001, size principle).

Every activity of the day drives this one pool: voluntary tapping and gait bursts,
tonic spasms, clonus and background tone alike differ only in the excitation time course
(``excitation`` in 0..1 of the maximal excitation, sampled at the EMG rate). Reflex
volleys (clonic beats, myoclonic jerks) add one spike, 5 ms jitter, to every unit whose
threshold the volley's size exceeds: the synchronised discharge of a stretch reflex.

Spike trains become EMG by adding each unit's MUAP (:mod:`.muap`) at its discharges.
Units: excitation 0..1, rates in Hz, output EMG in microvolts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .muap import unit_muap

N_UNITS = 120
RECRUITMENT_RANGE = 30.0        # RR: threshold of the last unit / first unit
MIN_RATE_HZ = 8.0               # MFR
RATE_GAIN_HZ = 1.0              # g_e, Hz per excitation unit above threshold
PEAK_RATE_FIRST_HZ = 35.0
PEAK_RATE_LAST_HZ = 25.0
ISI_CV = 0.2
FORCE_RANGE = 100.0             # twitch force (and fibre count) of the last unit / first unit
VOLLEY_JITTER_S = 0.005


@dataclass
class MotorUnitPool:
    """A seeded pool: thresholds, peak rates, MUAPs (uV at ``fs_hz``) and firing phases."""
    fs_hz: int
    thresholds: np.ndarray          # excitation units
    peak_rates_hz: np.ndarray
    muaps: list[np.ndarray]         # uV
    e_max: float                    # excitation at which every unit fires at its peak rate
    phase: np.ndarray               # firing phase carried between blocks (cycles)

    @classmethod
    def build(cls, rng: np.random.Generator, fs_hz: int, emg_gain_uv: float) -> "MotorUnitPool":
        """``emg_gain_uv``: MUAP peak (uV) of the largest unit at 0 mm depth."""
        i = np.arange(1, N_UNITS + 1)
        rte = np.exp(i * np.log(RECRUITMENT_RANGE) / N_UNITS)
        peak = PEAK_RATE_FIRST_HZ - (PEAK_RATE_FIRST_HZ - PEAK_RATE_LAST_HZ) * (rte - rte[0]) / (rte[-1] - rte[0])
        size = np.exp(i * np.log(FORCE_RANGE) / N_UNITS) / FORCE_RANGE    # relative fibre count, last = 1
        depth = rng.uniform(1.0, 14.0, N_UNITS)                            # mm below the muscle surface
        velocity = 3.5 + 1.5 * (rte - rte[0]) / (rte[-1] - rte[0])         # m/s, larger units conduct faster
        muaps = [emg_gain_uv * size[k] * unit_muap(depth[k], velocity[k], rng, fs_hz) for k in range(N_UNITS)]
        e_max = rte[-1] + (PEAK_RATE_LAST_HZ - MIN_RATE_HZ) / RATE_GAIN_HZ
        return cls(fs_hz, rte, peak, muaps, float(e_max), rng.uniform(0.0, 1.0, N_UNITS))

    def rates(self, excitation: np.ndarray, unit: int) -> np.ndarray:
        """Firing rate (Hz) of ``unit`` for an excitation time course (0..1)."""
        e = excitation * self.e_max
        above = e >= self.thresholds[unit]
        r = MIN_RATE_HZ + RATE_GAIN_HZ * (e - self.thresholds[unit])
        return np.where(above, np.minimum(r, self.peak_rates_hz[unit]), 0.0)

    def spikes(self, excitation: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Discharge sample indices of every unit within this block (phase carried over)."""
        out: list[np.ndarray] = []
        top = float(excitation.max()) * self.e_max if excitation.size else 0.0
        n = excitation.size
        for u in range(N_UNITS):
            if self.thresholds[u] > top:
                out.append(np.zeros(0, dtype=np.int64))
                continue
            r = self.rates(excitation, u)
            ph = self.phase[u] + np.cumsum(r) / self.fs_hz
            k = np.flatnonzero(np.diff(np.floor(np.concatenate(([self.phase[u]], ph)))) > 0)
            self.phase[u] = ph[-1] % 1.0 if n else self.phase[u]
            if k.size:
                # independent jitter of each discharge: ISI CV = sqrt(2) * jitter / ISI
                isi = self.fs_hz / np.maximum(r[k], MIN_RATE_HZ)
                k = k + np.round(rng.normal(0.0, ISI_CV / np.sqrt(2.0), k.size) * isi).astype(np.int64)
                k = np.clip(k, 0, n - 1)
            out.append(k)
        # a unit that fell silent restarts at a random phase (no synchrony on recruitment)
        silent = excitation[-1:] * self.e_max < self.thresholds if n else np.zeros(N_UNITS, bool)
        self.phase[silent] = rng.uniform(0.0, 1.0, int(silent.sum()))
        return out

    def volley(self, times: np.ndarray, sizes: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Reflex volleys at sample indices ``times`` with sizes 0..1: each recruits the
        units whose threshold is below size * e_max, one jittered spike each."""
        out = []
        for u in range(N_UNITS):
            sel = times[sizes * self.e_max >= self.thresholds[u]]
            if sel.size:
                sel = sel + np.round(rng.normal(0.0, VOLLEY_JITTER_S * self.fs_hz, sel.size)).astype(np.int64)
                sel = sel[(sel >= 0) & (sel < n)]
            out.append(sel.astype(np.int64))
        return out

    def emg(self, trains: list[np.ndarray], n: int) -> np.ndarray:
        """Sum of MUAP trains (uV): ``n`` samples plus the tails of MUAPs that start near the
        block end (the caller overlaps them onto the next block)."""
        x = np.zeros(n + max(m.size for m in self.muaps))
        for u, k in enumerate(trains):
            if not k.size:
                continue
            m = self.muaps[u]
            idx = k[:, None] + np.arange(m.size)[None, :]
            np.add.at(x, idx.ravel(), np.broadcast_to(m, idx.shape).ravel())
        return x
