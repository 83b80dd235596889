"""Board definitions: every board loads, validates and converts like its coeffs.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spasmtrack import BOARDS_DIR, firmware
from spasmtrack.boards import BoardError, known_boards, load_board


def _coeffs(name: str):
    try:
        return firmware.board_module(name)
    except Exception as exc:  # pragma: no cover
        pytest.fail(f"coeffs.py of {name} does not import: {exc}")


def test_at_least_three_real_boards_plus_sim() -> None:
    boards = known_boards()
    assert "sim" in boards
    assert len([b for b in boards if b != "sim"]) >= 3, boards


@pytest.mark.parametrize("name", known_boards())
def test_board_validates_and_matches_its_coefficients(name: str) -> None:
    b = load_board(name)
    c = _coeffs(name)
    assert abs(c.UV_PER_COUNT - b.uv_per_count) < 1e-8 * b.uv_per_count + 1e-9
    assert c.FS_HZ == b.emg["fs_hz"]
    lo, hi = b.count_range
    assert c.ADC_MAX == hi + 1 == -lo


def test_uv_to_counts_rounds_and_clips_at_full_scale() -> None:
    b = load_board("esp32-devkitc")
    fs_uv = 2.42 / 6 * 1e6
    got = b.uv_to_counts(np.array([0.0, 1.0, -1.0, fs_uv * 2, -fs_uv * 2]))
    assert got.dtype == np.int32
    assert got[1] == round(1.0 / b.uv_per_count) and got[2] == -got[1]
    assert got[3] == 2**23 - 1 and got[4] == -(2**23)
    back = b.counts_to_uv(b.uv_to_counts(np.array([123.4])))
    assert abs(back[0] - 123.4) <= b.uv_per_count / 2


def test_analog_board_counts_are_signed_around_midscale() -> None:
    b = load_board("esp32-s3")
    assert b.count_range == (-2048, 2047)
    assert abs(b.uv_per_count - 3.1 / 200 / 4096 * 1e6) < 1e-9


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(BoardError, match=r"unknown board 'nope' \(known: .*esp32-devkitc"):
        load_board("nope")


def _write(tmp: Path, name: str, mutate) -> Path:
    d = json.loads((BOARDS_DIR / "esp32-devkitc" / "board.json").read_text())
    mutate(d)
    (tmp / name).mkdir()
    (tmp / name / "board.json").write_text(json.dumps(d))
    return tmp


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["pins"].pop("emg_drdy"), r"ads1292r needs pin 'emg_drdy'"),
    (lambda d: d["pins"].pop("i2c_sda"), r"mpu6050 needs pin 'i2c_sda'"),
    (lambda d: d["pins"].update(button=5), r"GPIO5 is used twice \(emg_cs and button\)"),
    (lambda d: d["emg"].update(part="ads1299"), r"EMG part 'ads1299' has no driver"),
    (lambda d: d["imu"].update(part="bmi270"), r"IMU part 'bmi270' has no driver"),
    (lambda d: d["emg"].update(gain=5), r"ads1292r has no gain 5"),
    (lambda d: d["emg"].update(fs_hz=1200), r"cannot sample at 1200 Hz"),
    (lambda d: d["imu"].update(odr_hz=104), r"mpu6050 has no ODR 104 Hz"),
    (lambda d: d["imu"].update(address=0x6A), r"answers at"),
    (lambda d: d.update(arch="xtensa-lx6"), r"arch 'xtensa-lx6' is not an mpy-cross -march value"),
    (lambda d: d["buses"].pop("spi"), r"needs buses.spi"),
])
def test_bad_definitions_fail_with_a_precise_message(tmp_path: Path, mutate, message: str) -> None:
    root = _write(tmp_path, "bad", mutate)
    with pytest.raises(BoardError, match=message):
        load_board("bad", boards_dir=root)


def test_require_part_names_what_the_board_has() -> None:
    b = load_board("esp32-devkitc")
    b.require_part("mpu6050")
    with pytest.raises(BoardError, match=r"board 'esp32-devkitc' has no lsm6dso \(its parts: ads1292r, mpu6050\)"):
        b.require_part("lsm6dso")
