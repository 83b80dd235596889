"""Load one patient's stored data for a time range into numpy arrays (UTC ms throughout)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, false, func, or_, select

from ..store import Store
from ..store import schema as s
from .episodes import EPISODE_GAP_MS, group_episodes
from .tzutil import local_ms, DAY_MS


@dataclass
class PatientData:
    """Arrays for analysis. Times are UTC ms; durations ms; amounts ug."""

    patient: str
    tz: str
    from_ms: int
    to_ms: int
    # ev_*: EPISODES (per-channel EVENT records of one device grouped, see episodes.py);
    # every rate, score and fit counts these. Per-record detail is in rec_*.
    ev_t: np.ndarray             # onset, UTC ms (sorted)
    ev_dur: np.ndarray           # ms
    ev_kind: np.ndarray          # 1 spasm, 2 clonus, 3 spasm with clonus
    ev_flags: np.ndarray
    ev_peak_cuv: np.ndarray      # 0.01 uV
    ev_cfg: np.ndarray
    sm_t: np.ndarray             # window start, UTC ms (sorted)
    sm_win_s: np.ndarray
    sm_cov_ds: np.ndarray        # good-signal time, 0.1 s
    sm_lost_ds: np.ndarray
    sm_notworn_ds: np.ndarray
    sm_nsp: np.ndarray
    sm_ncl: np.ndarray
    sm_dropped: np.ndarray
    sm_cfg: np.ndarray
    dose_t: np.ndarray           # UTC ms (active doses, sorted)
    dose_ug: np.ndarray
    dose_route: np.ndarray       # str: oral | intrathecal_bolus
    dose_source: np.ndarray
    dose_id: np.ndarray
    mark_t: np.ndarray           # button 'dose taken' presses, UTC ms
    mark_felt_t: np.ndarray      # button 'felt spasm' presses
    pumps: list[dict] = field(default_factory=list)
    unplaced_events: int = 0
    reboots: int = 0
    reset_causes: dict[int, int] = field(default_factory=dict)
    rejected_anchors: int = 0
    fw_versions: list[int] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    dose_late_entries: int = 0        # active doses entered more than 24 h after being taken
    dose_corrected: int = 0           # dose rows superseded by a correction
    dose_retracted: int = 0
    faults: dict[str, int] = field(default_factory=dict)   # FAULT records by cause
    anchor_utc_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    anchor_tz_quarter_h: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ev_channels: np.ndarray | None = None     # per episode: bit mask of EMG channels (bit c = channel c)
    ev_n_records: np.ndarray | None = None    # per episode: EVENT records grouped into it
    rec_t: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))        # per EVENT record, UTC ms
    rec_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    rec_flags: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    rec_channel: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rec_device: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # store device id
    rec_episode: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # index into ev_*
    episode_gap_ms: int = EPISODE_GAP_MS
    summaries_dropped_dup: int = 0    # summary windows stored twice for the same device time
    # active doses of drugs other than baclofen in the period, as logged (listed, exported,
    # never part of the baclofen model): dicts with id, taken_utc_ms, drug, amount, unit,
    # amount_ug, route, source
    other_doses: list[dict] = field(default_factory=list)

    @property
    def config_versions(self) -> list[int]:
        return sorted({int(x) for x in np.concatenate([self.ev_cfg, self.sm_cfg]) if x is not None})

    @property
    def is_itb(self) -> bool:
        return bool(self.pumps) or bool(np.any(self.dose_route == "intrathecal_bolus"))


def load(store: Store, patient: str, from_ms: int, to_ms: int, *, history_ms: int = 2 * DAY_MS,
         episode_gap_ms: int = EPISODE_GAP_MS) -> PatientData:
    """Everything of ``patient`` in [from_ms, to_ms). Doses from ``history_ms`` earlier are
    included too (they still act at the start of the range). EVENT records are grouped into
    episodes across channels (``episode_gap_ms``, see :mod:`.episodes`)."""
    p = store.patient(patient)
    wins = [(did, key, max(a, from_ms), min(b, to_ms)) for did, key, a, b in store.device_windows(patient)]
    wins = [w for w in wins if w[2] < w[3]]
    dids = sorted({w[0] for w in store.device_windows(patient)})

    def within(col_dev, col_t):
        return or_(*[and_(col_dev == did, col_t >= a, col_t < b) for did, _, a, b in wins]) if wins else false()

    with store.engine.connect() as c:
        devs = sorted({(w[0], w[1]) for w in store.device_windows(patient)})
        e = s.events
        z = lambda col: func.coalesce(col, 0)  # noqa: E731 - NULL -> 0 so rows form one int array
        ev = c.execute(select(e.c.onset_utc_ms, e.c.duration_ms, e.c.kind, e.c.flags,
                              z(e.c.peak_cuv), z(e.c.config_version), z(e.c.channel), e.c.device_id).where(
            within(e.c.device_id, e.c.onset_utc_ms)).order_by(e.c.onset_utc_ms)).all()
        unplaced = c.execute(select(func.count()).select_from(e).where(
            e.c.device_id.in_(dids), e.c.onset_utc_ms.is_(None))).scalar()
        sm = s.summaries
        su = c.execute(select(sm.c.start_utc_ms, sm.c.device_id, sm.c.window_s, sm.c.covered_ds, sm.c.lost_ds,
                              z(sm.c.not_worn_ds), sm.c.n_spasm, sm.c.n_clonus, z(sm.c.dropped_samples),
                              z(sm.c.config_version)).where(
            within(sm.c.device_id, sm.c.start_utc_ms)).order_by(sm.c.start_utc_ms)).all()
        d = s.doses
        do = c.execute(select(d.c.taken_utc_ms, d.c.amount_ug, d.c.route, d.c.source, d.c.id).where(
            d.c.patient_id == p["id"], d.c.status == "active", d.c.drug == "baclofen",
            d.c.taken_utc_ms >= from_ms - history_ms, d.c.taken_utc_ms < to_ms)
            .order_by(d.c.taken_utc_ms)).all()
        others = [dict(r) for r in c.execute(select(
            d.c.id, d.c.taken_utc_ms, d.c.drug, d.c.amount, d.c.unit, d.c.amount_ug, d.c.route,
            d.c.source).where(d.c.patient_id == p["id"], d.c.status == "active", d.c.drug != "baclofen",
                              d.c.taken_utc_ms >= from_ms, d.c.taken_utc_ms < to_ms)
            .order_by(d.c.taken_utc_ms)).mappings()]
        fault_frames = [bytes(r[0]) for r in c.execute(select(s.records.c.frame).where(
            s.records.c.device_id.in_(dids), s.records.c.rtype == 8))]
        ta = s.time_anchors
        anc = c.execute(select(ta.c.unix_s, ta.c.tz_quarter_h).where(
            ta.c.device_id.in_(dids), ta.c.used == 1, ta.c.unix_s >= from_ms // 1000,
            ta.c.unix_s < to_ms // 1000, ta.c.tz_quarter_h.is_not(None)).order_by(ta.c.unix_s)).all()
        hist = c.execute(select(d.c.status, d.c.taken_utc_ms, d.c.entered_utc_ms).where(
            d.c.patient_id == p["id"], d.c.taken_utc_ms >= from_ms, d.c.taken_utc_ms < to_ms)).all()
        m = s.markers
        mk = c.execute(select(m.c.utc_ms, m.c.kind).where(within(m.c.device_id, m.c.utc_ms))).all()
        b = s.boots
        bo = c.execute(select(b.c.reset_cause, b.c.fw_version).where(b.c.device_id.in_(dids))).all()
        rej = c.execute(select(func.count()).select_from(s.time_anchors).where(
            s.time_anchors.c.device_id.in_(dids), s.time_anchors.c.used == 0)).scalar()
        pp = s.pump_programs
        pumps = [dict(r) for r in c.execute(select(pp).where(
            pp.c.patient_id == p["id"], pp.c.status == "active")).mappings()]
    for r in pumps:
        r["steps"] = json.loads(r["steps_json"])

    def col(rows, i, dt):
        return np.array([r[i] if r[i] is not None else 0 for r in rows], dtype=dt)

    def table(rows, ncol):
        from itertools import chain
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows) * ncol)
        return flat.reshape(-1, ncol)
    E = table(ev, 8)
    S = table(su, 10)
    # A window of device time is counted once: the same device's window stored twice (e.g.
    # re-emitted after a reboot with a new seq) would otherwise double its signal hours.
    _, first = np.unique(S[:, :2], axis=0, return_index=True) if len(S) else (None, np.zeros(0, np.int64))
    n_dup = len(S) - len(first)
    S = S[np.sort(first)]
    S = np.delete(S, 1, axis=1)
    ep = group_episodes(E[:, 0], E[:, 1], E[:, 2], E[:, 3], E[:, 4], E[:, 5], E[:, 6], E[:, 7],
                        gap_ms=episode_gap_ms)

    from .. import records as rec
    fault_names = {1: "exception", 2: "watchdog", 3: "memory", 4: "brown-out"}
    faults: dict[str, int] = {}
    for fr in fault_frames:
        cause = fault_names.get(rec.decode_frame(fr).fields.get("cause"), "other")
        faults[cause] = faults.get(cause, 0) + 1
    causes: dict[int, int] = {}
    for rc, _ in bo:
        causes[int(rc or 0)] = causes.get(int(rc or 0), 0) + 1
    return PatientData(
        patient=patient, tz=p["tz"], from_ms=from_ms, to_ms=to_ms,
        ev_t=ep.t, ev_dur=ep.dur, ev_kind=ep.kind, ev_flags=ep.flags, ev_peak_cuv=ep.peak_cuv,
        ev_cfg=ep.cfg, ev_channels=ep.channels, ev_n_records=ep.n_records,
        rec_t=E[:, 0].copy(), rec_kind=E[:, 2].astype(np.int8), rec_flags=E[:, 3].astype(np.int32),
        rec_channel=E[:, 6].copy(), rec_device=E[:, 7].copy(), rec_episode=ep.record_episode,
        episode_gap_ms=int(episode_gap_ms), summaries_dropped_dup=int(n_dup),
        sm_t=S[:, 0].copy(), sm_win_s=S[:, 1].astype(np.int32), sm_cov_ds=S[:, 2].copy(),
        sm_lost_ds=S[:, 3].copy(), sm_notworn_ds=S[:, 4].copy(),
        sm_nsp=S[:, 5].copy(), sm_ncl=S[:, 6].copy(), sm_dropped=S[:, 7].copy(),
        sm_cfg=S[:, 8].astype(np.int32),
        dose_t=col(do, 0, np.int64), dose_ug=col(do, 1, float),
        dose_route=np.array([r[2] for r in do], dtype=object), dose_source=np.array([r[3] for r in do], dtype=object),
        dose_id=col(do, 4, np.int64),
        mark_t=np.array(sorted(int(r[0]) for r in mk if r[1] == 1), dtype=np.int64),
        mark_felt_t=np.array(sorted(int(r[0]) for r in mk if r[1] == 2), dtype=np.int64),
        pumps=pumps, unplaced_events=int(unplaced or 0), reboots=max(0, len(bo) - 1),
        reset_causes=causes, rejected_anchors=int(rej or 0),
        fw_versions=sorted({int(r[1]) for r in bo if r[1] is not None}),
        devices=[k for _, k in devs],
        faults=faults,
        anchor_utc_ms=np.array([int(r[0]) * 1000 for r in anc], dtype=np.int64),
        anchor_tz_quarter_h=np.array([int(r[1]) for r in anc], dtype=np.int64),
        dose_late_entries=sum(1 for st_, t, e_ in hist if st_ == "active" and e_ - t > DAY_MS),
        dose_corrected=sum(1 for st_, _, _ in hist if st_ == "superseded"),
        dose_retracted=sum(1 for st_, _, _ in hist if st_ == "retracted"),
        other_doses=others)


def pump_rate_fn(programs: list[dict]):
    """Function grid_ms (UTC) -> programmed ITB rate in ug/day (0 outside programs).

    Each program's steps are local clock times in its own zone (``tz``), so a schedule
    follows the wall clock across DST changes, as the patient's pump clock does.
    """
    progs = []
    for p in programs:
        steps = p["steps"]
        pairs = [(st.minute, st.rate_ug_day) if hasattr(st, "minute") else
                 (int(st[0][:2]) * 60 + int(st[0][3:5]), float(st[1])) for st in steps]
        pairs.sort()
        progs.append((p["valid_from_utc_ms"], p["valid_to_utc_ms"] or 2**62, p["tz"],
                      np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])))

    def fn(grid_ms: np.ndarray) -> np.ndarray:
        grid_ms = np.asarray(grid_ms, dtype=np.int64)
        out = np.zeros(len(grid_ms))
        for a, b, tz, mins, rates in progs:
            sel = (grid_ms >= a) & (grid_ms < b)
            if not sel.any():
                continue
            minute = (local_ms(grid_ms[sel], tz) % DAY_MS) // 60_000
            idx = np.searchsorted(mins, minute, side="right") - 1   # -1 wraps to the last step
            out[sel] = rates[idx]
        return out
    return fn
