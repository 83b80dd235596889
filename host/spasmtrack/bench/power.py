"""Power budget per board: hours of wear per battery from datasheet currents (board.json
``power``) and the measured duty cycle of the firmware.

The CPU share comes from the unix-port measurement (bench/device: ISR per sample and the
per-block pipeline) scaled by the ESP32/unix-port speed ratio of viper/native MicroPython
code, 20-40x at 240 MHz (ARCHITECTURE.md; 30 used), and 3x that at 80 MHz. The lowest CPU
clock that keeps the CPU share under 60 % is chosen. With BLE active MicroPython runs no
automatic light sleep (and 1 kHz DRDY interrupts would end it at once), so the CPU draws
modem-sleep current all the time; the radio adds its connection-event average.
Usable capacity: 85 % of the rating (LiPo to 3.3 V cut-off, regulator losses).
"""
from __future__ import annotations

import json

from . import BenchFigure
from .. import BOARDS_DIR
from .device import measure

ESP32_SLOWDOWN_240MHZ = 30.0
USABLE = 0.85
MAX_CPU_SHARE = 0.60


def cpu_share(isr_ns: float, block_us: float, fs_hz: int, mhz: int) -> float:
    """Busy share of one core at ``mhz`` from unix-port costs."""
    unix_ns_per_s = isr_ns * fs_hz + block_us * 1000 * 10  # 10 blocks of 100 ms per second
    return unix_ns_per_s * ESP32_SLOWDOWN_240MHZ * (240 / mhz) / 1e9


def run() -> list[BenchFigure]:
    m = measure()
    isr_ns = m["ads_total_ns"] - m["ads_sim_ns"]
    figs: list[BenchFigure] = []
    for path in sorted(BOARDS_DIR.glob("*/board.json")):
        board = json.loads(path.read_text())
        pw = board.get("power")
        if not pw:
            continue
        name = board["name"]
        fs = board["emg"]["fs_hz"]
        mhz = next(f for f in (80, 160, 240)
                   if cpu_share(isr_ns, m["block_us"], fs, f) <= MAX_CPU_SHARE or f == 240)
        share = cpu_share(isr_ns, m["block_us"], fs, mhz)
        parts = {"mcu": pw["mcu_ma_by_mhz"][str(mhz)], "ble": pw["ble_ma"], "emg": pw["emg_ma"],
                 "imu": pw["imu_ma"], "board": pw["board_ma"]}
        total = sum(parts.values())
        figs.append(BenchFigure(f"power_ma_{name}", round(total, 2), "mA",
                                note=f"CPU at {mhz} MHz, est. CPU share {share:.0%}",
                                extra={"parts_ma": parts, "cpu_mhz": mhz,
                                       "cpu_share_est": round(share, 3)}))
        for mah in pw["batteries_mah"]:
            figs.append(BenchFigure(f"wear_hours_{name}_{mah}mah", round(USABLE * mah / total, 1),
                                    "h", note=f"{USABLE:.0%} of {mah} mAh at {total:.1f} mA"))
    return figs
