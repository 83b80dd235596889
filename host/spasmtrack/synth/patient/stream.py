"""Raw signal of the simulated patient, streamed in chunks (never a whole day in RAM).

:class:`PatientSignal` renders a :class:`~.scenario.Timeline` into
:class:`Chunk` objects: EMG in µV at ``fs_emg`` (1 kHz), IMU at ``fs_imu`` (100 Hz) as
accelerations in g and angular rates in dps, and a per-sample lead-off mask. Each event is
rendered once from its own seed when the stream reaches it and dropped when the stream
has passed it; background noise is drawn per 10 s tile from ``(seed, tile)``, so the signal
is identical for any chunk length (a multiple of 10 s) and reproducible from the seed.

Layers: electrode + amplifier noise, mains hum (fundamental + 3rd harmonic, stronger near
appliances), electrode offset drift (slow wander plus settling after re-attachment), MUAP
trains of spasms/clonus/voluntary bursts (:mod:`.muap`), motion artifacts (1-12 Hz damped
transients coinciding with IMU jerks), lead-off and not-worn periods (the input is pulled
to the positive rail, as an ADS1292R's lead-off current sources do, so the ADC rails).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from numpy.typing import ArrayLike

from .muap import MotorUnitPool, arv_100ms_max, tonic_drive
from .scenario import Event, Other, Timeline

TILE_S = 10
G_POSTURE = {
    "sitting": (0.17, 0.06, 0.98),
    "lying": (0.97, 0.05, 0.22),
    "off": (0.0, 0.02, 1.0),
}
GYRO_BIAS_DPS = (0.4, -0.3, 0.2)
ACC_NOISE_G = 0.004
GYRO_NOISE_DPS = 0.07
LEVER_M = 0.05          # sensor distance from the joint axis for tangential acceleration


@dataclass
class Chunk:
    """``t0_s``: start (s from the scenario start). ``emg_uV``: (n_channels, n) float32 at
    fs_emg. ``imu``: (6, n // (fs_emg/fs_imu)) float32 rows ax, ay, az (g), gx, gy, gz (dps).
    ``leadoff``: (n_channels, n) bool, True where the electrode is off."""

    t0_s: float
    fs_emg: int
    fs_imu: int
    emg_uV: np.ndarray
    imu: np.ndarray
    leadoff: np.ndarray

    @property
    def n(self) -> int:
        return int(self.emg_uV.shape[1])


@dataclass
class _Rendered:
    start: int                 # first EMG sample
    emg: np.ndarray | None     # (n_channels, L) µV
    imu_start: int
    imu: np.ndarray | None     # (6, L) deltas
    end: int                   # one past the last EMG sample


def _unit(v: ArrayLike) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    return a / np.linalg.norm(a)


class PatientSignal:
    def __init__(self, timeline: Timeline, fs_emg: int = 1000, fs_imu: int = 100,
                 rail_uV: float = 500_000.0):
        if fs_emg % fs_imu:
            raise ValueError(f"fs_emg {fs_emg} must be a multiple of fs_imu {fs_imu}")
        self.tl = timeline
        self.scn = timeline.scenario
        self.fs = int(fs_emg)
        self.fsi = int(fs_imu)
        self.dec = self.fs // self.fsi
        self.rail_uV = float(rail_uV)
        nch = self.scn.n_channels
        rng = np.random.default_rng([self.scn.seed, 5])
        self.pools = [MotorUnitPool(rng, self.fs, fat_mm=float(rng.uniform(2, 8))) for _ in range(nch)]
        self.noise_uV = self.scn.noise_uV * rng.uniform(0.8, 1.2, nch)
        self.hum_base = rng.uniform(1.0, 3.5, nch)
        self.hum_phase = rng.uniform(0, 2 * np.pi, nch)
        # drift: DC offset + three slow sinusoids + settling after every re-attachment
        self.dc = rng.uniform(-20000, 20000, nch)
        self.wander = [(rng.uniform(500, 3000), rng.uniform(600, 10800), rng.uniform(0, 2 * np.pi))
                       for _ in range(3 * nch)]
        self.settles = []
        for iv in timeline.intervals:
            if iv.kind in ("not_worn", "leadoff"):
                for c in iv.channels:
                    self.settles.append((c, iv.end_s, rng.choice([-1, 1]) * rng.uniform(5000, 15000),
                                         rng.uniform(120, 600)))
        self.hum_iv = [(iv.start_s, iv.end_s, iv.params.get("amp_uV", 10.0)) for iv in timeline.intervals_of("hum")]
        self.off_iv = [(iv.start_s, iv.end_s, iv.channels) for iv in timeline.intervals
                       if iv.kind in ("not_worn", "leadoff")]
        # posture gravity breakpoints
        bt, bv = [], []
        cur = _unit(G_POSTURE[timeline.postures[0][2]])
        bt.append(-1e12)
        bv.append(cur)
        for t, ramp, p in timeline.postures[1:]:
            new = _unit(G_POSTURE[p])
            bt += [t, t + max(ramp, 1e-3)]
            bv += [cur, new]
            cur = new
        bt.append(1e12)
        bv.append(cur)
        self._gt = np.asarray(bt)
        self._gv = np.asarray(bv)
        n_t = np.arange(self.fs)
        f = self.scn.mains_hz
        self._hum_tab = [np.sin(2 * np.pi * f * n_t / self.fs + ph) + 0.15 * np.sin(2 * np.pi * 3 * f * n_t / self.fs + 2 * ph)
                         for ph in self.hum_phase]
        items: list[Event | Other] = list(timeline.events) + list(timeline.others)
        self.items = sorted(items, key=lambda it: (it.onset_s if isinstance(it, Event) else it.start_s) - 3.0)

    # ---- background -------------------------------------------------------------------
    def gravity(self, t_s: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(t_s, self._gt, self._gv[:, k]) for k in range(3)])

    def _drift(self, t_s: np.ndarray, ch: int) -> np.ndarray:
        x = np.full(len(t_s), self.dc[ch])
        for a, p, ph in self.wander[3 * ch: 3 * ch + 3]:
            x += a * np.sin(2 * np.pi * t_s / p + ph)
        for c, te, amp, tau in self.settles:
            if c == ch and te < t_s[-1] and t_s[0] < te + 8 * tau:
                m = t_s >= te
                x[m] += amp * np.exp(-(t_s[m] - te) / tau)
        return x

    def _hum_amp(self, t_s: np.ndarray, ch: int) -> np.ndarray:
        a = np.full(len(t_s), self.hum_base[ch])
        for s, e, amp in self.hum_iv:
            if s < t_s[-1] and e > t_s[0]:
                a[(t_s >= s) & (t_s < e)] += amp
        return a

    # ---- items ------------------------------------------------------------------------
    def _imu_rotation(self, t0: float, theta_deg: np.ndarray, axis_mix: np.ndarray) -> np.ndarray:
        """IMU deltas (6, L) of a limb rotation ``theta_deg`` sampled at fs_imu from ``t0``."""
        g0 = self.gravity(np.array([t0]))[:, 0]
        th = np.deg2rad(theta_deg)
        c, s = np.cos(th), np.sin(th)
        rot = np.stack([g0[0] * c + g0[2] * s, np.full_like(th, g0[1]), -g0[0] * s + g0[2] * c])
        out = np.zeros((6, len(th)))
        out[:3] = rot - g0[:, None]
        w = np.gradient(theta_deg) * self.fsi                       # dps
        alpha = np.gradient(np.deg2rad(w)) * self.fsi               # rad/s^2
        out[0] += LEVER_M * alpha / 9.81
        out[3:] = axis_mix[:, None] * w[None, :]
        return out

    def _render_event(self, ev: Event) -> _Rendered:
        rng = np.random.default_rng([ev.seed, 2])
        fs, fsi = self.fs, self.fsi
        nch = self.scn.n_channels
        d = ev.duration_s
        pad = int(0.3 * fs)
        if ev.kind == "spasm":
            rise = min(rng.uniform(0.1, 0.5), 0.3 * d)
            fall = min(rng.uniform(0.3, 1.2), 0.4 * d)
            drive, pre = tonic_drive(d, fs, rise, fall, float(rng.uniform(0.5, 1.0)), rng)
            L = len(drive) + 2 * pad
            emg = np.zeros((nch, L))
            for c in ev.channels:
                dr = np.concatenate([np.zeros(pad), drive * float(rng.uniform(0.8, 1.0)), np.zeros(pad)])
                emg[c] = self.pools[c].tonic(dr, rng)
            lead = pad + pre
            theta = float(rng.choice([-1, 1]) * rng.uniform(8, 35)) * np.concatenate(
                [np.zeros(pad), drive, np.zeros(pad)])[:: self.dec] / max(drive.max(), 1e-9)
            clonus_theta = None
        else:
            tonic_s = ev.tonic_s if ev.kind == "spasm_with_clonus" else 0.0
            c_start = max(0.0, tonic_s - 0.3)
            c_dur = d - c_start - 0.1
            # burst times: frequency slightly high at the start, slowing at the end
            tt = np.arange(0, c_dur + 0.5, 1.0 / fs)
            frac = tt / max(c_dur, 1e-9)
            f = ev.clonus_hz + 0.6 * np.exp(-tt / 0.8) - 1.2 * np.clip((frac - 0.75) / 0.25, 0, 1) ** 2
            f = f * ev.clonus_hz / max(float(np.mean(f[tt <= c_dur])), 1e-9)
            ph = np.cumsum(f) / fs
            bt = np.searchsorted(ph, np.arange(0, ph[-1])) / fs
            bt = bt[bt <= c_dur]
            if len(bt) < 2:
                bt = np.array([0.0, 1.0 / ev.clonus_hz])
            nb = len(bt)
            env = np.minimum(1.0, (np.arange(nb) + 1) / 2.0) * np.clip((nb - np.arange(nb)) / max(2, 0.2 * nb), 0.3, 1)
            amps = np.clip(float(rng.uniform(0.5, 0.9)) * env * rng.uniform(0.85, 1.15, nb), 0, 1)
            if tonic_s > 0:
                rise = min(rng.uniform(0.1, 0.4), 0.3 * tonic_s)
                drive, pre = tonic_drive(tonic_s, fs, rise, 0.5, float(rng.uniform(0.5, 0.9)), rng)
            else:
                drive, pre = np.zeros(0), 0
            lead = pad + pre
            L = lead + int((d + 0.5) * fs) + pad
            emg = np.zeros((nch, L))
            cl_ch = min(1, nch - 1)
            for c in ev.channels:
                if len(drive):
                    dr = np.zeros(L)
                    dr[pad: pad + len(drive)] = drive * (1.0 if c != cl_ch else 0.6)
                    emg[c] += self.pools[c].tonic(dr, rng)
                if c == cl_ch or ev.kind == "clonus":
                    emg[c] += self.pools[c].clonic((lead / fs) + c_start + bt, amps, L, rng)
            theta = np.zeros(L // self.dec + 1)
            if len(drive):
                dd = drive[:: self.dec] / max(drive.max(), 1e-9) * float(rng.choice([-1, 1]) * rng.uniform(8, 25))
                theta[pad // self.dec: pad // self.dec + len(dd)] += dd
            ti = np.arange(len(theta)) / fsi - lead / fs - c_start
            a_env = np.interp(ti, bt, amps, left=0, right=0)
            cph = np.interp(ti, np.concatenate([bt, [bt[-1] + 1 / ev.clonus_hz]]), np.arange(nb + 1), left=0, right=nb)
            clonus_theta = float(rng.uniform(2, 6)) * a_env * np.sin(2 * np.pi * cph)
            theta = theta + clonus_theta
        # scale each channel to its truth peak (100 ms ARV)
        for c, pk in zip(ev.channels, ev.peak_uV):
            a = arv_100ms_max(emg[c], fs)
            if a > 0:
                emg[c] *= pk / a
        start = int(round(ev.onset_s * fs)) - lead
        imu_start = start // self.dec
        mix = np.array([0.12, 1.0, -0.08])
        imu = self._imu_rotation(ev.onset_s, theta, mix)
        return _Rendered(start, emg, imu_start, imu, start + emg.shape[1])

    def _render_other(self, o: Other) -> _Rendered:
        rng = np.random.default_rng([o.seed, 2])
        fs, fsi, nch = self.fs, self.fsi, self.scn.n_channels
        start = int(round(o.start_s * fs))
        dur = o.end_s - o.start_s
        if o.kind == "voluntary":
            drive, pre = tonic_drive(dur, fs, min(0.05, 0.3 * dur), min(0.08, 0.3 * dur), float(rng.uniform(0.3, 0.7)), rng)
            emg = np.zeros((nch, len(drive)))
            c = int(o.params.get("channel", 0))
            emg[c] = self.pools[c].tonic(drive, rng)
            a = arv_100ms_max(emg[c], fs)
            if a > 0:
                emg[c] *= float(o.params.get("peak_uV", 40.0)) / a
            theta = float(rng.uniform(5, 15)) * drive[:: self.dec] / max(drive.max(), 1e-9)
            start -= pre
            imu = self._imu_rotation(o.start_s, theta, np.array([0.1, 1.0, 0.1]))
            return _Rendered(start, emg, start // self.dec, imu, start + emg.shape[1])
        if o.kind == "artifact":
            L = int(0.6 * fs)
            t = np.arange(L) / fs
            f = rng.uniform(1.5, 12.0)
            tau = rng.uniform(0.04, 0.15)
            wave = np.sin(2 * np.pi * f * t + rng.uniform(0, np.pi)) * np.exp(-t / tau) * (1 - np.exp(-t / 0.005))
            wave /= max(np.max(np.abs(wave)), 1e-9)
            amp = float(o.params.get("amp_uV", 300.0))
            emg = np.stack([wave * amp * rng.uniform(0.3, 1.0) * rng.choice([-1, 1]) for _ in range(nch)])
            Li = L // self.dec
            ti = np.arange(Li) / fsi
            jerk = np.exp(-0.5 * ((ti - 0.03) / 0.02) ** 2)
            imu = np.zeros((6, Li))
            imu[:3] = rng.normal(0, 1, 3)[:, None] * rng.uniform(0.3, 2.0) * jerk / math.sqrt(3)
            imu[3:] = rng.normal(0, 1, 3)[:, None] * rng.uniform(5, 40) * jerk
            return _Rendered(start, emg, start // self.dec, imu, start + L)
        # transfer / roll: whole-body motion (IMU only; artifacts are separate items)
        Li = max(2, int(dur * fsi))
        k = max(4, int(dur * 3))
        knots = np.linspace(0, Li - 1, k)
        win = np.sin(np.pi * np.arange(Li) / (Li - 1))
        big = o.kind == "transfer"
        imu = np.zeros((6, Li))
        for ax in range(6):
            sc = (rng.uniform(0.1, 0.5) if ax < 3 else rng.uniform(30, 120)) * (1.0 if big else 0.3)
            imu[ax] = np.interp(np.arange(Li), knots, rng.normal(0, sc, k)) * win
        return _Rendered(start, None, start // self.dec, imu, start + Li * self.dec)

    def _render(self, it: Event | Other) -> _Rendered:
        return self._render_event(it) if isinstance(it, Event) else self._render_other(it)

    def _tile_noise(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """EMG noise (unit variance) and IMU noise (g, dps) of 10 s tile ``k``."""
        rng = np.random.default_rng([self.scn.seed, 11, k])
        nch, tile_n = self.scn.n_channels, TILE_S * self.fs
        emg = rng.standard_normal((nch, tile_n), dtype=np.float32)
        imu = rng.standard_normal((6, tile_n // self.dec), dtype=np.float32)
        imu[:3] *= ACC_NOISE_G
        imu[3:] *= GYRO_NOISE_DPS
        return emg, imu

    # ---- chunks -----------------------------------------------------------------------
    def chunks(self, chunk_s: float = 60.0, start_s: float = 0.0, end_s: float | None = None) -> Iterator[Chunk]:
        """Yield consecutive chunks of ``chunk_s`` seconds (a multiple of 10 s) covering
        [start_s, end_s) (default: the whole scenario; start_s on a 10 s boundary)."""
        if chunk_s <= 0 or (chunk_s * 1000) % (TILE_S * 1000):
            raise ValueError(f"chunk_s must be a positive multiple of {TILE_S} s (got {chunk_s})")
        if start_s % TILE_S:
            raise ValueError(f"start_s must be on a {TILE_S} s boundary (got {start_s})")
        end_s = self.scn.duration_s if end_s is None else min(end_s, self.scn.duration_s)
        fs, fsi, dec, nch = self.fs, self.fsi, self.dec, self.scn.n_channels
        active: list[_Rendered] = []
        j = 0
        items = self.items
        t0 = float(start_s)
        n_chunk = int(round(chunk_s * fs))
        while t0 < end_s - 1e-9:
            n = min(n_chunk, int(round((end_s - t0) * fs)))
            n -= n % dec
            if n <= 0:
                break
            s0 = int(round(t0 * fs))
            s1 = s0 + n
            t = (s0 + np.arange(n)) / fs
            emg = np.empty((nch, n), dtype=np.float64)
            # noise per 10 s tile
            tile_n = TILE_S * fs
            first_tile, last_tile = s0 // tile_n, (s1 - 1) // tile_n
            tiles = [self._tile_noise(k) for k in range(first_tile, last_tile + 1)]
            off = s0 - first_tile * tile_n
            noise = np.concatenate([tn[0] for tn in tiles], axis=1)[:, off: off + n]
            inoise = np.concatenate([tn[1] for tn in tiles], axis=1)[:, off // dec: off // dec + n // dec]
            ti_s = t[::dec]
            idx = (s0 + np.arange(n)) % fs
            for c in range(nch):
                hum = np.repeat(self._hum_amp(ti_s, c), dec) * self._hum_tab[c][idx]
                emg[c] = noise[c] * self.noise_uV[c] + hum + np.repeat(self._drift(ti_s, c), dec)
            ni = n // dec
            i0 = s0 // dec
            imu = np.empty((6, ni))
            imu[:3] = self.gravity(ti_s)
            imu[3:] = np.asarray(GYRO_BIAS_DPS)[:, None]
            imu += inoise
            # items starting before the chunk end
            while j < len(items):
                it = items[j]
                st = it.onset_s if isinstance(it, Event) else it.start_s
                if st - 3.0 >= t[-1]:
                    break
                r = self._render(it)
                j += 1
                if r.end > s0:
                    active.append(r)
            keep = []
            for r in active:
                a, b = max(r.start, s0), min(r.end, s1)
                if r.emg is not None and a < b:
                    emg[:, a - s0: b - s0] += r.emg[:, a - r.start: b - r.start]
                if r.imu is not None:
                    ia, ib = max(r.imu_start, i0), min(r.imu_start + r.imu.shape[1], i0 + ni)
                    if ia < ib:
                        imu[:, ia - i0: ib - i0] += r.imu[:, ia - r.imu_start: ib - r.imu_start]
                if r.end > s1 or (r.imu is not None and r.imu_start + r.imu.shape[1] > i0 + ni):
                    keep.append(r)
            active = keep
            leadoff = np.zeros((nch, n), dtype=bool)
            for off_s, on_s, chs in self.off_iv:
                if off_s < t[-1] and on_s > t[0]:
                    m = (t >= off_s) & (t < on_s)
                    for c in chs:
                        leadoff[c] |= m
            for c in range(nch):
                if leadoff[c].any():
                    emg[c, leadoff[c]] = self.rail_uV
            # not worn: the device lies still (no body motion)
            for iv in self.tl.intervals_of("not_worn"):
                if iv.start_s < ti_s[-1] and iv.end_s > ti_s[0]:
                    m = (ti_s >= iv.start_s + 30) & (ti_s < iv.end_s - 30)
                    imu[:3, m] = self.gravity(ti_s[m]) + inoise[:3, m]
                    imu[3:, m] = np.asarray(GYRO_BIAS_DPS)[:, None] + inoise[3:, m]
            yield Chunk(t0, fs, fsi, emg.astype(np.float32), imu.astype(np.float32), leadoff)
            t0 += n / fs
