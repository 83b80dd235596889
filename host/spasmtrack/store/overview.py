"""The clinic overview: one row per patient over the last days, in one query.

What a clinician scanning a list of patients needs first: when each patient's devices
last synced, how many spasm/clonus events were recorded over how many hours of good
signal (so a low count from a sensor that was off is visible as such), and how many
doses were logged. Events and signal time count only inside the patient's device
assignment windows. Served by the (device_id, onset_utc_ms) and (device_id,
start_utc_ms) indexes and the (device_id, seq) unique index (latest record per device),
so its cost grows with the window, not with the history stored.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from . import schema as s

__all__ = ["PatientOverview", "clinic_overview"]

DAY_MS = 86_400_000


@dataclass(frozen=True)
class PatientOverview:
    """One patient over ``[since_utc_ms, until_utc_ms)`` (UTC ms)."""

    code: str
    tz: str                          # IANA zone the patient's days are counted in
    devices: int                     # devices assigned at some time in the window
    last_sync_utc_ms: int | None     # when the newest record of any of them was received
    events: int                      # spasm/clonus events in the window
    good_signal_h: float             # hours of good signal (summary windows) in the window
    doses: int                       # active doses taken in the window

    @property
    def events_per_good_h(self) -> float | None:
        """Events per hour of good signal; None without any good signal (not zero)."""
        return self.events / self.good_signal_h if self.good_signal_h > 0 else None


def clinic_overview(store, until_utc_ms: int, days: int = 7) -> list[PatientOverview]:
    """Every patient's overview of the ``days`` before ``until_utc_ms``, by patient code."""
    with store.engine.connect() as c:
        rows = c.execute(overview_query(until_utc_ms - days * DAY_MS, until_utc_ms)).all()
    return [PatientOverview(code, tz, int(nd), int(last) if last is not None else None, int(ne),
                            int(ds) / 36_000.0, int(nz))
            for code, tz, nd, last, ne, ds, nz in rows]


def overview_query(since: int, until_utc_ms: int):
    """The SELECT behind :func:`clinic_overview` for ``[since, until_utc_ms)`` (UTC ms)."""
    p, da, e, sm, r, d = (s.patients, s.device_assignments, s.events, s.summaries, s.records,
                          s.doses)
    in_window = and_(da.c.from_utc_ms < until_utc_ms,
                     or_(da.c.to_utc_ms.is_(None), da.c.to_utc_ms > since))

    def within(col):
        return and_(col >= since, col < until_utc_ms, col >= da.c.from_utc_ms,
                    or_(da.c.to_utc_ms.is_(None), col < da.c.to_utc_ms))

    ev = (select(da.c.patient_id, func.count().label("n"))
          .join(e, e.c.device_id == da.c.device_id).where(within(e.c.onset_utc_ms))
          .group_by(da.c.patient_id).subquery())
    cov = (select(da.c.patient_id, func.sum(sm.c.covered_ds).label("ds"))
           .join(sm, sm.c.device_id == da.c.device_id).where(within(sm.c.start_utc_ms))
           .group_by(da.c.patient_id).subquery())
    newest = (select(r.c.received_utc_ms).where(r.c.device_id == da.c.device_id)
              .order_by(r.c.seq.desc()).limit(1).scalar_subquery())
    dev = (select(da.c.patient_id, func.count(func.distinct(da.c.device_id)).label("n"),
                  func.max(newest).label("last"))
           .where(in_window).group_by(da.c.patient_id).subquery())
    dz = (select(d.c.patient_id, func.count().label("n"))
          .where(d.c.status == "active", d.c.taken_utc_ms >= since, d.c.taken_utc_ms < until_utc_ms)
          .group_by(d.c.patient_id).subquery())
    q = (select(p.c.code, p.c.tz, func.coalesce(dev.c.n, 0), dev.c.last,
                func.coalesce(ev.c.n, 0), func.coalesce(cov.c.ds, 0), func.coalesce(dz.c.n, 0))
         .outerjoin(dev, dev.c.patient_id == p.c.id).outerjoin(ev, ev.c.patient_id == p.c.id)
         .outerjoin(cov, cov.c.patient_id == p.c.id).outerjoin(dz, dz.c.patient_id == p.c.id)
         .order_by(p.c.code))
    return q
