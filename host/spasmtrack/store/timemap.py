"""Device time ``(boot, ms since boot)`` -> UTC through the device's time anchors.

The device never knows wall time by itself: at every sync the host writes UTC over the
Current Time Service and the firmware logs a TIME_ANCHOR record ``(boot, ms, unix_s)``.
Within one boot the device clock (derived from the sample count) is continuous but may
drift (crystal error, typically < 100 ppm); a reboot restarts ``ms`` at 0 under a new boot
number; the host's own clock may be wrong now and then (a clock jump). The mapping:

1. Anchors are grouped by boot. Each gives an offset ``o = unix_ms - ms``.
2. With three or more anchors a Theil-Sen line of offset against ``ms`` is fitted (robust
   to a minority of wrong anchors). Its slope is clamped to the physical drift bound
   (``DRIFT_ALLOWANCE_PPM``): anchors taken close together in device time (or all at the
   same ``ms``) must not let a clock jump pass as a steep "drift". The intercept is then the
   median offset about that slope. Anchors further than ``JUMP_TOLERANCE_MS`` plus the drift
   allowance from the line are rejected as clock jumps.
3. Device times are mapped by linear interpolation of the offset between the accepted
   anchors (following the real drift), extrapolated flat from the nearest anchor beyond
   the ends (no slope is invented from a single point).
4. A boot without any anchor cannot be placed: its times map to ``None`` and the report
   counts them as unplaced instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: An anchor whose offset deviates more than this (plus drift) from the robust fit is a jump.
JUMP_TOLERANCE_MS = 2_000
#: Drift allowance, parts per million of the distance in device time.
DRIFT_ALLOWANCE_PPM = 200.0


@dataclass(frozen=True)
class BootMap:
    """Accepted anchor points of one boot: device ms and offsets (unix_ms - ms)."""

    ms: np.ndarray        # int64, sorted
    offset: np.ndarray    # int64, same length
    rejected_seq: tuple[int, ...] = ()

    def to_utc_ms(self, ms: np.ndarray) -> np.ndarray:
        """Map device ms (array) to UTC ms (int64 array)."""
        ms = np.asarray(ms, dtype=np.int64)
        if len(self.ms) == 1:
            return ms + self.offset[0]
        off = np.interp(ms.astype(np.float64), self.ms.astype(np.float64),
                        self.offset.astype(np.float64))   # flat beyond the ends
        return ms + np.rint(off).astype(np.int64)


def _drift_slope(ms: np.ndarray, off: np.ndarray) -> float:
    """Theil-Sen slope of offset (ms) against device ms, clamped to +-DRIFT_ALLOWANCE_PPM.

    0 when fewer than two distinct device times exist (no slope can be measured).
    """
    if np.unique(ms).size < 2:
        return 0.0
    from scipy.stats import theilslopes
    with np.errstate(invalid="ignore", divide="ignore"):    # its confidence interval (unused)
        slope = float(theilslopes(off.astype(np.float64), ms.astype(np.float64)).slope)
    bound = DRIFT_ALLOWANCE_PPM * 1e-6
    return float(np.clip(slope, -bound, bound))


def build_boot_map(seqs: np.ndarray, ms: np.ndarray, unix_s: np.ndarray) -> BootMap:
    """Build the map of one boot from its anchors (any order). Units: ms, ms, s."""
    order = np.argsort(ms, kind="stable")
    seqs = np.asarray(seqs, dtype=np.int64)[order]
    ms = np.asarray(ms, dtype=np.int64)[order]
    off = np.asarray(unix_s, dtype=np.int64)[order] * 1000 - ms
    keep = np.ones(len(ms), dtype=bool)
    if len(ms) >= 3:
        slope = _drift_slope(ms, off)
        icpt = float(np.median(off - slope * ms))
        resid = off - (icpt + slope * ms)
        centre = np.median(ms)
        allowance = JUMP_TOLERANCE_MS + DRIFT_ALLOWANCE_PPM * 1e-6 * np.abs(ms - centre)
        keep = np.abs(resid) <= allowance
        if not keep.any():   # pathological: keep the median offset
            keep[np.argsort(resid)[len(resid) // 2]] = True
    elif len(ms) == 2 and abs((off[1] - off[0])) > JUMP_TOLERANCE_MS + DRIFT_ALLOWANCE_PPM * 1e-6 * (ms[1] - ms[0]):
        # Two anchors that disagree more than drift explains: trust the later one (the
        # host corrected its clock), and say so.
        keep[0] = False
    # Several anchors at the same device ms: keep the last.
    ms_k, off_k = ms[keep], off[keep]
    if len(ms_k) > 1:
        _, idx = np.unique(ms_k[::-1], return_index=True)
        idx = len(ms_k) - 1 - idx
        ms_k, off_k = ms_k[np.sort(idx)], off_k[np.sort(idx)]
    return BootMap(ms_k, off_k, tuple(int(s) for s in seqs[~keep]))


class TimeMap:
    """Per-device mapping of all boots that have anchors."""

    def __init__(self, anchors: list[tuple[int, int, int, int]]):
        """``anchors``: rows of (seq, boot, ms, unix_s)."""
        by_boot: dict[int, list[tuple[int, int, int]]] = {}
        for seq, boot, ms, unix_s in anchors:
            by_boot.setdefault(int(boot), []).append((int(seq), int(ms), int(unix_s)))
        self.boots: dict[int, BootMap] = {}
        for boot, rows in by_boot.items():
            a = np.array(rows, dtype=np.int64)
            self.boots[boot] = build_boot_map(a[:, 0], a[:, 1], a[:, 2])

    @property
    def rejected_seqs(self) -> set[int]:
        return {s for bm in self.boots.values() for s in bm.rejected_seq}

    def to_utc_ms(self, boot: np.ndarray, ms: np.ndarray) -> list[int | None]:
        """Map parallel arrays of (boot, ms) to UTC ms; ``None`` where a boot has no anchor."""
        boot = np.asarray(boot, dtype=np.int64)
        ms = np.asarray(ms, dtype=np.int64)
        out: list[int | None] = [None] * len(boot)
        for b in np.unique(boot):
            bm = self.boots.get(int(b))
            if bm is None:
                continue
            idx = np.nonzero(boot == b)[0]
            utc = bm.to_utc_ms(ms[idx])
            for i, u in zip(idx.tolist(), utc.tolist()):
                out[i] = u
        return out
