"""Versioned schema migrations.

Each migration is ``(version, description, function(connection))`` and runs in its own
transaction together with the row it adds to ``schema_version``; a store opened by an
older spasmtrack refuses a newer schema instead of guessing. The same migrations run on
SQLite and PostgreSQL. Migration 1 creates the v1 tables from :mod:`.schema`; a later
change to a table is a new migration here together with the edit in schema.py, written
so it also holds on a database whose v1 tables were created from the newer schema.py
(add a column or index only if it is missing). Concurrent openers wait for each other:
PostgreSQL through an advisory lock, SQLite through ``BEGIN IMMEDIATE``.
"""
from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, inspect, select, text, update

from . import schema as s
from . import webschema as ws


V1_TABLES = ("patients", "devices", "records", "boots", "time_anchors", "events", "summaries",
             "markers", "losses", "doses", "pump_programs", "audit_log")


def _v1(conn: Connection) -> None:
    s.metadata.create_all(conn, tables=[s.metadata.tables[n] for n in V1_TABLES])


def _v2(conn: Connection) -> None:
    """Device assignment history; existing device->patient links become open-ended
    assignments covering all earlier data."""
    s.device_assignments.create(conn)
    now = int(time.time() * 1000)
    rows = conn.execute(select(s.devices.c.id, s.devices.c.patient_id).where(
        s.devices.c.patient_id.is_not(None))).all()
    if rows:
        conn.execute(s.device_assignments.insert(), [
            {"device_id": d, "patient_id": p, "from_utc_ms": 0, "to_utc_ms": None,
             "who": "migration 2", "at_utc_ms": now} for d, p in rows])


def _v3(conn: Connection) -> None:
    """Clinic web app: users, server-side sessions, web audit log (additive)."""
    s.metadata.create_all(conn, tables=[s.metadata.tables[n] for n in ws.WEB_TABLES])


def _v4(conn: Connection) -> None:
    """Duplicate doses are refused by the database: one active dose per fingerprint and
    occurrence (``occurrence`` > 0 only for a dose deliberately logged again). Existing
    active repeats are numbered 1, 2, ... in id order so the index can be built. And the
    summaries' (device, start) index gains covered_ds for the clinic overview."""
    insp = inspect(conn)
    if "occurrence" not in {c["name"] for c in insp.get_columns("doses")}:
        conn.execute(text("ALTER TABLE doses ADD COLUMN occurrence INTEGER NOT NULL DEFAULT 0"))
    d = s.doses
    seen: dict[str, int] = {}
    for did, fp in conn.execute(select(d.c.id, d.c.fingerprint).where(
            d.c.status == "active").order_by(d.c.id)).all():
        n = seen.get(fp, -1) + 1
        seen[fp] = n
        if n:
            conn.execute(update(d).where(d.c.id == did).values(occurrence=n))
    if "uq_doses_active_fingerprint" not in {i["name"] for i in insp.get_indexes("doses")}:
        s.ix_doses_active_fingerprint.create(conn)
    # The clinic overview's good-signal sum reads (device, start, covered) from one index,
    # which also serves everything the narrower (device, start) index did.
    have = {i["name"] for i in insp.get_indexes("summaries")}
    if "ix_summaries_device_utc_cov" not in have:
        next(i for i in s.summaries.indexes if i.name == "ix_summaries_device_utc_cov").create(conn)
    if "ix_summaries_device_utc" in have:
        conn.execute(text("DROP INDEX ix_summaries_device_utc"))


def _v5(conn: Connection) -> None:
    """The bond ids under which this store's hosts synced each device (additive)."""
    s.host_bonds.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema: patients, devices, records, boots, time anchors, events, summaries, "
        "markers, losses, doses, pump programs, audit log", _v1),
    (2, "device assignment history (who wore which device when)", _v2),
    (3, "clinic web app: users, sessions, web audit log", _v3),
    (4, "doses: one active dose per fingerprint and occurrence (unique index); "
        "summaries: covering index for the clinic overview", _v4),
    (5, "host bonds: the bond ids under which this store's hosts synced each device", _v5),
]
LATEST = MIGRATIONS[-1][0]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer spasmtrack (the CLI says so in one line,
    naming the database: :mod:`spasmtrack.cli_messages`)."""


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    v = conn.execute(select(s.schema_version.c.version).order_by(
        s.schema_version.c.version.desc()).limit(1)).scalar()
    return int(v or 0)


def applied_versions(conn: Connection) -> set[int]:
    """Every migration recorded in ``schema_version`` (a database made before migration 3
    was numbered, e.g. on branch i14db, can have 4 without 3)."""
    if not inspect(conn).has_table("schema_version"):
        return set()
    return {int(v) for v in conn.execute(select(s.schema_version.c.version)).scalars()}


#: Key of the PostgreSQL advisory lock that serialises migrations (any fixed 64-bit number).
_PG_MIGRATION_LOCK = 0x5350_4153_4D00


def migrate(engine, target: int | None = None) -> list[int]:
    """Bring the database to ``target`` (default :data:`LATEST`); returns the versions applied."""
    target = LATEST if target is None else target
    pg = engine.dialect.name == "postgresql"
    applied: list[int] = []
    with engine.connect() as conn:
        conn = conn.execution_options(spasmtrack_write=True)   # SQLite: BEGIN IMMEDIATE
        if pg:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
        try:
            with conn.begin():
                s.schema_version.create(conn, checkfirst=True)
                have = current_version(conn)
                done = applied_versions(conn)
            if have > LATEST:
                raise SchemaTooNew(f"database schema version {have} is newer than this "
                                   f"spasmtrack supports ({LATEST}); upgrade spasmtrack")
            for version, desc, fn in MIGRATIONS:
                # A missing lower version (a gap) is applied too: migrations are additive.
                if version in done or version > target:
                    continue
                with conn.begin():
                    if version in applied_versions(conn):   # another opener did it meanwhile
                        continue
                    fn(conn)
                    conn.execute(s.schema_version.insert().values(
                        version=version, applied_utc_ms=int(time.time() * 1000),
                        description=desc))
                applied.append(version)
        finally:
            if pg:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
    return applied
