"""Vectorised UTC -> local time for a patient's IANA zone (DST-aware).

The UTC offset is looked up once per UTC hour of the span (zone transitions fall on whole
UTC hours in practically every zone) and applied to all timestamps in that hour, so 30,000
timestamps cost a few thousand ``zoneinfo`` look-ups instead of 30,000.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def utc_offset_ms(utc_ms: np.ndarray, tz: str) -> np.ndarray:
    """UTC offset (ms, local - UTC) in zone ``tz`` at each UTC instant (ms)."""
    utc_ms = np.asarray(utc_ms, dtype=np.int64)
    if utc_ms.size == 0:
        return np.zeros(0, dtype=np.int64)
    zi = ZoneInfo(tz)
    h = utc_ms // HOUR_MS
    h0, h1 = int(h.min()), int(h.max())
    hours = np.arange(h0, h1 + 1)
    # offsets at day starts first; refine hourly only on days whose offset changes
    days = np.arange(h0 - h0 % 24, h1 + 25, 24)
    day_off = np.array([int(datetime.fromtimestamp(int(d) * 3600, timezone.utc).astimezone(zi)
                            .utcoffset().total_seconds() * 1000) for d in days], dtype=np.int64)
    off = day_off[np.clip((hours - days[0]) // 24, 0, len(days) - 1)]
    changing = np.nonzero(np.diff(day_off))[0]
    for k in changing:
        lo, hi = int(days[k]), int(days[k + 1])
        for hh in range(max(lo, h0), min(hi, h1 + 1)):
            off[hh - h0] = int(datetime.fromtimestamp(hh * 3600, timezone.utc).astimezone(zi)
                               .utcoffset().total_seconds() * 1000)
    return off[h - h0]


def local_ms(utc_ms: np.ndarray, tz: str) -> np.ndarray:
    """Local wall-clock time as ms since 1970-01-01 00:00 *local* (for day/hour binning)."""
    utc_ms = np.asarray(utc_ms, dtype=np.int64)
    return utc_ms + utc_offset_ms(utc_ms, tz)


def local_day_and_hour(utc_ms: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(local day number since epoch, local fractional hour of day) for each instant."""
    loc = local_ms(utc_ms, tz)
    return loc // DAY_MS, (loc % DAY_MS) / HOUR_MS


def local_midnight_utc_ms(day: int, tz: str) -> int:
    """UTC ms of 00:00 local on local day number ``day``."""
    zi = ZoneInfo(tz)
    d = datetime.fromtimestamp(day * 86400, timezone.utc).replace(tzinfo=None)
    return int(d.replace(tzinfo=zi).timestamp() * 1000)


def fmt_local(utc_ms: int, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    return datetime.fromtimestamp(utc_ms / 1000, timezone.utc).astimezone(ZoneInfo(tz)).strftime(fmt)
