"""Reproducible EMG-like test signals (benchmarks and tests of the DSP core)."""
from __future__ import annotations

import numpy as np
from scipy import signal


def emg_like(n: int, fs: float, rms_uv: float, seed: int) -> np.ndarray:
    """Surface-EMG-like noise in uV: Gaussian noise shaped to a spectrum between ~40 and
    300 Hz, amplitude-modulated by a slow random envelope, scaled to ``rms_uv`` RMS."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(2, [40.0, min(300.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(n + 2000))[2000:]
    env = 1.0 + 0.5 * signal.sosfilt(signal.butter(1, 2.0, fs=fs, output="sos"), rng.standard_normal(n)) * 20
    x = x * np.clip(env, 0.2, None)
    return x / np.sqrt(np.mean(x * x)) * rms_uv


def recording_uv(seconds: float, fs: float, seed: int = 1, hum_uv: float = 20.0) -> np.ndarray:
    """A benchmark recording in uV: 5 uV background, 0.5-2 s bursts of 50-800 uV, an
    electrode offset of 25 mV drifting slowly, and ``hum_uv`` (peak) of 50 Hz hum."""
    n = int(seconds * fs)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    x = emg_like(n, fs, 5.0, seed)
    gate = np.zeros(n)
    pos = int(rng.uniform(0.5, 3) * fs)
    while pos < n:
        length = int(rng.uniform(0.5, 2.0) * fs)
        gate[pos:pos + length] = rng.uniform(50, 800)
        pos += length + int(rng.uniform(1, 6) * fs)
    x = x + emg_like(n, fs, 1.0, seed + 1) * gate
    return x + 25_000 + 2_000 * np.sin(2 * np.pi * t / 40) + hum_uv * np.sin(2 * np.pi * 50 * t)
