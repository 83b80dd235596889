"""What else reaches the electrodes (uV at the EMG rate): amplifier and electrode noise,
mains hum switching on and off, ECG bleed, cable sway in a vehicle, sweat, an electrode
peeling off.

- Noise: white, ``noise_uv`` RMS (electrode-skin thermal noise plus the amplifier's),
  lower by ``noise_factor`` while sweat lowers the skin impedance.
- Hum: 50 or 60 Hz and a third harmonic, 5-25 uV, 20 ms switching ramps, a slow 10 %
  amplitude wobble; halved under sweat (better contact, smaller common-mode conversion).
- ECG: the beat of a real ECG (PyWavelets' packaged ``ecg`` record, 1024 samples of an
  MIT-BIH-style lead at 360 Hz: three beats, 66 bpm, QRS about 80 ms at that rate),
  resampled to the EMG rate and scaled to ``uv`` at the R wave, repeated at the
  patient's heart rate with respiratory sinus arrhythmia (5 % at 0.25 Hz) and 2 % jitter.
- Cable sway: 1-10 Hz transients (``uv``) where the vehicle bumps, and a continuous
  sway at a fifth of that.
- Sweat: a slow electrochemical baseline change (``drift_uv``, a sigmoid over the span).
- Peel-off: a growing 0.2-2 Hz baseline wander and contact pops, then the lead comes
  off: the front end rails (its lead-off current drives the input to full scale) or reads
  a flat line, until the electrode is pressed back.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import signal as sps

from .script import Artifact, DayScript

ECG_SOURCE_HZ = 360


@functools.cache
def ecg_beat(fs_hz: int) -> np.ndarray:
    """One real ECG beat (R wave = 1.0, baseline 0), from R - 0.35 s to R + 0.55 s."""
    import pywt.data

    x = pywt.data.ecg().astype(float)
    r = int(np.argmax(x[400:700])) + 400
    beat = x[r - int(0.35 * ECG_SOURCE_HZ): r + int(0.55 * ECG_SOURCE_HZ)]
    beat = beat - np.linspace(beat[0], beat[-1], beat.size)       # no step between beats
    beat = sps.resample_poly(beat, fs_hz, ECG_SOURCE_HZ)
    return beat / beat[int(0.35 * fs_hz)]


def _lowpass_noise(rng: np.random.Generator, n: int, lo: float, hi: float, fs: int) -> np.ndarray:
    sos = sps.butter(2, [lo, hi], btype="band", fs=fs, output="sos")
    x = sps.sosfilt(sos, rng.normal(0.0, 1.0, n + fs))[fs:]
    return x / max(float(np.std(x)), 1e-12)


def _span(a: Artifact, fs: int, n: int) -> tuple[int, int]:
    return max(0, int(a.start_s * fs)), min(n, int(a.end_s * fs))


def render_artifacts(script: DayScript, fs: int, n: int, rng: np.random.Generator,
                     bumps_s: list[float]) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """(additive uV, noise scale per sample, lost spans (start_s, end_s)). The rails and flat
    line of a lead-off are applied by :func:`apply_lead_off` after everything is summed."""
    x = np.zeros(n)
    noise_scale = np.ones(n)
    hum_scale = np.ones(n)
    lost: list[tuple[float, float]] = []
    for a in script.artifacts:
        if a.kind == "sweat":
            i, j = _span(a, fs, n)
            t = np.linspace(-6.0, 6.0, j - i)
            x[i:j] += a.params["drift_uv"] / (1.0 + np.exp(-t))
            x[j:] += a.params["drift_uv"]
            noise_scale[i:j] *= a.params["noise_factor"]
            hum_scale[i:j] *= 0.5
    for a in script.artifacts:
        i, j = _span(a, fs, n)
        m = j - i
        if m <= 0:
            continue
        t = np.arange(i, j) / fs
        if a.kind == "hum":
            ramp = np.minimum(1.0, np.minimum(np.arange(m), np.arange(m)[::-1]) / (0.02 * fs))
            wob = 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.01, 0.05) * t)
            ph = rng.uniform(0, 2 * np.pi)
            hz = a.params["hz"]
            x[i:j] += a.params["uv"] * ramp * wob * hum_scale[i:j] * (
                np.sin(2 * np.pi * hz * t + ph) + a.params["harmonic3"] * np.sin(6 * np.pi * hz * t + 3 * ph))
        elif a.kind == "ecg":
            beat = ecg_beat(fs)
            rr0 = 60.0 / a.params["bpm"]
            tb = a.start_s + rng.uniform(0.0, rr0)
            pre = int(0.35 * fs)
            while tb < a.end_s:
                k = int(tb * fs) - pre
                lo, hi = max(k, 0), min(k + beat.size, n)
                if hi > lo:
                    x[lo:hi] += a.params["uv"] * beat[lo - k: hi - k]
                tb += rr0 * (1.0 + 0.05 * np.sin(2 * np.pi * 0.25 * tb) + rng.normal(0.0, 0.02))
        elif a.kind == "cable_sway":
            sway = _lowpass_noise(rng, m, 1.0, 10.0, fs)
            env = np.full(m, 0.2)
            for tb in bumps_s:
                if a.start_s <= tb < a.end_s:
                    k = int((tb - a.start_s) * fs)
                    w = min(int(0.6 * fs), m - k)
                    env[k:k + w] += np.exp(-np.arange(w) / (0.15 * fs))
            x[i:j] += a.params["uv"] * env * sway
        elif a.kind == "peel_off":
            off = int(a.params["lead_off_s"] * fs)
            grow = np.linspace(0.0, 1.0, max(1, off - i)) ** 2
            x[i:off] += a.params["wander_uv"] * grow * _lowpass_noise(rng, off - i, 0.2, 2.0, fs)
            for tp in rng.uniform(a.start_s, a.params["lead_off_s"], int(rng.integers(2, 8))):
                k = int(tp * fs)
                w = min(int(0.3 * fs), n - k)
                x[k:k + w] += rng.choice([-1, 1]) * rng.uniform(0.2, 1.0) * a.params["wander_uv"] \
                    * np.exp(-np.arange(w) / (0.05 * fs))
            lost.append((round(a.params["lead_off_s"], 3), round(a.end_s, 3)))
    return x, noise_scale, lost


def apply_lead_off(emg: np.ndarray, script: DayScript, fs: int, full_scale_uv: float) -> None:
    """Overwrite lead-off spans with the rail or a flat line (in place)."""
    for a in script.artifacts:
        if a.kind == "peel_off":
            i, j = int(a.params["lead_off_s"] * fs), int(a.end_s * fs)
            emg[i:j] = full_scale_uv if a.params["rail"] else 0.0
