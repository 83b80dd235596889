"""DSP core benchmark: the firmware's EMG chain on the MicroPython unix port, against a
float MicroPython twin, the same integer algorithm in C (gcc -O2) and scipy in CPython,
all on the same 60 s recording; plus what the optional mains notch removes from EMG."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from scipy import signal

from .. import BOARDS_DIR, REPO_ROOT, firmware
from ..dsp import golden
from ..dsp.testsignals import emg_like, recording_uv
from . import BenchFigure

HERE = Path(__file__).resolve().parent
WORK = REPO_ROOT / "build" / "bench" / "dsp"
BOARD = "sim"
BLOCK = 100                      # samples per block (100 ms at 1 kHz), as the sampler hands over
SECONDS = 60.0
#: ESP32 (240 MHz Xtensa LX6) runs viper code roughly 20-40x slower than this machine runs
#: the unix port (ARCHITECTURE.md, "Measured anchors"); the CPU share is given as that range.
ESP32_SLOWDOWN = (20.0, 40.0)
CHANNELS = 2
#: RMS hum (uV) at 50 Hz and at 150 Hz added to the recording for the automatic notch's cost
HUM_UV = (10.0, 3.0)


def _coeffs() -> ModuleType:
    return firmware.board_module(BOARD)


def _run_firmware(raw_path: Path, out_path: Path, n: int, nohum_path: Path, hum_path: Path) -> dict:
    code = (f"import dsp_bench; dsp_bench.main({str(BOARDS_DIR / BOARD)!r}, {str(raw_path)!r}, "
            f"{str(out_path)!r}, {BLOCK}, {n}, {str(nohum_path)!r}, {str(hum_path)!r})")
    proc = subprocess.run(firmware.unix_command("-c", code, heap="96K"), env=firmware.unix_env(),
                          capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"micropython bench failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_c(c: ModuleType, raw_path: Path, out_path: Path) -> float:
    exe = WORK / "dsp_ref"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(HERE / "dsp_ref.c")], check=True)
    nums = [c.EMG_DECIM, c.SIG_FRAC, c.RECT_SHIFT, c.ENV_K, c.ENV_S, c.ENV_PRE, c.ENV_WIN,
            c.LF_K, c.LF_S, c.LF_PRE, c.LF_FRAC, len(c.BP_SOS) // 8, *c.BP_SOS,
            len(c.LF_SOS) // 8, *c.LF_SOS]
    cfile = WORK / "coeffs.txt"
    cfile.write_text(" ".join(str(int(v)) for v in nums) + "\n")
    proc = subprocess.run([str(exe), str(cfile), str(raw_path), str(out_path), str(BLOCK), "20"],
                          capture_output=True, text=True, check=True)
    return float(proc.stdout.strip())


def _scipy_chain_ns(c: ModuleType, raw: np.ndarray) -> tuple[float, float]:
    """Float64 scipy/numpy version of the same chain over the whole signal at once, and
    the same fed block by block as the device must (best of 5, ns per sample)."""
    bp = np.array([[s[0], s[1], s[2], 2 ** s[5], -s[3], -s[4]] for s in np.reshape(c.BP_SOS, (-1, 8))],
                  dtype=float) / np.array([[2.0 ** s[5]] for s in np.reshape(c.BP_SOS, (-1, 8))])
    lfs = np.array([[s[0], s[1], s[2], 2 ** s[5], -s[3], -s[4]] for s in np.reshape(c.LF_SOS, (-1, 8))],
                   dtype=float) / np.array([[2.0 ** s[5]] for s in np.reshape(c.LF_SOS, (-1, 8))])
    d, win, uv = c.EMG_DECIM, c.ENV_WIN, c.UV_PER_COUNT
    kern = np.ones(win) / win

    def whole(x: np.ndarray) -> None:
        y = signal.sosfilt(bp, x * uv)
        arv = np.abs(y).reshape(-1, d).mean(axis=1)
        np.convolve(arv, kern)[:len(arv)]
        blocks = x.reshape(-1, d)
        blocks.min(axis=1), blocks.max(axis=1)
        lf = signal.sosfilt(lfs, blocks.mean(axis=1) * uv)
        np.convolve(np.abs(lf), kern)[:len(lf)]

    def blockwise(x: np.ndarray) -> None:
        zb = np.zeros((bp.shape[0], 2))
        zl = np.zeros((lfs.shape[0], 2))
        tail_e = np.zeros(win - 1)
        tail_l = np.zeros(win - 1)
        for pos in range(0, len(x), BLOCK):
            blk = x[pos:pos + BLOCK]
            y, zb = signal.sosfilt(bp, blk * uv, zi=zb)
            arv = np.abs(y).reshape(-1, d).mean(axis=1)
            e = np.concatenate([tail_e, arv])
            np.convolve(e, kern, "valid")
            tail_e = e[-(win - 1):]
            b = blk.reshape(-1, d)
            b.min(axis=1), b.max(axis=1)
            lf, zl = signal.sosfilt(lfs, b.mean(axis=1) * uv, zi=zl)
            e2 = np.concatenate([tail_l, np.abs(lf)])
            np.convolve(e2, kern, "valid")
            tail_l = e2[-(win - 1):]

    x = raw.astype(float)
    res = []
    for fn in (whole, blockwise):
        best = 1e30
        for _ in range(5):
            t0 = time.perf_counter()
            fn(x)
            best = min(best, time.perf_counter() - t0)
        res.append(best * 1e9 / len(x))
    return res[0], res[1]


def _mains_effect(c: ModuleType) -> dict[str, float]:
    """What the optional 50 Hz notch removes: the share of a pure EMG envelope (no hum) it
    takes away, and how much it attenuates 50 Hz hum (steady state), via the golden model
    (bit-identical to the firmware)."""
    fs = c.FS_HZ
    n = 30 * fs
    emg = np.round(emg_like(n, fs, 100.0, seed=21) / c.UV_PER_COUNT).astype(np.int64)
    env_off = golden.emg_chain(emg, c, 0)["env"][100:]
    env_on = golden.emg_chain(emg, c, 50)["env"][100:]
    t = np.arange(10 * fs) / fs
    hum = np.round(100.0 * np.sin(2 * np.pi * 50 * t) / c.UV_PER_COUNT).astype(np.int64)
    h_off = golden.emg_chain(hum, c, 0)["env"][-300:].mean()
    h_on = golden.emg_chain(hum, c, 50)["env"][-300:].mean()
    # the third-harmonic notches alone (Q design.HARMONIC_Q): EMG power they take from the
    # band-passed signal, and what they leave of a harmonic at nominal and +-1 % mains
    x = emg << c.SIG_FRAC
    y = golden.cascade(x, list(c.BP_SOS), golden.primed_states(int(x[0]), c.BP_NSEC))[2000:]
    harm: dict[str, float] = {}
    for f0, name in ((150, "NOTCH150_SOS"), (180, "NOTCH180_SOS")):
        z = golden.cascade(y, list(getattr(c, name)))[2000:]
        harm[f"notch{f0}_emg_power_removed_pct"] = float(100 * (1 - np.mean(z.astype(float) ** 2)
                                                                / np.mean(y[2000:].astype(float) ** 2)))
        for drift in (-0.01, 0.0, 0.01):
            tone = np.round(1000.0 * np.sin(2 * np.pi * f0 * (1 + drift) * t) / c.UV_PER_COUNT).astype(np.int64)
            out = golden.cascade(tone << c.SIG_FRAC, list(getattr(c, name)))[3 * fs:]
            att = 20 * np.log10(np.sqrt(np.mean(out.astype(float) ** 2))
                                / np.sqrt(np.mean((tone[3 * fs:] << c.SIG_FRAC).astype(float) ** 2)))
            harm[f"notch{f0}_attenuation_db_at_{drift * 100:+.0f}pct"] = float(round(att, 1))
    return {"emg_envelope_removed_pct": float(100 * (1 - env_on.mean() / env_off.mean())),
            "hum_attenuation_db": float(20 * np.log10(h_off / max(h_on, 1))), **harm}


def run() -> list[BenchFigure]:
    WORK.mkdir(parents=True, exist_ok=True)
    c = _coeffs()
    fs = c.FS_HZ
    raw = np.clip(np.round(recording_uv(SECONDS, fs) / c.UV_PER_COUNT), -2**23, 2**23 - 1).astype(np.int64)
    raw_path = WORK / "raw.bin"
    raw.astype("<i4").tofile(raw_path)
    # the automatic notch's cost: the same recording without hum (notch out) and with
    # HUM_UV RMS at 50 Hz and at its third harmonic (notch in)
    t = np.arange(len(raw)) / fs
    clean = recording_uv(SECONDS, fs, hum_uv=0.0)
    hum = clean + np.sqrt(2) * (HUM_UV[0] * np.sin(2 * np.pi * 50 * t) + HUM_UV[1] * np.sin(2 * np.pi * 150 * t))
    paths = []
    for name, sig in (("raw_nohum.bin", clean), ("raw_hum.bin", hum)):
        paths.append(WORK / name)
        np.clip(np.round(sig / c.UV_PER_COUNT), -2**23, 2**23 - 1).astype("<i4").tofile(paths[-1])
    fw_out, c_out = WORK / "fw_out.bin", WORK / "c_out.bin"
    fw = _run_firmware(raw_path, fw_out, len(raw), paths[0], paths[1])
    c_ns = _run_c(c, raw_path, c_out)
    m = BLOCK // c.EMG_DECIM
    fw_streams = np.fromfile(fw_out, "<i4").reshape(-1, 4, m).transpose(1, 0, 2).reshape(4, -1)
    same_as_c = bool(np.array_equal(fw_streams, np.fromfile(c_out, "<i4").reshape(4, -1)))
    gold = golden.emg_chain(raw, c)
    same_as_golden = all(np.array_equal(fw_streams[i], gold[key]) for i, key in
                         enumerate(("env", "lf", "rmin", "rmax")))
    sp_whole, sp_block = _scipy_chain_ns(c, raw)
    mains = _mains_effect(c)
    v = fw["viper_arv_ns"]
    share = [v * k * fs * CHANNELS / 1e9 * 100 for k in ESP32_SLOWDOWN]
    common = {"signal": f"{SECONDS:g} s recording at {fs} Hz (sim board), blocks of {BLOCK}"}
    return [
        BenchFigure("dsp_ns_per_sample", round(v, 1), "ns/sample",
                    note="full EMG chain (band-pass, ARV envelope, motion band, min/max), one channel, "
                         "viper, unix port, best of 5 passes",
                    extra={**common, "lp_mode_ns": fw["viper_lp_mains0_ns"],
                           "tkeo_mode_ns": fw["viper_tkeo_mains0_ns"],
                           "arv_with_50hz_notch_ns": fw["viper_arv_mains50_ns"],
                           "arv_auto_notch_no_hum_ns": fw.get("viper_arv_auto_nohum_ns"),
                           "arv_auto_notch_hum_ns": fw.get("viper_arv_auto_hum_ns"),
                           "auto_notch_hum_uv_rms_50_150hz": list(HUM_UV),
                           "auto_notch_in_with_hum": fw.get("auto_hum_mains_at_end"),
                           "auto_notch_in_without_hum": fw.get("auto_nohum_mains_at_end")}),
        BenchFigure("dsp_alloc_bytes_per_block", fw["viper_alloc_per_block"], "bytes", "== 0",
                    note="gc.mem_alloc() growth over all blocks / blocks, gc disabled, -X heapsize=96K",
                    extra={"other_modes": {k: v2 for k, v2 in fw.items() if k.startswith("alloc_")}}),
        BenchFigure("dsp_speedup_vs_float_twin", round(fw["float_ns"] / v, 1), "x", ">= 30",
                    note="float MicroPython twin (boards/sim/programs/float_chain.py) ns/sample / viper ns/sample",
                    extra={"float_ns_per_sample": fw["float_ns"],
                           "float_alloc_bytes_per_block": fw["float_alloc_per_block"]}),
        BenchFigure("dsp_ratio_vs_c", round(v / c_ns, 2), "x", "<= 8",
                    note="viper ns/sample / C (gcc -O2, 32-bit ints, bench/dsp_ref.c) ns/sample; "
                         "outputs compared bit for bit",
                    extra={"c_ns_per_sample": c_ns, "c_output_identical_to_firmware": same_as_c,
                           "firmware_output_identical_to_golden": same_as_golden}),
        BenchFigure("dsp_ratio_vs_scipy", round(v / sp_whole, 2), "x", "<= 4",
                    note="viper ns/sample / scipy.signal.sosfilt + numpy (float64, CPython) on the "
                         "whole signal at once",
                    extra={"scipy_ns_per_sample_whole": sp_whole,
                           "scipy_ns_per_sample_in_100_sample_blocks": sp_block,
                           "ratio_vs_scipy_in_blocks": v / sp_block}),
        BenchFigure("dsp_esp32_cpu_share_pct", round(share[1], 2), "%",
                    note=f"estimate: unix-port viper ns/sample x {ESP32_SLOWDOWN[0]:g}-{ESP32_SLOWDOWN[1]:g} "
                         f"(ESP32 slowdown of viper code, ARCHITECTURE.md) x {fs} Hz x {CHANNELS} channels; "
                         "value is the pessimistic end",
                    extra={"range_pct": share}),
        BenchFigure("dsp_notch50_emg_removed_pct", round(mains["emg_envelope_removed_pct"], 2), "%",
                    note="share of a hum-free 100 uV EMG envelope removed by the 50 Hz notch (Q 30) "
                         "with its 150 Hz harmonic notch (Q 10), as when the notch is in",
                    extra={k: v2 for k, v2 in mains.items() if k != "emg_envelope_removed_pct"}),
    ]
