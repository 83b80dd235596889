"""A scripted day rendered to signals: EMG (uV, 1 kHz), IMU (g, dps, 100 Hz), labels.

:class:`DailyLifeRecording` renders once, in memory (a 15-minute day is about 10 MB),
and hands the signal out as a :class:`spasmtrack.recording.Recording` (what
``replay_recording`` and ``spasmtrack replay`` consume) or as a replay CSV
(``t_s,emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps``; the IMU held between its samples).

Labels (``labels``): one dict per involuntary episode: ``onset_s``, ``offset_s``,
``kind`` (what the device reports: spasm, clonus, spasm_with_clonus), ``clonus_hz``
(beats - 1 over the time from the first to the last beat), ``thomas_type``, ``shape``,
``context``, ``cause``, ``rms_uv`` (EMG RMS over the episode). ``contexts``: the
activity of every moment as (start_s, end_s, context). ``lost``: lead-off spans.
``artifacts``: hum, sweat, peel-off, ECG and cable-sway spans as scripted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...boards import load_board
from ...recording import Chunk, Recording, RecordingInfo
from .artifacts import apply_lead_off, render_artifacts
from .drive import EpisodeDrive, activity_drive, episode_drive
from .imu import FS_IMU, render_imu
from .mupool import MotorUnitPool
from .script import DEVICE_KIND, DayScript, Episode

FS = 1000
BLOCK_S = 10


def full_scale_uv(board: str = "sim") -> float:
    """The EMG front end's input range (uV) from the board definition: vref / gain."""
    emg = load_board(board).emg
    return 1e6 * float(emg["vref_v"]) / float(emg["gain"])


class DailyLifeRecording:
    """The signals and labels of one :class:`DayScript` (deterministic for its seed)."""

    def __init__(self, script: DayScript, board: str = "sim"):
        self.script = script
        rng = np.random.default_rng(script.seed + 7919)
        n = int(round(script.duration_s * FS)) // 10 * 10      # whole 10 ms envelope ticks
        self.n = n
        pat = script.patient
        pool = MotorUnitPool.build(np.random.default_rng(script.seed + 1), FS, pat.emg_gain_uv)

        # excitation: tone (lower asleep) + purposeful activity + involuntary episodes
        exc = np.full(n, pat.tone)
        bursts: dict[int, list[tuple[float, float]]] = {}
        for k, seg in enumerate(script.segments):
            a, b = int(seg.start_s * FS), int(seg.end_s * FS)
            x, bursts[k] = activity_drive(seg, script, FS, rng)
            exc[a:a + x.size] += x[: n - a]
            if seg.context == "sleep":
                exc[a:b] -= 0.5 * pat.tone
        drives: list[tuple[Episode, EpisodeDrive]] = []
        v_idx: list[np.ndarray] = []
        v_size: list[np.ndarray] = []
        for ep in script.episodes:
            d = episode_drive(ep, FS, rng)
            m = min(d.excitation.size, n - d.start)
            exc[d.start:d.start + m] += d.excitation[:m]
            drives.append((ep, d))
            v_idx.append(d.volley_idx)
            v_size.append(d.volley_size)
        np.clip(exc, 0.0, 1.0, out=exc)
        volleys = np.concatenate(v_idx) if v_idx else np.zeros(0, np.int64)
        vsizes = np.concatenate(v_size) if v_size else np.zeros(0)

        emg = np.zeros(n + 64)
        step = BLOCK_S * FS
        for a in range(0, n, step):
            b = min(n, a + step)
            trains = pool.spikes(exc[a:b], rng)
            sel = (volleys >= a) & (volleys < b)
            if sel.any():
                vt = pool.volley(volleys[sel] - a, vsizes[sel], b - a, rng)
                trains = [np.concatenate((t, v)) for t, v in zip(trains, vt)]
            part = pool.emg(trains, b - a)
            emg[a:a + part.size] += part
        emg = emg[:n]

        bumps = self._bumps(rng)
        art, noise_scale, self.lost = render_artifacts(script, FS, n, rng, bumps)
        self.muscle_uv = emg.copy()            # the pool's EMG alone (for tests and SNR)
        emg += art + pat.noise_uv * noise_scale * rng.normal(0.0, 1.0, n)
        fs_uv = full_scale_uv(board)
        apply_lead_off(emg, script, FS, fs_uv)
        np.clip(emg, -fs_uv, fs_uv, out=emg)
        self.emg_uv = emg
        self.imu = render_imu(script, drives, bursts, bumps, FS, rng)
        self.excitation = exc
        self.voluntary_bursts = [bb for k in sorted(bursts) for bb in bursts[k]]
        self.labels = [self._label(ep, d) for ep, d in drives]

    def _bumps(self, rng: np.random.Generator) -> list[float]:
        out: list[float] = []
        for seg in self.script.segments:
            if seg.context == "vehicle":
                t = seg.start_s + float(rng.uniform(2.0, 10.0))
                while t < seg.end_s - 1.0:
                    out.append(round(t, 3))
                    t += float(rng.uniform(5.0, 30.0))
        return out

    def _label(self, ep: Episode, d: EpisodeDrive) -> dict[str, Any]:
        i, j = int(d.onset_s * FS), max(int(d.offset_s * FS), int(d.onset_s * FS) + 1)
        return {"onset_s": float(d.onset_s), "offset_s": float(d.offset_s), "kind": DEVICE_KIND[ep.thomas_type],
                "clonus_hz": None if d.clonus_hz is None else round(d.clonus_hz, 2),
                "thomas_type": ep.thomas_type, "shape": ep.shape, "context": self.context_at(d.onset_s),
                "cause": ep.cause, "rms_uv": round(float(np.sqrt(np.mean(self.muscle_uv[i:j] ** 2))), 1)}

    # ------------------------------------------------------------------------------ views
    @property
    def name(self) -> str:
        return self.script.name

    @property
    def duration_s(self) -> float:
        return self.n / FS

    @property
    def contexts(self) -> list[tuple[float, float, str]]:
        return [(round(s.start_s, 3), round(s.end_s, 3), s.context) for s in self.script.segments]

    def context_at(self, t_s: float) -> str:
        for s in self.script.segments:
            if s.start_s <= t_s < s.end_s:
                return s.context
        return self.script.segments[-1].context

    def imu_at_emg_rate(self, a: int, b: int) -> np.ndarray:
        idx = np.minimum(np.arange(a, b) // (FS // FS_IMU), self.imu.shape[1] - 1)
        return self.imu[:, idx]

    def chunks(self, chunk_s: float = 60.0) -> Iterator[Chunk]:
        step = int(chunk_s * FS)
        for a in range(0, self.n, step):
            b = min(self.n, a + step)
            yield Chunk(a, self.emg_uv[None, a:b], self.imu_at_emg_rate(a, b))

    def recording(self) -> Recording:
        info = RecordingInfo(Path(f"<dailylife:{self.name}>"), float(FS), ["emg_uV"], True, self.n)
        return Recording(info, self.chunks())

    def signal(self) -> tuple[np.ndarray, np.ndarray]:
        """EMG (uV) and IMU (6, n) at the EMG rate, whole day in memory."""
        return self.emg_uv, self.imu_at_emg_rate(0, self.n)

    def write_csv(self, path: Path) -> None:
        with open(path, "w") as fh:
            fh.write("t_s,emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps\n")
            for c in self.chunks():
                t = (c.start + np.arange(c.emg_uv.shape[1])) / FS
                block = np.vstack([t, c.emg_uv, c.imu]).T
                np.savetxt(fh, block, fmt=["%.3f", "%.2f"] + ["%.4f"] * 3 + ["%.2f"] * 3, delimiter=",")

    def truth(self) -> dict[str, Any]:
        """Everything a scorer or a reader needs, JSON-ready."""
        s = self.script
        return {"name": s.name, "seed": s.seed, "duration_s": round(self.duration_s, 3),
                "patient": s.patient.__dict__, "labels": self.labels,
                "contexts": [list(c) for c in self.contexts], "lost": [list(x) for x in self.lost],
                "artifacts": [{"kind": a.kind, "start_s": round(a.start_s, 3), "end_s": round(a.end_s, 3),
                               **a.params} for a in s.artifacts],
                "voluntary_bursts": [[round(a, 3), round(b, 3)] for a, b in self.voluntary_bursts]}
