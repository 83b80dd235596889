"""Event-level device records straight from the truth (no raw signal, no detector).

For checks of the host analysis on long scenarios (14+ days) where running the raw signal
through the firmware would be too slow for a test: what a perfect detector on this device
would have logged. BOOT and TIME_ANCHOR records place device time (ms since boot) at the
scenario start; EVENT records for every observable event (channel = the event's first
channel); SUMMARY records per ``window_s`` with the good-signal time (no lead-off and worn
on every channel) and counts. Frames are encoded with the firmware's own record layout.
"""
from __future__ import annotations

import numpy as np

from ... import records as rec
from .scenario import Timeline

_KIND = {name: code for code, name in rec.KIND_NAMES.items()}


def truth_frames(tl: Timeline, window_s: int = 300, boot: int = 1, config_version: int = 1) -> list[bytes]:
    """Frames in seq order (seq from 1)."""
    scn = tl.scenario
    dur = scn.duration_s
    start_unix = int(scn.start().timestamp())
    frames: list[tuple[int, int, list[int]]] = []
    frames.append((0, rec.TYPE_BOOT, [boot, rec.RESET_POWER_ON, 0x0100, config_version, 0]))
    frames.append((1000, rec.TYPE_TIME_ANCHOR, [boot, 1000, start_unix + 1, 0, 1]))
    good = np.ones(int(np.ceil(dur)), dtype=bool)
    for iv in tl.intervals:
        if iv.kind in ("not_worn", "leadoff"):
            good[int(iv.start_s):int(np.ceil(iv.end_s))] = False
    evs = [e for e in tl.events if e.observable]
    for e in evs:
        frames.append((int(e.offset_s * 1000), rec.TYPE_EVENT, [
            boot, int(round(e.onset_s * 1000)), int(round(e.duration_s * 1000)), _KIND[e.kind], e.channels[0], 0,
            int(e.peak_uV[0] * 100), int(e.peak_uV[0] * 60), int(e.peak_uV[0] * 0.6 * e.duration_s * 1000),
            int(e.clonus_hz * 100), 0, 0, 0xFFFF, config_version]))
    on = np.array([e.onset_s for e in evs])
    for w0 in range(0, int(dur), window_s):
        w1 = min(w0 + window_s, int(dur))
        sel = [e for e, t in zip(evs, on) if w0 <= t < w1]
        cov = int(good[w0:w1].sum())
        frames.append((w1 * 1000, rec.TYPE_SUMMARY, [
            boot, w0 * 1000, w1 - w0, sum(e.kind != "clonus" for e in sel), sum(e.kind != "spasm" for e in sel),
            min(65535, int(sum(e.duration_s for e in sel if e.kind != "clonus") * 10)),
            min(65535, int(sum(e.duration_s for e in sel if e.kind != "spasm") * 10)),
            cov * 10, (w1 - w0 - cov) * 10, 0, 0, 0, 0, 100, config_version]))
    end_ms = int(dur * 1000)
    frames.append((end_ms + 1, rec.TYPE_TIME_ANCHOR, [boot, end_ms, start_unix + end_ms // 1000, 0, 1]))
    frames.sort(key=lambda f: f[0])
    return [rec.encode(t, i + 1, vals) for i, (_, t, vals) in enumerate(frames)]


def peridose_truth(tl: Timeline, bin_min: int = 30, max_h: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Expected spontaneous rate (events/h) by time since the last taken dose, averaged over
    the observable minutes: the shape the analysis's peri-dose curve should recover."""
    grid = tl.grid_t_s
    doses = np.array(sorted(d.t_s for d in tl.plan.taken()))
    k = np.searchsorted(doses, grid, side="right") - 1
    since = np.where(k >= 0, grid - doses[np.clip(k, 0, None)], np.inf)
    nb = int(max_h * 60 // bin_min)
    b = (since // (bin_min * 60)).astype(float)
    ok = np.isfinite(b) & (b < nb)
    for iv in tl.intervals:
        if iv.kind in ("not_worn", "leadoff"):
            ok &= ~((grid >= iv.start_s) & (grid < iv.end_s))
    bi = b[ok].astype(int)
    s = np.bincount(bi, weights=tl.hazard_per_h[ok], minlength=nb)
    n = np.bincount(bi, minlength=nb)
    with np.errstate(invalid="ignore"):
        y = s / n
    return (np.arange(nb) + 0.5) * bin_min / 60, y
