"""Versioned schema migrations.

Each migration is ``(version, description, function(connection))`` and runs in its own
transaction together with the row it adds to ``schema_version``; a store opened by an
older spasmtrack refuses a newer schema instead of guessing. Migration 1 creates the v1
tables from :mod:`.schema`; a later change to a table is a new migration here (portable
``ALTER TABLE ... ADD COLUMN`` through SQLAlchemy) together with the edit in schema.py.
"""
from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, inspect, select

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


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema: patients, devices, records, boots, time anchors, events, summaries, "
        "markers, losses, doses, pump programs, audit log", _v1),
    (2, "device assignment history (who wore which device when)", _v2),
    (3, "clinic web app: users, sessions, web audit log", _v3),
]
LATEST = MIGRATIONS[-1][0]


class SchemaTooNew(RuntimeError):
    pass


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    v = conn.execute(select(s.schema_version.c.version).order_by(
        s.schema_version.c.version.desc()).limit(1)).scalar()
    return int(v or 0)


def migrate(engine, target: int | None = None) -> list[int]:
    """Bring the database to ``target`` (default :data:`LATEST`); returns the versions applied."""
    target = LATEST if target is None else target
    with engine.begin() as conn:
        s.schema_version.create(conn, checkfirst=True)
        have = current_version(conn)
    if have > LATEST:
        raise SchemaTooNew(f"database schema version {have} is newer than this spasmtrack "
                           f"supports ({LATEST}); upgrade spasmtrack")
    applied = []
    for version, desc, fn in MIGRATIONS:
        if version <= have or version > target:
            continue
        with engine.begin() as conn:
            fn(conn)
            conn.execute(s.schema_version.insert().values(
                version=version, applied_utc_ms=int(time.time() * 1000), description=desc))
        applied.append(version)
    return applied
