"""The limb-mounted IMU at 100 Hz: accelerometer in g (gravity included), gyroscope in dps.

The sensor's orientation is a pitch angle (flexion of the limb segment, about the
sensor's y axis) and a roll angle (about x). Gravity in sensor axes is
``(sin p, -cos p sin r, cos p cos r)`` g; linear accelerations add to it; the gyroscope
reads the angle rates. Posture sets the base angles (sitting: segment horizontal,
standing and walking: near vertical, lying: horizontal with the roll of the side slept on).

Per context: gait swings the pitch at the stride rate with a heel-strike transient
(a 15 Hz damped oscillation, 0.5-1.2 g) each stride; a vehicle adds 10-30 Hz band-limited
vibration (0.02-0.1 g RMS, Griffin 1990), bumps and slow cornering forces; wheelchair
pushes surge the body at the push rate over floor vibration; transfers swing the segment
through 30-90 degrees at 40-120 dps;
passive stretches at physiotherapy move it through a trapezoidal range; rolling in bed
turns the roll by 90 degrees. Involuntary episodes move the limb 50-150 ms after the EMG:
the muscle force (the episode's excitation through a 100 ms twitch low-pass) turns the
segment, so clonic beats shake it at the clonus rate.
"""
from __future__ import annotations

import numpy as np
from scipy import signal as sps

from .drive import EpisodeDrive
from .script import DayScript, Episode

FS_IMU = 100


def _bandnoise(rng: np.random.Generator, n: int, lo: float, hi: float, rms: float) -> np.ndarray:
    sos = sps.butter(2, [lo, min(hi, 0.45 * FS_IMU)], btype="band", fs=FS_IMU, output="sos")
    x = sps.sosfilt(sos, rng.normal(0.0, 1.0, n + 200))[200:]
    return rms * x / max(float(np.std(x)), 1e-9)


def _lowpass(x: np.ndarray, fc: float) -> np.ndarray:
    sos = sps.butter(2, fc, fs=FS_IMU, output="sos")
    return sps.sosfilt(sos, x)


def _taper(m: int, edge_s: float = 1.0) -> np.ndarray:
    w = np.ones(m)
    e = min(int(edge_s * FS_IMU), m // 2)
    if e:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(e) / e)
        w[:e], w[m - e:] = ramp, ramp[::-1]
    return w


def _smooth(x: np.ndarray, width_s: float = 1.0) -> np.ndarray:
    k = np.hanning(int(width_s * FS_IMU) + 2)[1:-1]
    k /= k.sum()
    pad = k.size
    xp = np.concatenate((np.full(pad, x[0]), x, np.full(pad, x[-1])))
    return np.convolve(xp, k, mode="same")[pad:-pad]


def render_imu(script: DayScript, drives: list[tuple[Episode, EpisodeDrive]],
               bursts: dict[int, list[tuple[float, float]]], bumps_s: list[float], fs_emg: int,
               rng: np.random.Generator) -> np.ndarray:
    """(6, n) IMU at FS_IMU for the whole day: ax, ay, az (g), gx, gy, gz (dps)."""
    n = int(np.ceil(script.duration_s * FS_IMU))
    base = np.zeros(n)           # posture pitch of each segment (degrees), smoothed below
    osc = np.zeros(n)            # movement within a segment (degrees), zero at its ends
    roll = np.zeros(n)
    lin = np.zeros((3, n))       # linear acceleration, g
    gyro_extra = np.zeros((3, n))
    t_all = np.arange(n) / FS_IMU
    roll_state = 0.0
    for k, seg in enumerate(script.segments):
        a, b = int(seg.start_s * FS_IMU), min(n, int(seg.end_s * FS_IMU))
        t = t_all[a:b] - seg.start_s
        m = b - a
        c = seg.context
        if c == "walking":
            f = seg.params["stride_hz"]
            base[a:b] = 80.0
            osc[a:b] = seg.params["swing_deg"] * np.sin(2 * np.pi * f * t) * _taper(m)
            lin[2, a:b] += 0.1 * np.sin(4 * np.pi * f * t)
            strike = np.arange(0.25 / f, m / FS_IMU, 1.0 / f)
            for ts in strike:
                i = a + int(ts * FS_IMU)
                w = min(30, n - i)
                tt = np.arange(w) / FS_IMU
                lin[0, i:i + w] += rng.uniform(0.5, 1.2) * np.exp(-tt / 0.04) * np.cos(2 * np.pi * 15.0 * tt)
        elif c == "sleep":
            rolls = bursts.get(k, [])
            r = np.full(m, roll_state)
            for (s0, s1) in rolls:
                i0, i1 = int((s0 - seg.start_s) * FS_IMU), int((s1 - seg.start_s) * FS_IMU)
                new = float(rng.choice([-90.0, 0.0, 90.0]))
                ramp = np.linspace(roll_state, new, max(1, i1 - i0))
                r[i0:i1] = ramp[: max(0, min(i1, m) - i0)]
                r[i1:] = new
                roll_state = new
            roll[a:b] = r
        elif c == "transfer":
            # peak angular rate of sin^2 over the transfer: swing * pi / duration
            swing = float(np.clip(seg.params["rotation_dps"] * (m / FS_IMU) / np.pi, 30.0, 90.0))
            osc[a:b] = swing * np.sin(np.pi * t / (m / FS_IMU)) ** 2
            lin[:, a:b] += _bandnoise(rng, m, 0.5, 5.0, 0.1) * np.ones((3, 1))
            roll_state = 0.0
        elif c == "physio":
            p = seg.params["stretch_period_s"]
            rng_deg = seg.params["stretch_dps"] * p / 4
            phase = (t % p) / p
            tri = np.clip(np.minimum(phase * 4, (1 - phase) * 4), 0.0, 1.0)
            osc[a:b] = rng_deg * tri * _taper(m)
        if c == "vehicle":
            lo, hi = seg.params["vib_hz"]
            for ax in range(3):
                lin[ax, a:b] += _bandnoise(rng, m, lo, hi, seg.params["vib_g"] / np.sqrt(3))
                gyro_extra[ax, a:b] += _bandnoise(rng, m, lo, hi, 4.0)
            lin[1, a:b] += _lowpass(rng.normal(0, 1, m), 0.15) * 3.0 * 0.2       # cornering
            lin[0, a:b] += _lowpass(rng.normal(0, 1, m), 0.1) * 3.0 * 0.1        # braking
            for tb in bumps_s:
                i = int(tb * FS_IMU)
                if a <= i and i + 40 < b:
                    tt = np.arange(40) / FS_IMU
                    lin[2, i:i + 40] += rng.uniform(0.3, 0.8) * np.exp(-tt / 0.08) * np.sin(2 * np.pi * 10.0 * tt)
        elif c == "wheelchair":
            f = seg.params["push_hz"]
            lin[0, a:b] += 0.15 * np.maximum(np.sin(2 * np.pi * f * t), 0.0) ** 2
            for ax in range(3):
                lin[ax, a:b] += _bandnoise(rng, m, 10.0, 30.0, seg.params["vib_g"] / np.sqrt(3))
            gyro_extra[2, a:b] += 8.0 * np.sin(2 * np.pi * f * t)
        elif c in ("desk", "rest"):
            for (s0, s1) in bursts.get(k, []):
                i0, i1 = int(s0 * FS_IMU), int(s1 * FS_IMU)
                if i1 > i0:
                    gyro_extra[1, i0:i1] += rng.uniform(5.0, 25.0) * np.hanning(i1 - i0)
    # posture changes take about a second
    pitch = _smooth(base) + osc
    roll = _smooth(roll)
    # involuntary episodes turn the limb: force = excitation through a 100 ms twitch
    for ep, d in drives:
        if ep.imu_dps <= 0:
            continue
        dec = fs_emg // FS_IMU
        e = d.excitation[: d.excitation.size // dec * dec].reshape(-1, dec).mean(axis=1)
        if d.volley_idx.size:
            v = np.zeros_like(e)
            np.add.at(v, np.clip((d.volley_idx - d.start) // dec, 0, v.size - 1), d.volley_size * 5.0)
            e = e + v
        force = sps.lfilter([1 - np.exp(-1 / (0.1 * FS_IMU))], [1, -np.exp(-1 / (0.1 * FS_IMU))], e)
        rate = np.gradient(force) * FS_IMU           # the gyroscope reads it through the pitch
        peak = float(np.max(np.abs(rate))) or 1.0
        shift = int(ep.imu_delay_s * FS_IMU)
        i0 = int(ep.t0_s * FS_IMU) + shift
        i1 = min(n, i0 + rate.size)
        if i1 > i0:
            pitch[i0:i1] += np.cumsum(ep.imu_dps * rate[: i1 - i0] / peak) / FS_IMU
    p, r = np.radians(pitch), np.radians(roll)
    acc = np.vstack([np.sin(p), -np.cos(p) * np.sin(r), np.cos(p) * np.cos(r)]) + lin
    gyro = np.vstack([np.gradient(roll) * FS_IMU, np.gradient(pitch) * FS_IMU, np.zeros(n)]) + gyro_extra
    acc += rng.normal(0.0, 0.004, acc.shape)             # accelerometer noise (g)
    gyro += rng.normal(0.0, 0.1, gyro.shape)             # gyroscope noise (dps)
    return np.vstack([acc, gyro])
