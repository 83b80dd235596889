"""Replay a recording through the real firmware (DSP chains + detector) on MicroPython.

The host reads the recording in chunks (:mod:`spasmtrack.recording`), converts microvolts
to ADC counts with the board's gain and full scale (clipping exactly where the board's ADC
clips) and g / dps to IMU counts with the board's ranges, and streams int32 blocks to
``boards/sim/programs/replay_main.py`` running in the MicroPython unix port, which runs
``dspchain.EmgChain`` / ``ImuChain`` and ``detector.Detector`` unchanged and writes the
EVENT and SUMMARY records back. Nothing holds more than one chunk of signal.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Sequence

import numpy as np

from . import BOARDS_DIR, firmware
from .errors import UserError
from . import records
from .records import fw as R
from .recording import Chunk, Recording, RecordingError, open_recording

KIND_NAMES = records.KIND_NAMES
FLAG_NAMES = ((R.FLAG_CLIPPED, "clipped"), (R.FLAG_MOTION, "motion_nearby"),
              (R.FLAG_PARTIAL_LEADOFF, "partial_lead_off"), (R.FLAG_TRUNCATED, "truncated"),
              (R.FLAG_NEAR_THRESHOLD, "near_threshold"))
BLOCK = 1000          # raw samples per streamed block (1 s at 1 kHz)
EMG_DECIM = 10        # raw samples per envelope tick (coeffs.EMG_DECIM of every board)


@dataclass
class BoardConv:
    """Unit conversions of one board (from boards/<name>/board.json)."""
    name: str
    fs_hz: int
    channels: int
    uv_per_count: float
    adc_min: int
    adc_max: int
    acc_counts_per_g: float
    gyro_counts_per_dps: float
    mains_hz: int
    frontend: Any = None     # spasmtrack.boards.FrontEnd of an AC-coupled analog module, or None

    def uv_to_counts(self, uv: np.ndarray) -> np.ndarray:
        """EMG microvolts at the electrodes -> ADC counts: through the module's hardware
        band-pass when it has one (stateful: call in stream order), rounded and clipped at
        the ADC's full scale."""
        if self.frontend is not None:
            uv = self.frontend.process(uv)
        c = np.rint(uv / self.uv_per_count)
        return np.clip(c, self.adc_min, self.adc_max).astype("<i4")

    def imu_to_counts(self, imu: np.ndarray) -> np.ndarray:
        """(6, n) g and dps -> 16-bit IMU counts, clipped at the sensor's range."""
        k = np.array([self.acc_counts_per_g] * 3 + [self.gyro_counts_per_dps] * 3)[:, None]
        return np.clip(np.rint(imu * k), -32768, 32767).astype("<i4")


#: board.json ``mains_hz`` null or absent: the firmware's automatic notch (dspchain.MAINS_AUTO)
MAINS_AUTO = -1


def _mains(v: Any) -> int:
    return MAINS_AUTO if v is None else int(v)


def load_board_conv(name: str) -> BoardConv:
    """Read boards/<name>/board.json."""
    path = BOARDS_DIR / name / "board.json"
    if not path.exists():
        known = sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.json"))
        raise UserError(f"unknown board {name!r}; known: {', '.join(known)}")
    if not (BOARDS_DIR / name / "coeffs.py").exists():
        raise UserError(f"board {name!r} has no coeffs.py: run `make coeffs`")
    b = json.loads(path.read_text())
    emg, imu = b["emg"], b.get("imu") or {}
    bits = int(emg["adc_bits"])
    signed = bool(emg.get("adc_signed", True))
    full = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    uvpc = float(emg["vref_v"]) / (float(emg["gain"]) * full) * 1e6
    amin, amax = (-(1 << (bits - 1)), full) if signed else (0, full)
    acc_g = float(imu.get("accel_range_g", 8))
    gyro = float(imu.get("gyro_range_dps", 1000))
    from .boards import check_resolution, load_board
    board = load_board(name)       # validates, and refuses an ADC too coarse for EMG
    uvpc = float(board.uv_per_count)   # the same step as coeffgen (coeffs.UV_PER_COUNT)
    check_resolution(name, uvpc)
    return BoardConv(name, int(emg["fs_hz"]), int(emg.get("channels", 1)), uvpc, amin, amax,
                     32768.0 / acc_g, 32768.0 / gyro, _mains(emg.get("mains_hz")),
                     board.frontend())


def detconfig_module():
    """firmware/core/detconfig.py loaded on the host (the one versioned detector configuration)."""
    return firmware.core("detconfig")


def param_names() -> set[str]:
    return {p[1] for p in detconfig_module().PARAMS}


@dataclass
class ReplayResult:
    events: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    seconds: float                    # signal duration replayed (s)
    wall_s: float                     # wall-clock time of the replay (s)
    channels: list[str]
    notes: list[str] = field(default_factory=list)
    event_values: list[tuple[int, ...]] = field(default_factory=list)     # raw EVENT fields
    summary_values: list[tuple[int, ...]] = field(default_factory=list)   # raw SUMMARY fields
    # trace mode: every candidate episode (onset_s, offset_s, kept by the screen, features)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    # trace mode: every activity a rule dropped (onset_s, offset_s, rule: detector._reject)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def x_realtime(self) -> float:
        return self.seconds / self.wall_s if self.wall_s > 0 else float("inf")


def event_dict(v: Iterable[int]) -> dict[str, Any]:
    """EVENT values (records.FIELDS order) -> the replay JSON object (seconds, uV)."""
    d = R.to_dict(R.TYPE_EVENT, tuple(v))
    flags = d["flags"]
    return {
        "onset_s": round(d["onset_ms"] / 1000.0, 3),
        "offset_s": round((d["onset_ms"] + d["duration_ms"]) / 1000.0, 3),
        "duration_s": round(d["duration_ms"] / 1000.0, 3),
        "kind": KIND_NAMES.get(d["kind"], str(d["kind"])),
        "channel": d["channel"],
        "peak_uV": round(d["peak_cuv"] / 100.0, 2),
        "mean_uV": round(d["mean_cuv"] / 100.0, 2),
        "area_uVs": round(d["area_uvms"] / 1000.0, 3),
        "clonus_hz": round(d["clonus_chz"] / 100.0, 2) if d["clonus_chz"] else None,
        "gyro_peak_dps": round(d["gyro_peak_ddps"] / 10.0, 1),
        "acc_peak_mg": d["acc_peak_mg"],
        "mvc_pct": None if d["mvc_pm"] == R.MVC_UNCALIBRATED else round(d["mvc_pm"] / 10.0, 1),
        "flags": [name for bit, name in FLAG_NAMES if flags & bit],
        "config_version": d["config_version"],
    }


def summary_dict(v: Iterable[int]) -> dict[str, Any]:
    d = R.to_dict(R.TYPE_SUMMARY, tuple(v))
    d["start_s"] = d.pop("start_ms") / 1000.0
    return d


class _Reader(threading.Thread):
    def __init__(self, stream: IO[bytes] | None) -> None:
        super().__init__(daemon=True)
        assert stream is not None
        self.stream = stream
        self.lines: list[bytes] = []

    def run(self) -> None:
        for line in self.stream:
            self.lines.append(line)


def replay_recording(rec: Recording, board: str = "sim", mains_hz: int | None = None,
                     config: dict[str, int] | None = None, trace: bool = False,
                     screen: Sequence[int] | None = None) -> ReplayResult:
    """Stream ``rec`` through the firmware of ``board``; return events and summaries."""
    conv = load_board_conv(board)
    info = rec.info
    fs_rec = int(round(info.fs_hz))
    if abs(info.fs_hz - fs_rec) > 1e-6 or fs_rec < conv.fs_hz:
        raise RecordingError(f"{info.path}: recorded at {info.fs_hz:g} Hz, board {board!r} samples EMG at "
                             f"{conv.fs_hz} Hz; recordings at a whole rate of at least {conv.fs_hz} Hz "
                             "are resampled, slower ones cannot be")
    down = _Resampler(fs_rec, conv.fs_hz, len(info.channels)) if fs_rec != conv.fs_hz else None
    nch = len(info.channels)
    if nch > 8:
        raise RecordingError(f"{info.path}: {nch} EMG channels; the detector handles at most 8")
    mains = conv.mains_hz if mains_hz is None else mains_hz
    env = firmware.unix_env(firmware.micropypath(board=board))
    cfg_code = ""
    if config:
        items = ", ".join(f"{k}={int(v)}" for k, v in config.items())
        cfg_code = f"from core import detconfig; cfg = detconfig.make({items}); "
    code = (f"{cfg_code}import replay_main; replay_main.main({nch}, {BLOCK}, {int(mains)}, "
            f"{'cfg' if config else 'None'}, {bool(trace)}, "
            f"{tuple(int(v) for v in screen) if screen is not None else None})")
    t_start = time.perf_counter()
    proc = subprocess.Popen(firmware.unix_command("-c", code, heap="2M"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=False)
    assert proc.stdin is not None
    out_reader = _Reader(proc.stdout)
    err_reader = _Reader(proc.stderr)
    out_reader.start()
    err_reader.start()
    n_samples = 0
    carry_emg = np.zeros((nch, 0))
    carry_imu = np.zeros((6, 0))
    try:
        try:
            for chunk in rec.chunks():
                if down is not None:
                    chunk = down.apply(chunk)
                emg = np.concatenate([carry_emg, chunk.emg_uv], axis=1) if carry_emg.shape[1] else chunk.emg_uv
                imu = np.concatenate([carry_imu, chunk.imu], axis=1) if carry_imu.shape[1] else chunk.imu
                usable = (emg.shape[1] // EMG_DECIM) * EMG_DECIM
                _send(proc, conv, emg[:, :usable], imu[:, :usable])
                n_samples += usable
                carry_emg, carry_imu = emg[:, usable:], imu[:, usable:]
            proc.stdin.write(np.zeros(1, "<i4").tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out_reader.join()
    err_reader.join()
    wall = time.perf_counter() - t_start
    if rc != 0:
        err = b"".join(err_reader.lines).decode(errors="replace").strip()
        raise UserError(f"firmware replay failed (exit {rc}): {err.splitlines()[-1] if err else 'no message'}")
    if os.environ.get("SPASMTRACK_REPLAY_STDERR"):
        sys.stderr.write(b"".join(err_reader.lines).decode(errors="replace"))
    events, summaries, notes = [], [], list(info.notes)
    cands: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    ev_raw: list[tuple[int, ...]] = []
    sm_raw: list[tuple[int, ...]] = []
    for raw in out_reader.lines:
        parts = raw.decode().split()
        if not parts:
            continue
        if parts[0] == "E":
            ev_raw.append(tuple(int(x) for x in parts[1:]))
            events.append(event_dict(ev_raw[-1]))
        elif parts[0] == "S":
            sm_raw.append(tuple(int(x) for x in parts[1:]))
            summaries.append(summary_dict(sm_raw[-1]))
        elif parts[0] == "C":
            on, dur, keep, ch, *feat = (int(x) for x in parts[1:])
            cands.append({"onset_s": on / 1000.0, "offset_s": (on + dur) / 1000.0, "keep": keep,
                          "channel": ch, "features": feat})
        elif parts[0] == "R":
            dropped.append({"onset_s": int(parts[1]) / 1000.0, "offset_s": (int(parts[1]) + int(parts[2])) / 1000.0,
                            "rule": parts[3]})
        elif parts[0] == "D" and int(parts[3]):
            notes.append(f"detector queue overflowed {parts[3]} times")
    if down is not None:
        notes.append(f"recording resampled from {fs_rec} Hz to {conv.fs_hz} Hz (8th-order Butterworth "
                     f"anti-alias low-pass at {0.45 * conv.fs_hz:g} Hz, causal like the device's filters, "
                     "then linear interpolation)")
    if carry_emg.shape[1]:
        notes.append(f"last {carry_emg.shape[1]} samples (< 10 ms) not replayed")
    return ReplayResult(events, summaries, n_samples / conv.fs_hz, wall, info.channels, notes,
                        ev_raw, sm_raw, cands, dropped)


class _Resampler:
    """Streaming resampling of EMG to the board rate: an anti-alias IIR with state (when
    going down), then linear interpolation at exact rational positions k * fs_in / fs_out
    (exact sample picking for whole ratios); IMU values are held (sample and hold)."""

    def __init__(self, fs_in: int, fs_out: int, nch: int):
        from scipy import signal as sps

        self.fs_in, self.fs_out = fs_in, fs_out
        self.sos = sps.butter(8, 0.45 * fs_out, fs=fs_in, output="sos") if fs_in > fs_out else None
        self.zi = np.zeros((nch, self.sos.shape[0], 2)) if self.sos is not None else None
        self.k = 0                        # next output sample
        self.prev_emg: np.ndarray | None = None
        self.prev_imu: np.ndarray | None = None
        self.base = 0                     # input index of the first sample of the next chunk

    def apply(self, chunk: Chunk) -> Chunk:
        from scipy import signal as sps

        emg = chunk.emg_uv
        if self.sos is not None:
            emg = np.empty_like(chunk.emg_uv)
            assert self.zi is not None
            for c in range(emg.shape[0]):
                emg[c], self.zi[c] = sps.sosfilt(self.sos, chunk.emg_uv[c], zi=self.zi[c])
        imu = chunk.imu
        start = self.base
        if self.prev_emg is not None:      # the last sample of the previous chunk, for interpolation
            emg = np.concatenate([self.prev_emg, emg], axis=1)
            imu = np.concatenate([self.prev_imu, imu], axis=1)
            start -= 1
        last = self.base + chunk.emg_uv.shape[1] - 1          # last input index available
        k1 = (last * self.fs_out) // self.fs_in + 1           # outputs with position <= last
        ks = np.arange(self.k, k1, dtype=np.int64)
        num = ks * self.fs_in
        i = num // self.fs_out - start
        frac = (num % self.fs_out) / self.fs_out
        i2 = np.minimum(i + 1, emg.shape[1] - 1)
        out = emg[:, i] * (1.0 - frac) + emg[:, i2] * frac
        res = Chunk(int(self.k), out, imu[:, i])
        self.k = k1
        self.base += chunk.emg_uv.shape[1]
        self.prev_emg = emg[:, -1:]
        self.prev_imu = imu[:, -1:]
        return res


def _send(proc: subprocess.Popen, conv: BoardConv, emg: np.ndarray, imu: np.ndarray) -> None:
    n_all = emg.shape[1]
    counts = conv.uv_to_counts(emg)
    imu_c = conv.imu_to_counts(imu[:, ::EMG_DECIM])
    parts: list[bytes] = []
    for s in range(0, n_all, BLOCK):
        e = min(n_all, s + BLOCK)
        n = e - s
        parts.append(np.array([n], "<i4").tobytes())
        parts.append(np.ascontiguousarray(counts[:, s:e]).tobytes())
        parts.append(np.ascontiguousarray(imu_c[:, s // EMG_DECIM:e // EMG_DECIM]).tobytes())
    assert proc.stdin is not None
    proc.stdin.write(b"".join(parts))


def replay_file(path: str | Path, board: str = "sim", out: str | Path | None = None, **kw: Any) -> ReplayResult:
    """Open and replay a recording file; write the events JSON to ``out`` when given."""
    reader_kw = {k: kw.pop(k) for k in ("emg_labels", "acc_labels", "gyro_labels", "chunk_s") if k in kw}
    rec = open_recording(path, **reader_kw)
    res = replay_recording(rec, board=board, **kw)
    if out is not None:
        Path(out).write_text(json.dumps(res.events, indent=1) + "\n")
    return res
