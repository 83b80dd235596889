"""The firmware's DSP chains on the real MicroPython unix port are bit-identical to the
numpy golden model (which checks every intermediate against int32), and close to a
float64 scipy design on EMG-like signals."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from dsp_vectors import ROOT, emg_like, load_coeffs, vectors
from mpy_plugin import run_micropython
from spasmtrack.dsp import coeffgen, golden
from spasmtrack.dsp.design import DesignError, design_emg

C = load_coeffs("sim")
VECTORS = vectors(C)
BOARD_DIR = str(ROOT / "boards" / "sim")


def fw_emg(raw: np.ndarray, tmp: Path, mains: int = 0, mode: str = "arv", kernels: str = "viper",
           block: int = 100, board_dir: str = BOARD_DIR, decim: int | None = None) -> dict[str, np.ndarray]:
    src, dst = tmp / "raw.bin", tmp / "out.bin"
    raw.astype("<i4").tofile(src)
    proc = run_micropython(
        f"import dsp_runner; dsp_runner.run_emg({board_dir!r}, {str(src)!r}, {str(dst)!r}, "
        f"{block}, {mains}, {mode!r}, {kernels!r})", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = np.fromfile(dst, "<i4").reshape(5, -1).astype(np.int64)
    return dict(zip(("env", "lf", "rmin", "rmax", "fast"), out))


def assert_same(fw: dict[str, np.ndarray], gold: dict[str, np.ndarray]) -> None:
    for key, want in gold.items():
        got = fw[key][:len(want)]
        assert len(fw[key]) == len(want), key
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{key}: {bad.size} differences, first at {bad[0]}: {got[bad[0]]} != {want[bad[0]]}"


@pytest.mark.parametrize("mode", ["arv", "lp", "tkeo"])
@pytest.mark.parametrize("name", sorted(VECTORS))
def test_emg_chain_bit_identical_to_golden(name: str, mode: str, tmp_path: Path) -> None:
    raw = VECTORS[name]
    gold = golden.emg_chain(raw, C, 0, mode)      # raises Int32Overflow if the scaling is unsafe
    assert_same(fw_emg(raw, tmp_path, 0, mode), gold)


@pytest.mark.parametrize("mains", [50, 60])
@pytest.mark.parametrize("name", ["bursts", "square_fullscale_150hz", "uniform_fullscale"])
def test_emg_chain_with_mains_filter_bit_identical(name: str, mains: int, tmp_path: Path) -> None:
    raw = VECTORS[name]
    assert_same(fw_emg(raw, tmp_path, mains, "arv"), golden.emg_chain(raw, C, mains, "arv"))


def _switching_hum(c: object, seconds: float = 16.0, seed: int = 4) -> np.ndarray:
    """EMG-like noise (5 uV RMS, 2 uV floor) with mains hum switching on and off: 10 uV RMS at
    50 Hz + 3 uV at 150 Hz from 2-7 s, none 7-9 s, 60 + 180 Hz (12 + 3.6 uV) from 9-14 s."""
    fs = int(c.FS_HZ)  # type: ignore[attr-defined]
    n = int(seconds * fs)
    t = np.arange(n) / fs
    rng = np.random.default_rng(seed)
    uv = emg_like(n, fs, 5.0, seed) + rng.normal(0, 2.0, n)
    on50 = (t >= 2) & (t < 7)
    on60 = (t >= 9) & (t < 14)
    r2 = np.sqrt(2)
    uv += on50 * r2 * (10 * np.sin(2 * np.pi * 50 * t) + 3 * np.sin(2 * np.pi * 150 * t + 0.4))
    uv += on60 * r2 * (12 * np.sin(2 * np.pi * 60 * t) + 3.6 * np.sin(2 * np.pi * 180 * t + 1.1))
    return np.round(uv / c.UV_PER_COUNT + 30_000).astype(np.int64)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["arv", "tkeo"])
def test_automatic_notch_with_harmonics_bit_identical(mode: str, tmp_path: Path) -> None:
    """The automatic notch (mains.py: 50/60 Hz notches, their 150/180 Hz harmonic notches,
    the per-block switching) on the unix port equals golden.auto_notch on hum switching on,
    off and over to 60 Hz; the golden model's notch history shows every switch happened."""
    raw = _switching_hum(C)
    gold = golden.emg_chain(raw, C, golden.MAINS_AUTO, mode, block=100)
    hz = gold.pop("mains")
    assert hz[15] == 0 and hz[60] == 50 and hz[85] == 50 and hz[130] == 60, hz[::10]
    assert_same(fw_emg(raw, tmp_path, golden.MAINS_AUTO, mode), gold)


@pytest.mark.parametrize("mains", [50, 60])
def test_fixed_notch_includes_the_third_harmonic(mains: int) -> None:
    """A fixed notch removes its third harmonic too: 3 uV RMS at 3 x mains leaves < 0.3 uV
    (golden model, bit-identical to the firmware by the tests above)."""
    fs = C.FS_HZ
    t = np.arange(6 * fs) / fs
    raw = np.round(3 * np.sqrt(2) * np.sin(2 * np.pi * 3 * mains * t) / C.UV_PER_COUNT).astype(np.int64)
    fast = golden.emg_chain(raw, C, mains, "arv")["fast"][200:] / 100.0    # ARV in uV
    off = golden.emg_chain(raw, C, 0, "arv")["fast"][200:] / 100.0
    assert off.mean() > 2.3                     # ARV of 3 uV RMS = 2.7 uV passes the band-pass
    assert fast.mean() * np.pi / 2 / np.sqrt(2) < 0.3, fast.mean()


def test_harmonic_notch_left_out_where_the_band_excludes_it(tmp_path: Path) -> None:
    """A board whose band ends below 150 Hz gets empty harmonic notches (the band-pass removes
    the harmonic); its fixed and automatic chains run on the unix port, bit-identical."""
    gen = coeffgen.generate("t", _spec(500, [20.0, 140.0]))
    assert "NOTCH150_SOS = array('i', [])" in gen.text and "NOTCH180_SOS = array('i', [])" in gen.text
    both = coeffgen.generate("t", _spec(500, [20.0, 200.0])).text
    assert "NOTCH150_SOS = array('i', [])" not in both and "NOTCH180_SOS = array('i', [])" not in both
    ns: dict = {}
    exec(compile(gen.text, "coeffs.py", "exec"), ns)
    c = type("C", (), ns)
    board_dir = tmp_path / "b"
    board_dir.mkdir()
    (board_dir / "coeffs.py").write_text(gen.text)
    raw = _switching_hum(c, seconds=8.0)
    for mains in (50, golden.MAINS_AUTO):
        gold = golden.emg_chain(raw, c, mains, "arv", block=50)
        gold.pop("mains", None)
        assert_same(fw_emg(raw, tmp_path, mains, "arv", board_dir=str(board_dir), block=50), gold)


@pytest.mark.parametrize("mode", ["arv", "lp", "tkeo"])
def test_plain_twin_gives_identical_integers(mode: str, tmp_path: Path) -> None:
    raw = np.concatenate([VECTORS["bursts"][:3000], VECTORS["square_fullscale_150hz"][:1000]])
    viper = fw_emg(raw, tmp_path, 50, mode, "viper")
    plain = fw_emg(raw, tmp_path, 50, mode, "plain")
    for key in viper:
        assert np.array_equal(viper[key], plain[key]), key


def test_block_length_does_not_change_the_output(tmp_path: Path) -> None:
    raw = VECTORS["bursts"][:6000]
    ref = fw_emg(raw, tmp_path, block=100)
    for block in (10, 250, 600):
        out = fw_emg(raw, tmp_path, block=block)
        for key in ref:
            assert np.array_equal(out[key], ref[key]), (block, key)


def fw_imu(acc: np.ndarray, gyro: np.ndarray, tmp: Path, kernels: str = "viper") -> dict[str, np.ndarray]:
    src, dst = tmp / "imu.bin", tmp / "imuo.bin"
    np.concatenate([acc, gyro], axis=1).astype("<i4").tofile(src)
    proc = run_micropython(f"import dsp_runner; dsp_runner.run_imu({BOARD_DIR!r}, {str(src)!r}, "
                           f"{str(dst)!r}, 10, {kernels!r})", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(zip(("acc", "gyro", "jerk"), np.fromfile(dst, "<i4").reshape(3, -1).astype(np.int64)))


@pytest.mark.parametrize("kernels", ["viper", "plain"])
def test_imu_chain_bit_identical_to_golden(kernels: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    one_g = 32768 // 8
    acc = rng.normal(0, 300, (n, 3))
    acc[:, 2] += one_g                                     # gravity on z ...
    acc[n // 2:, 0] += one_g                               # ... then tilted
    acc[1500:1600] = np.where(rng.random((100, 3)) > 0.5, 32767, -32768)   # full-scale shaking
    gyro = rng.normal(0, 2000, (n, 3))
    gyro[800:900] = 32767
    acc = np.clip(np.round(acc), -32768, 32767).astype(np.int64)
    gyro = np.clip(np.round(gyro), -32768, 32767).astype(np.int64)
    out = fw_imu(acc, gyro, tmp_path, kernels)
    gold = golden.imu_chain(acc, gyro, C)
    for key in gold:
        assert np.array_equal(out[key], gold[key]), key
    # gravity removal: a still sensor reads ~0 mg of acceleration after the high-pass settles
    still = golden.imu_chain(np.tile([0, 0, one_g], (500, 1)), np.zeros((500, 3), np.int64), C)
    assert still["acc"].max() <= 1 and still["gyro"].max() == 0 and still["jerk"].max() == 0


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((got - ref) ** 2), 1e-30)))


@pytest.mark.parametrize("rms_uv", [5.0, 50.0, 500.0, 5000.0])
def test_fixed_point_band_pass_within_60db_of_float64(rms_uv: float) -> None:
    """Band-pass output (the filtering core) against scipy.signal.sosfilt in float64 on the
    same counts; the firmware equals the golden model bit for bit (tests above)."""
    n = 8000
    raw = np.round(emg_like(n, C.FS_HZ, rms_uv, seed=11) / C.UV_PER_COUNT + 40_000).astype(np.int64)
    fixed = golden.cascade(raw << C.SIG_FRAC, list(C.BP_SOS),
                           golden.primed_states(int(raw[0]) << C.SIG_FRAC, C.BP_NSEC)) / 2.0 ** C.SIG_FRAC
    sos = design_emg(C.FS_HZ, (C.BAND_LO_HZ, C.BAND_HI_HZ)).bandpass
    zi = np.zeros((sos.shape[0], 2))
    zi[0] = signal.sosfilt_zi(sos[:1])[0] * raw[0]        # same primed first section
    ref, _ = signal.sosfilt(sos, raw.astype(float), zi=zi)
    skip = 1000
    snr = snr_db(ref[skip:], fixed[skip:])
    assert snr >= 60.0, f"{rms_uv} uV: SNR {snr:.1f} dB"


@pytest.mark.parametrize("rms_uv, min_db", [(5.0, 55.0), (50.0, 60.0), (5000.0, 60.0)])
def test_fixed_point_envelope_close_to_float64(rms_uv: float, min_db: float) -> None:
    """The envelope leaves the chain in 0.01 uV integers: at 5 uV RMS (ARV ~3.4 uV = 340
    LSB) that output resolution alone limits the SNR to ~59 dB, hence 55 dB there."""
    n = 8000
    raw = np.round(emg_like(n, C.FS_HZ, rms_uv, seed=5) / C.UV_PER_COUNT).astype(np.int64)
    env = golden.emg_chain(raw, C)["env"] / 100.0
    sos = design_emg(C.FS_HZ, (C.BAND_LO_HZ, C.BAND_HI_HZ)).bandpass
    y = signal.sosfilt(sos, raw * C.UV_PER_COUNT)
    arv = np.abs(y).reshape(-1, C.EMG_DECIM).mean(axis=1)
    ref = np.convolve(arv, np.ones(C.ENV_WIN) / C.ENV_WIN)[:len(arv)]
    snr = snr_db(ref[50:], env[50:])
    assert snr >= min_db, f"{rms_uv} uV: envelope SNR {snr:.1f} dB"


def test_committed_coefficients_are_current() -> None:
    proc = subprocess.run([sys.executable, "-m", "spasmtrack.dsp.coeffgen", "--all", "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _spec(fs: int, band: list[float], bits: int = 24) -> dict:
    return {"name": "t", "emg": {"part": "ads1292r", "channels": 1, "fs_hz": fs, "band_hz": band,
                                 "adc_bits": bits, "adc_signed": True, "vref_v": 2.42, "gain": 6},
            "imu": {"part": "mpu6050", "fs_hz": 100, "accel_range_g": 8, "gyro_range_dps": 1000}}


@pytest.mark.parametrize("fs", [500, 1000, 2000])
def test_every_supported_rate_quantizes_safely_at_full_scale(fs: int, tmp_path: Path) -> None:
    band = [20.0, min(450.0, 0.45 * fs)]
    gen = coeffgen.generate("t", _spec(fs, band))
    assert gen.report["bp_response"]["passband_max_err_db"] < 0.1
    ns: dict = {}
    exec(compile(gen.text, "coeffs.py", "exec"), ns)
    c = type("C", (), ns)
    n = 4 * fs
    rng = np.random.default_rng(fs)
    worst = rng.choice([-(2**23), 2**23 - 1], n).astype(np.int64)
    for mode in ("arv", "tkeo", "lp"):
        golden.emg_chain(worst, c, 50, mode)        # raises on any int32 excursion
    board_dir = tmp_path / "b"
    board_dir.mkdir()
    (board_dir / "coeffs.py").write_text(gen.text)
    assert_same(fw_emg(worst, tmp_path, 60, "arv", board_dir=str(board_dir), block=fs // 10),
                golden.emg_chain(worst, c, 60, "arv"))


@pytest.mark.parametrize("fs, band, needle", [
    (400, [20, 150], "not supported"),
    (2500, [20, 450], "not supported"),
    (1050, [20, 450], "whole multiple"),
    (500, [20, 450], "too high"),
    (1000, [2, 450], "invalid"),
    (1000, [450, 20], "invalid"),
])
def test_unsupported_rates_and_bands_are_refused_at_configuration(fs: int, band: list[float], needle: str) -> None:
    with pytest.raises(DesignError, match=needle):
        coeffgen.generate("t", _spec(fs, band))


def test_coeffgen_cli_names_the_problem(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "spasmtrack.dsp.coeffgen", "--board", "no-such-board"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown board 'no-such-board'" in proc.stderr


@pytest.mark.parametrize("board, mdps_per_lsb", [("sim", 1000 * 1000 / 32768), ("esp32-s3", 35.0)])
def test_gyro_scaling_follows_the_datasheet_sensitivity(board: str, mdps_per_lsb: float) -> None:
    """The LSM6DSO's gyro LSB at +-1000 dps is 35 mdps (datasheet), not 1000/2**15 dps."""
    c = load_coeffs(board)
    counts = 10_000
    out = golden.imu_chain(np.zeros((3, 3), np.int64), np.tile([counts, 0, 0], (3, 1)), c)
    want = counts * mdps_per_lsb / 100          # 0.1 dps
    assert abs(int(out["gyro"][-1]) - want) <= 1.5, (int(out["gyro"][-1]), want)
