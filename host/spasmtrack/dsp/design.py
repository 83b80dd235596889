"""Float filter designs for the EMG and IMU chains (scipy second-order sections).

All frequencies are in Hz and every function takes the sampling rate explicitly: nothing
here assumes 1 kHz.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

#: EMG sampling rates the firmware supports (Hz).
EMG_FS_RANGE = (500, 2000)
#: The band-pass upper edge must stay below this fraction of the sampling rate
#: (0.45 fs = 0.9 of Nyquist): above it the low-pass has no room to act.
MAX_HIGH_EDGE_FRACTION = 0.45
#: Order of the Butterworth high-pass at the lower band edge (removes motion and offsets).
HP_ORDER = 4
#: Order of the Butterworth low-pass at the upper band edge.
LP_ORDER = 2
#: Quality factor of the optional mains notch: -3 dB width = f0 / Q (50 Hz -> 1.7 Hz wide).
NOTCH_Q = 30.0
#: Quality factor of the third-harmonic notches (150 / 180 Hz) that run behind the mains
#: notch: -3 dB width 15 / 18 Hz, so a mains drift of +-1 % (+-1.5 / +-1.8 Hz at the third
#: harmonic) still leaves >= 14 dB of attenuation (docs/dsp.md gives the EMG power it costs).
HARMONIC_Q = 10.0
#: A third-harmonic notch is made only where the harmonic lies inside the EMG band and at or
#: below this fraction of the sampling rate (0.8 x Nyquist; nearer Nyquist the bilinear
#: transform warps and widens the notch). Elsewhere the band-pass already removes it.
MAX_HARMONIC_FRACTION = 0.4
#: Low-frequency (motion artifact) band, computed at the envelope rate (Hz).
LF_BAND_HZ = (1.0, 20.0)
#: Optional low-pass envelope cutoff (Hz), applied at the envelope rate.
ENV_LP_HZ = 8.0
#: Gravity-removal high-pass cutoff for the accelerometer (Hz), 2nd-order Butterworth.
IMU_HP_HZ = 0.5
#: Envelope rate target (Hz): the EMG chain decimates to about this.
ENV_TARGET_HZ = 100
#: Moving-window length of the ARV envelope (s): 100 ms, as in Delsys on-board RMS.
ENV_WINDOW_S = 0.100


class DesignError(ValueError):
    """An unsupported sampling rate, band or mains frequency (raised at configuration time)."""


@dataclass(frozen=True)
class EmgDesign:
    fs_hz: int
    band_hz: tuple[float, float]
    bandpass: np.ndarray          # float SOS (n, 6): HP sections then LP section
    notch50: np.ndarray           # float SOS (1, 6)
    notch60: np.ndarray           # float SOS (1, 6)
    notch150: np.ndarray | None   # float SOS (1, 6), or None: 150 Hz outside the band (see harmonic_notch)
    notch180: np.ndarray | None   # float SOS (1, 6), or None
    decim: int                    # raw samples per envelope sample
    env_fs_hz: float
    env_win: int                  # envelope samples per moving window
    lf: np.ndarray                # float SOS (1, 6) at env_fs_hz
    env_lp: np.ndarray            # float SOS (1, 6) at env_fs_hz


def check_emg_rate_and_band(fs_hz: float, band_hz: tuple[float, float]) -> None:
    lo_fs, hi_fs = EMG_FS_RANGE
    if not (lo_fs <= fs_hz <= hi_fs):
        raise DesignError(f"EMG sampling rate {fs_hz} Hz is not supported (supported: {lo_fs}-{hi_fs} Hz)")
    if int(fs_hz) != fs_hz or int(fs_hz) % ENV_TARGET_HZ:
        raise DesignError(f"EMG sampling rate {fs_hz} Hz must be a whole multiple of the "
                          f"{ENV_TARGET_HZ} Hz envelope rate")
    lo, hi = band_hz
    if not (5.0 <= lo < hi):
        raise DesignError(f"EMG band {lo}-{hi} Hz is invalid: need 5 Hz <= low edge < high edge")
    if hi > MAX_HIGH_EDGE_FRACTION * fs_hz:
        raise DesignError(
            f"EMG band upper edge {hi} Hz is too high for {fs_hz} Hz sampling "
            f"(at most {MAX_HIGH_EDGE_FRACTION * fs_hz:g} Hz = 0.9 x Nyquist)")


def design_emg(fs_hz: int, band_hz: tuple[float, float]) -> EmgDesign:
    check_emg_rate_and_band(fs_hz, band_hz)
    lo, hi = band_hz
    hp = signal.butter(HP_ORDER, lo, btype="highpass", fs=fs_hz, output="sos")
    lp = signal.butter(LP_ORDER, hi, btype="lowpass", fs=fs_hz, output="sos")
    notches = []
    for f0 in (50.0, 60.0):
        b, a = signal.iirnotch(f0, NOTCH_Q, fs=fs_hz)
        notches.append(np.concatenate([b, a])[None, :])
    h150, h180 = (harmonic_notch(3.0 * f0, fs_hz, band_hz) for f0 in (50.0, 60.0))
    decim = int(fs_hz) // ENV_TARGET_HZ
    env_fs = fs_hz / decim
    env_win = max(1, round(ENV_WINDOW_S * env_fs))
    lf = signal.butter(1, LF_BAND_HZ, btype="bandpass", fs=env_fs, output="sos")
    env_lp = signal.butter(2, ENV_LP_HZ, btype="lowpass", fs=env_fs, output="sos")
    return EmgDesign(fs_hz=int(fs_hz), band_hz=(float(lo), float(hi)),
                     bandpass=np.vstack([hp, lp]), notch50=notches[0], notch60=notches[1],
                     notch150=h150, notch180=h180,
                     decim=decim, env_fs_hz=env_fs, env_win=env_win, lf=lf, env_lp=env_lp)


def harmonic_notch(f_hz: float, fs_hz: float, band_hz: tuple[float, float]) -> np.ndarray | None:
    """The notch (Q :data:`HARMONIC_Q`) at a mains harmonic ``f_hz`` as a float SOS (1, 6), or
    None where there is nothing to notch: ``f_hz`` at or above the band's upper edge (the
    band-pass removes it) or above ``MAX_HARMONIC_FRACTION * fs_hz`` (too close to Nyquist)."""
    if f_hz >= band_hz[1] or f_hz > MAX_HARMONIC_FRACTION * fs_hz:
        return None
    b, a = signal.iirnotch(f_hz, HARMONIC_Q, fs=fs_hz)
    return np.concatenate([b, a])[None, :]


def design_imu_highpass(fs_hz: float) -> np.ndarray:
    if not (10 <= fs_hz <= 1000):
        raise DesignError(f"IMU sampling rate {fs_hz} Hz is not supported (supported: 10-1000 Hz)")
    return signal.butter(2, IMU_HP_HZ, btype="highpass", fs=fs_hz, output="sos")
