"""Write the simulated signal as a replay recording (CSV, the format of `spasmtrack replay`).

Header ``t_s,emg_uV[,emg2_uV...],ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps``; one row per EMG
sample; IMU values repeated between IMU updates. Meant for short excerpts (a 24 h CSV is
about 5 GB): the demo streams chunks instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import IO, Iterable, TextIO

import numpy as np

from .stream import Chunk


def header(n_channels: int) -> str:
    emg = ["emg_uV"] + [f"emg{i + 1}_uV" for i in range(1, n_channels)]
    return ",".join(["t_s"] + emg + ["ax_g", "ay_g", "az_g", "gx_dps", "gy_dps", "gz_dps"])


def write_chunks_csv(chunks: Iterable[Chunk], out: Path | TextIO) -> int:
    """Write ``chunks`` as CSV to a path or open text file; returns the rows written."""
    own = isinstance(out, (str, Path))
    f: IO[str] = open(out, "w") if isinstance(out, (str, Path)) else out
    rows = 0
    try:
        first = True
        for ch in chunks:
            if first:
                f.write(header(ch.emg_uV.shape[0]) + "\n")
                first = False
            dec = ch.fs_emg // ch.fs_imu
            t = ch.t0_s + np.arange(ch.n) / ch.fs_emg
            cols = [t[:, None], ch.emg_uV.T.astype(np.float64), np.repeat(ch.imu.T, dec, axis=0)]
            np.savetxt(f, np.hstack(cols), fmt=["%.3f"] + ["%.2f"] * ch.emg_uV.shape[0] + ["%.4f"] * 3 + ["%.2f"] * 3,
                       delimiter=",")
            rows += ch.n
    finally:
        if own:
            f.close()
    return rows
