"""What the clinic's patient list shows per patient: last sync, 7-day coverage, weekly
spasm rate and data-quality flags. Plain data (no web framework), computed from the store
through :func:`spasmtrack.analysis.load`, so rates mean what they mean in the report:
episodes per hour of good signal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select

from .. import records as rec
from ..analysis import load
from ..analysis.tzutil import DAY_MS
from ..store import Store
from ..store import schema as s

WEEKS = 8                    # sparkline length, weeks ending now
MIN_WEEK_COVERAGE_H = 1.0    # a week with less good signal has no rate (gap in the line)


@dataclass(frozen=True)
class Thresholds:
    """When a data-quality flag is raised (shown on the page with the flags)."""

    stale_sync_days: float = 3.0      # no sync for more than this many days
    min_coverage: float = 0.5         # good-signal share of the last 7 days below this
    max_lost_share: float = 0.10      # signal lost (lead-off, flat, railed) above this share
                                      # of the recorded time of the last 7 days


@dataclass
class Overview:
    """One row of the patient list. Times UTC ms, durations h, rates episodes/h."""

    code: str
    tz: str
    display_name: str | None
    devices: list[str]
    last_sync_ms: int | None
    covered_h_7d: float
    lost_h_7d: float
    coverage_7d: float                 # covered hours / 168 h
    leadoff_events_7d: int             # events flagged 'partial lead-off' by the device
    week_start_ms: list[int]
    week_rate: list[float | None]      # episodes per hour of good signal; None: < 1 h signal
    week_cov_h: list[float]
    #: ACK records naming a bond no host of this store synced under: (device key, from seq,
    #: bond id); acknowledged records are deleted on the device by whoever acknowledged them
    unknown_acks: list[tuple[str, int, int]] = field(default_factory=list)
    flags: list[tuple[str, str]] = field(default_factory=list)   # (key, text)


def last_sync_ms(store: Store, code: str) -> int | None:
    """When a record of any device the patient wore was last received (UTC ms)."""
    dids = sorted({w[0] for w in store.device_windows(code)})
    if not dids:
        return None
    with store.engine.connect() as c:
        v = c.execute(select(func.max(s.records.c.received_utc_ms)).where(
            s.records.c.device_id.in_(dids))).scalar()
    return int(v) if v is not None else None


def unknown_acks(store: Store, code: str) -> list[tuple[str, int, int]]:
    """ACK records of the patient's devices (received while the patient wore them) that
    name a bond id none of this store's syncs used: (device key, from seq, bond id)."""
    windows = store.device_windows(code)
    if not windows:
        return []
    known = store.host_bonds(w[0] for w in windows)
    r = s.records
    out = []
    with store.engine.connect() as c:
        for did, key, t0, t1 in windows:
            for frame, in c.execute(select(r.c.frame).where(
                    r.c.device_id == did, r.c.rtype == rec.fw.TYPE_ACK,
                    r.c.received_utc_ms >= t0, r.c.received_utc_ms < t1).order_by(r.c.seq)):
                a = rec.decode_frame(frame)
                if a["peer_id"] not in known[did]:
                    out.append((key, int(a["from_seq"]), int(a["peer_id"])))
    return out


def overview(store: Store, patient: dict, now_ms: int, th: Thresholds = Thresholds()) -> Overview:
    code = patient["code"]
    t0 = now_ms - WEEKS * 7 * DAY_MS
    d = load(store, code, t0, now_ms)
    win_ds = d.sm_win_s.astype(np.int64) * 10
    cov_ds = np.minimum(d.sm_cov_ds, win_ds)
    lost_ds = np.minimum(d.sm_lost_ds, win_ds)
    edges = t0 + np.arange(WEEKS + 1, dtype=np.int64) * 7 * DAY_MS
    wi = np.searchsorted(edges, d.sm_t, side="right") - 1
    cov_h = np.bincount(wi.clip(0, WEEKS - 1), weights=cov_ds, minlength=WEEKS) / 36_000.0
    ei = np.searchsorted(edges, d.ev_t, side="right") - 1
    n_ev = np.bincount(ei.clip(0, WEEKS - 1), minlength=WEEKS)
    rates = [float(n / h) if h >= MIN_WEEK_COVERAGE_H else None for n, h in zip(n_ev, cov_h, strict=True)]

    last7 = d.sm_t >= now_ms - 7 * DAY_MS
    covered_h = float(cov_ds[last7].sum()) / 36_000.0
    lost_h = float(lost_ds[last7].sum()) / 36_000.0
    recent_rec = d.rec_t >= now_ms - 7 * DAY_MS
    leadoff_ev = int(np.count_nonzero(d.rec_flags[recent_rec] & rec.fw.FLAG_PARTIAL_LEADOFF))
    ov = Overview(code=code, tz=patient["tz"], display_name=patient.get("display_name"),
                  devices=d.devices, last_sync_ms=last_sync_ms(store, code),
                  covered_h_7d=covered_h, lost_h_7d=lost_h, coverage_7d=covered_h / (7 * 24),
                  leadoff_events_7d=leadoff_ev, week_start_ms=[int(x) for x in edges[:-1]],
                  week_rate=rates, week_cov_h=[float(x) for x in cov_h],
                  unknown_acks=unknown_acks(store, code))
    ov.flags = flags(ov, now_ms, th)
    return ov


def flags(ov: Overview, now_ms: int, th: Thresholds) -> list[tuple[str, str]]:
    """Data-quality flags, each (key, one-line text with the measured number)."""
    out = []
    if ov.last_sync_ms is None:
        out.append(("never_synced", "never synced"))
    elif now_ms - ov.last_sync_ms > th.stale_sync_days * DAY_MS:
        days = (now_ms - ov.last_sync_ms) / DAY_MS
        out.append(("stale_sync", f"no sync for {days:.1f} days"))
    if ov.last_sync_ms is not None and ov.coverage_7d < th.min_coverage:
        out.append(("low_coverage", f"low coverage: {ov.covered_h_7d:.1f} h of good signal in "
                                    f"the last 7 days ({100 * ov.coverage_7d:.0f} %)"))
    recorded = ov.covered_h_7d + ov.lost_h_7d
    if recorded > 0 and ov.lost_h_7d / recorded > th.max_lost_share:
        out.append(("lead_off", f"lead-off: signal lost for {ov.lost_h_7d:.1f} h "
                                f"({100 * ov.lost_h_7d / recorded:.0f} % of recorded time, last 7 days)"))
    elif ov.leadoff_events_7d:
        out.append(("lead_off", f"lead-off during {ov.leadoff_events_7d} event(s) in the last 7 days"))
    if ov.unknown_acks:
        key, seq, pid = ov.unknown_acks[0]
        more = f" (and {len(ov.unknown_acks) - 1} more time(s))" if len(ov.unknown_acks) > 1 else ""
        out.append(("unknown_ack", f"records of {key} from seq {seq} on were acknowledged by a "
                                   f"host this clinic does not know (bond id {pid:04x}){more}: "
                                   "they may be missing here"))
    return out


def has_data(store: Store, code: str, from_ms: int, to_ms: int) -> bool:
    """Whether any summary window or event of the patient falls in [from_ms, to_ms)."""
    d = load(store, code, from_ms, to_ms, history_ms=0)
    return bool(d.sm_t.size or d.ev_t.size)

