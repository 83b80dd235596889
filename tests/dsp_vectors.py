"""Test and benchmark signals for the DSP core, in ADC counts of a board."""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
from scipy import signal

from spasmtrack import firmware
from spasmtrack.dsp.testsignals import emg_like

ROOT = Path(__file__).resolve().parents[1]


def load_coeffs(board: str = "sim") -> ModuleType:
    return firmware.board_module(board)


def vectors(c: ModuleType, n: int = 12000, seed: int = 7) -> dict[str, np.ndarray]:
    """Named raw-count vectors covering the AFE's range (int64, clipped to full scale)."""
    fs = c.FS_HZ
    fsmax = int(c.ADC_MAX) - 1
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    uv = c.UV_PER_COUNT
    out: dict[str, np.ndarray] = {}
    out["noise"] = rng.normal(0, 200, n) + 1000
    bursts = emg_like(n, fs, 300.0, seed) / uv * ((t % 2.0) > 1.3)
    out["bursts"] = bursts + rng.normal(0, 80, n) + 250_000
    step = np.where(t < t[n // 3], -3_000_000, 5_000_000).astype(float)
    step[2 * n // 3:] = -fsmax
    out["steps"] = step + rng.normal(0, 50, n)
    out["square_fullscale_5hz"] = np.where(np.sin(2 * np.pi * 5 * t) >= 0, fsmax, -fsmax - 1)
    out["square_fullscale_150hz"] = np.where(np.sin(2 * np.pi * 150 * t + 0.1) >= 0, fsmax, -fsmax - 1)
    out["dc_plus_max"] = np.full(n, float(fsmax)) - np.abs(rng.normal(0, 20, n))
    out["dc_minus_max"] = np.full(n, float(-fsmax - 1)) + np.abs(rng.normal(0, 20, n))
    out["uniform_fullscale"] = rng.integers(-fsmax - 1, fsmax + 1, n)
    # the input that maximises the band-pass output at the end: sign of the time-reversed
    # impulse response at full scale (reaches the l1-norm bound the quantizer designed for)
    from spasmtrack.dsp.quantize import IntCascade  # noqa: F401  (documents the origin)
    imp = np.zeros(n)
    imp[0] = 1.0
    sos = _float_bp(c)
    h = signal.sosfilt(sos, imp)
    worst = np.where(h[::-1] >= 0, fsmax, -fsmax - 1)
    out["worst_case_l1"] = worst
    return {k: np.clip(np.round(v), -fsmax - 1, fsmax).astype(np.int64) for k, v in out.items()}


def _float_bp(c: ModuleType) -> np.ndarray:
    from spasmtrack.dsp.design import design_emg
    return design_emg(c.FS_HZ, (c.BAND_LO_HZ, c.BAND_HI_HZ)).bandpass
