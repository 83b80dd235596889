"""Physical units -> the raw counts a board's EMG front end and IMU deliver."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boards import FrontEnd, known_boards, load_board
from ..errors import UserError
from ..replay import MAINS_AUTO


@dataclass
class BoardScale:
    """µV and physical IMU units -> raw counts for one board (from its board.json)."""

    name: str
    n_channels: int
    fs_emg: int                      # Hz
    fs_imu: int                      # Hz
    uv_per_count: float              # µV at the electrodes per EMG count
    adc_min: int
    adc_max: int
    lsb_per_g: float                 # accelerometer counts per g
    lsb_per_dps: float               # gyroscope counts per degree/s
    mains_hz: int = MAINS_AUTO       # 0 off, 50/60 fixed, MAINS_AUTO: board.json null (as the runtime does)
    frontend: FrontEnd | None = None  # an analog module's AC coupling (stateful)

    def emg_counts(self, uv: np.ndarray) -> np.ndarray:
        """(n_channels, n) µV -> int32 counts, as the ADC delivers them (clipped at full scale)."""
        if self.frontend is not None:   # electrode DC offset never reaches an AC-coupled module's ADC
            uv = self.frontend.process(uv)
        out: np.ndarray = np.clip(np.rint(uv / self.uv_per_count), self.adc_min, self.adc_max).astype("<i4")
        return out

    def imu_counts(self, imu: np.ndarray) -> np.ndarray:
        """(6, n) g and degree/s -> int16-range int32 counts."""
        out = np.empty(imu.shape, dtype=np.float64)
        out[:3] = imu[:3] * self.lsb_per_g
        out[3:] = imu[3:] * self.lsb_per_dps
        counts: np.ndarray = np.clip(np.rint(out), -32768, 32767).astype("<i4")
        return counts


def board_scale(name: str) -> BoardScale:
    """The conversion for board ``name``; an unknown board is a :class:`UserError`."""
    if name not in known_boards():
        raise UserError(f"unknown board {name!r} (known: {', '.join(known_boards())})")
    b = load_board(name)
    emg, imu = b.emg, b.imu or {}
    lo, hi = b.count_range
    # LSB sizes as the firmware's coefficients assume them (coeffgen: datasheet values when given)
    acc_mg = float(imu.get("accel_lsb_mg", imu["accel_range_g"] * 1000 / 32768))
    gyro_mdps = float(imu.get("gyro_lsb_mdps", imu["gyro_range_dps"] * 1000 / 32768))
    return BoardScale(name, int(emg.get("channels", 1)), int(emg["fs_hz"]), int(imu["fs_hz"]),
                      float(b.uv_per_count), lo, hi, 1000.0 / acc_mg, 1000.0 / gyro_mdps,
                      MAINS_AUTO if emg.get("mains_hz") is None else int(emg["mains_hz"]), b.frontend())
