"""Board definitions (boards/<name>/board.json): loading, validation, unit conversions.

``load_board(name) -> Board`` checks everything a deploy needs before anything is
flashed: the board exists, every part is one we have a driver for, every pin the parts
need is given (and no GPIO is used twice), rates, gains and ranges are ones the parts
support, the architecture is one mpy-cross knows. ``Board.require_part("lsm6dso")``
fails clearly when a board does not carry a part.

EMG conversions (electrode-referred): ``uv_per_count`` = vref / gain / 2**(bits-1) * 1e6
for signed converters (ADS1292R: full scale +-VREF/gain over 24 bits; analog modules
through a unipolar ADC are described as signed too, because their driver subtracts the
ADC mid-scale: vref_v is then half the ADC span), vref / gain / 2**bits * 1e6 for
unsigned counts; the same formula as spasmtrack.dsp.coeffgen, so host and firmware agree.

Analog modules are AC-coupled: the MyoWare 2.0's RAW output is band-passed in hardware
(``emg.frontend_band_hz``, about 20-500 Hz), so the electrodes' DC offset (tens of mV,
which at gain 200 is far beyond the ADC's range) never reaches the ADC. ``Board.frontend()``
models that filter (stateful, streaming) so host-side conversions of electrode microvolts
(replay, demo) feed the ADC what the module really outputs. ``check_resolution`` refuses,
at configuration time, a board whose ADC step is too coarse to resolve weak EMG.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal as sps

from . import BOARDS_DIR
from .errors import UserError


class BoardError(UserError):
    """A board definition that cannot be used (names the board, field or pin)."""


#: Coarsest EMG ADC step (uV at the electrodes per count) a board may have: weak spasms
#: are 10-20 uV ARV (DOMAIN.md) and the detector's onset needs a fraction of that above a
#: few-uV noise floor; with a coarser step the envelope of a weak spasm is mostly
#: quantisation noise. 12 bits at gain 200 (3.8 uV) passes; 10 bits at gain 200 (15 uV)
#: does not.
MAX_UV_PER_COUNT = 8.0


class FrontEnd:
    """Hardware band-pass of an AC-coupled analog EMG module (first-order high- and
    low-pass at ``band_hz``), applied in a stream: ``process(uv)`` takes (channels, n)
    electrode microvolts and returns the module's output referred back to the electrodes
    (uV). The state starts settled on the first sample (the module was powered before)."""

    def __init__(self, band_hz: tuple[float, float], fs_hz: float, channels: int) -> None:
        self.band_hz = band_hz
        self.sos = sps.butter(1, list(band_hz), btype="bandpass", fs=fs_hz, output="sos")
        self.channels = channels
        self.zi: np.ndarray | None = None

    def process(self, uv: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(uv, dtype=np.float64))
        if x.shape[1] == 0:
            return x
        if self.zi is None:
            z0 = sps.sosfilt_zi(self.sos)  # (sections, 2), steady state for a unit step
            self.zi = z0[:, None, :] * x[:, 0][None, :, None]
        y, self.zi = sps.sosfilt(self.sos, x, axis=1, zi=self.zi)
        return y


#: Parts we have drivers for, with the pins each needs and what it supports.
EMG_PARTS: dict[str, dict[str, Any]] = {
    "ads1292r": {"pins": ("spi_sck", "spi_mosi", "spi_miso", "emg_cs", "emg_drdy"),
                 "bus": "spi", "rates": (125, 250, 500, 1000, 2000, 4000, 8000),
                 "gains": (1, 2, 3, 4, 6, 8, 12), "bits": (24,), "vref": (2.42, 4.033),
                 "signed": True, "channels": (1, 2)},
    "myoware2": {"pins": ("emg_adc",), "bus": None, "rates": (500, 1000, 2000),
                 "gains": (200,), "bits": (12,), "vref": None, "signed": True,
                 "channels": (1,)},
}
IMU_PARTS: dict[str, dict[str, Any]] = {
    "mpu6050": {"pins": ("i2c_scl", "i2c_sda"), "odr": (50, 100, 200, 250, 500, 1000),
                "accel": (2, 4, 8, 16), "gyro": (250, 500, 1000, 2000), "addr": (0x68, 0x69)},
    "lsm6dso": {"pins": ("i2c_scl", "i2c_sda"), "odr": (12.5, 26, 52, 104, 208, 416, 833),
                "accel": (2, 4, 8, 16), "gyro": (125, 250, 500, 1000, 2000),
                "addr": (0x6A, 0x6B)},
}
#: mpy-cross -march values by board arch; None = bytecode only (no native/viper: unusable,
#: the DSP kernels are viper).
ARCHES = ("xtensawin", "xtensa", "armv6m", "armv7m", "armv7emsp", "armv7emdp", "x64", "x86",
          "rv32imc")


@dataclass(frozen=True)
class Board:
    name: str
    path: Path
    data: dict[str, Any] = field(repr=False)

    @property
    def arch(self) -> str:
        return self.data["arch"]

    @property
    def emg(self) -> dict[str, Any]:
        return self.data["emg"]

    @property
    def imu(self) -> dict[str, Any] | None:
        return self.data.get("imu")

    @property
    def pins(self) -> dict[str, int]:
        return self.data.get("pins", {})

    @property
    def is_sim(self) -> bool:
        return self.data.get("mcu") == "unix"

    @property
    def parts(self) -> list[str]:
        out = [self.emg["part"]]
        if self.imu:
            out.append(self.imu["part"])
        return out

    def require_part(self, part: str) -> None:
        """Fail unless the board carries ``part``."""
        if part not in self.parts:
            raise BoardError(f"board {self.name!r} has no {part} (its parts: {', '.join(self.parts)})")

    @property
    def uv_per_count(self) -> float:
        """Microvolts at the electrodes per EMG ADC count."""
        e = self.emg
        bits = e["adc_bits"]
        if e.get("adc_signed", True):
            return e["vref_v"] / e["gain"] / 2 ** (bits - 1) * 1e6
        return e["vref_v"] / e["gain"] / 2 ** bits * 1e6

    @property
    def count_range(self) -> tuple[int, int]:
        """(min, max) raw count the EMG driver can deliver (full scale)."""
        bits = self.emg["adc_bits"]
        half = 2 ** (bits - 1)
        return -half, half - 1

    def uv_to_counts(self, uv: np.ndarray) -> np.ndarray:
        """Electrode microvolts -> int32 ADC counts, rounded, clipped at full scale like
        the converter."""
        lo, hi = self.count_range
        c = np.rint(np.asarray(uv, dtype=np.float64) / self.uv_per_count)
        return np.clip(c, lo, hi).astype(np.int32)

    def counts_to_uv(self, counts: np.ndarray) -> np.ndarray:
        return np.asarray(counts, dtype=np.float64) * self.uv_per_count

    def frontend(self) -> FrontEnd | None:
        """A fresh streaming model of the EMG module's hardware band-pass, or None for a
        DC-coupled front end (ADS1292R: the DSP chain removes the electrode offset)."""
        band = self.emg.get("frontend_band_hz")
        if not band:
            return None
        return FrontEnd((float(band[0]), float(band[1])), float(self.emg["fs_hz"]),
                        int(self.emg.get("channels", 1)))


def check_resolution(name: str, uv_per_count: float) -> None:
    """Refuse a board whose EMG ADC step is too coarse to resolve weak EMG (BoardError)."""
    _need(uv_per_count <= MAX_UV_PER_COUNT,
          f"board {name!r}: EMG ADC step is {uv_per_count:.2f} uV per count at the electrodes, coarser "
          f"than {MAX_UV_PER_COUNT:g} uV: weak spasms (10-20 uV) would be lost in quantisation; "
          f"raise emg.gain or emg.adc_bits")


def known_boards() -> list[str]:
    return sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.json"))


def load_board(name: str, boards_dir: Path | None = None) -> Board:
    """Load and validate boards/<name>/board.json (BoardError names what is wrong)."""
    root = boards_dir or BOARDS_DIR
    path = root / name / "board.json"
    if not path.is_file():
        known = sorted(p.parent.name for p in root.glob("*/board.json"))
        raise BoardError(f"unknown board {name!r} (known: {', '.join(known) or 'none'})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BoardError(f"{path}: not valid JSON: {exc}") from None
    validate(name, data)
    return Board(name, path, data)


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise BoardError(msg)


def validate(name: str, d: dict[str, Any]) -> None:
    where = f"board {name!r}"
    arch = d.get("arch")
    _need(arch in ARCHES, f"{where}: arch {arch!r} is not an mpy-cross -march value ({', '.join(ARCHES)})")
    pins = d.get("pins")
    _need(isinstance(pins, dict), f"{where}: board.json has no 'pins' table")
    for k, v in pins.items():
        _need(isinstance(v, int) and v >= 0, f"{where}: pin {k!r} must be a GPIO number, not {v!r}")
    used: dict[int, str] = {}
    for k, v in pins.items():
        _need(v not in used, f"{where}: GPIO{v} is used twice ({used.get(v)} and {k})")
        used[v] = k
    emg = d.get("emg")
    _need(isinstance(emg, dict), f"{where}: board.json has no 'emg' section")
    part = emg.get("part")
    _need(part in EMG_PARTS, f"{where}: EMG part {part!r} has no driver (known: {', '.join(EMG_PARTS)})")
    spec = EMG_PARTS[part]
    for p in spec["pins"]:
        _need(p in pins, f"{where}: {part} needs pin {p!r}, missing from 'pins'")
    for key in ("fs_hz", "gain", "adc_bits", "vref_v", "band_hz", "channels"):
        _need(key in emg, f"{where}: emg.{key} is missing")
    _need(emg["fs_hz"] in spec["rates"], f"{where}: {part} cannot sample at {emg['fs_hz']} Hz ({spec['rates']})")
    _need(emg["gain"] in spec["gains"], f"{where}: {part} has no gain {emg['gain']} ({spec['gains']})")
    _need(emg["adc_bits"] in spec["bits"], f"{where}: {part} converts {spec['bits']} bits, not {emg['adc_bits']}")
    _need(emg["channels"] in spec["channels"], f"{where}: {part} has channels {spec['channels']}, not {emg['channels']}")
    if spec["vref"] is not None:
        _need(emg["vref_v"] in spec["vref"], f"{where}: {part} reference is one of {spec['vref']} V, not {emg['vref_v']}")
    _need(bool(emg.get("adc_signed", True)) == spec["signed"],
          f"{where}: {part} output is {'signed' if spec['signed'] else 'unsigned'}: set emg.adc_signed")
    if spec["bus"]:
        _need(spec["bus"] in d.get("buses", {}), f"{where}: {part} needs buses.{spec['bus']}")
    band = emg.get("frontend_band_hz")
    if band is not None:
        _need(isinstance(band, list) and len(band) == 2 and 0 < band[0] < band[1] < emg["fs_hz"] / 2,
              f"{where}: emg.frontend_band_hz must be [low, high] Hz with 0 < low < high < fs/2, not {band!r}")
    bits = emg["adc_bits"]
    uvpc = emg["vref_v"] / emg["gain"] / 2 ** (bits - 1 if emg.get("adc_signed", True) else bits) * 1e6
    check_resolution(name, uvpc)
    imu = d.get("imu")
    if imu is not None:
        ip = imu.get("part")
        _need(ip in IMU_PARTS, f"{where}: IMU part {ip!r} has no driver (known: {', '.join(IMU_PARTS)})")
        ispec = IMU_PARTS[ip]
        for p in ispec["pins"]:
            _need(p in pins, f"{where}: {ip} needs pin {p!r}, missing from 'pins'")
        _need("i2c" in d.get("buses", {}), f"{where}: {ip} needs buses.i2c")
        for key in ("fs_hz", "accel_range_g", "gyro_range_dps"):
            _need(key in imu, f"{where}: imu.{key} is missing")
        odr = imu.get("odr_hz", imu["fs_hz"])
        _need(odr in ispec["odr"], f"{where}: {ip} has no ODR {odr} Hz ({ispec['odr']})")
        _need(imu["accel_range_g"] in ispec["accel"], f"{where}: {ip} has no accel range {imu['accel_range_g']} g")
        _need(imu["gyro_range_dps"] in ispec["gyro"], f"{where}: {ip} has no gyro range {imu['gyro_range_dps']} dps")
        addr = imu.get("address", ispec["addr"][0])
        _need(addr in ispec["addr"], f"{where}: {ip} answers at {[hex(a) for a in ispec['addr']]}, not {addr:#x}")
        _need(emg["fs_hz"] % imu["fs_hz"] == 0,
              f"{where}: EMG rate {emg['fs_hz']} Hz must be a multiple of the IMU rate {imu['fs_hz']} Hz")
