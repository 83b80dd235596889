"""Storage of patients, devices, synced records, doses and pump programs.

``open_store(url)`` takes a database URL: ``sqlite:///path`` (the embedded default) or
``postgresql://user@host/db`` (the clinic database, driver psycopg 3). The same portable
SQLAlchemy Core tables and migrations serve both. The SQLite file is created readable by
its owner only (0600) because it holds health data; foreign keys are enforced.

Concurrency: every change runs in one short transaction through :meth:`Store.transaction`,
which waits for a busy database and retries (SQLite: write-ahead log, so readers never
wait for a writer, and ``BEGIN IMMEDIATE`` for writers; PostgreSQL: retried on
serialization failures, deadlocks and, where the change is idempotent, on a unique
violation by a concurrent writer). Uniqueness lives in the database: (device, seq) per
record, one active dose per fingerprint and occurrence. After ``busy_timeout_s`` of
waiting it raises :class:`StoreBusy`, a one-line message naming the database.

The BLE sync uses :meth:`Store.last_seq` and :meth:`Store.insert_records`; frames are
decoded only through :mod:`spasmtrack.records` (the firmware's own definition).
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from ..errors import UserError
from . import schema as s
from .bulk import copy_rows, update_by_id
from .migrations import migrate
from .timemap import TimeMap

__all__ = ["Store", "open_store", "default_url", "InsertResult", "SyncConflict", "StoreBusy",
           "normalise_url"]

ENV_VAR = "SPASMTRACK_DB"
#: How long a change waits for a busy database in total before giving up (seconds).
BUSY_TIMEOUT_S = 30.0
#: The database's own wait for a lock inside one attempt (milliseconds; SQLite
#: busy_timeout, PostgreSQL lock_timeout), at most the store's whole budget.
_ATTEMPT_WAIT_MS = 2000
# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected,
# lock_not_available; unique_violation only where the caller says the change is idempotent.
_PG_TRANSIENT = {"40001", "40P01", "55P03"}
_PG_UNIQUE = "23505"
T = TypeVar("T")


def default_url() -> str:
    """``$SPASMTRACK_DB`` or ``sqlite:///~/.local/share/spasmtrack/spasmtrack.sqlite``."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return f"sqlite:///{base / 'spasmtrack' / 'spasmtrack.sqlite'}"


def now_ms() -> int:
    return int(time.time() * 1000)


class SyncConflict(UserError):
    """A frame arrived for an already stored (device, seq) with different content."""


class StoreBusy(UserError):
    """The database stayed busy (locked by other writers) longer than the store waits."""


def normalise_url(url: str) -> str:
    """A bare path becomes ``sqlite:///path``; ``postgresql://`` selects psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _transient(exc: DBAPIError, retry_unique: bool) -> bool:
    """Whether ``exc`` means "another writer got there first; try again"."""
    code = getattr(exc.orig, "sqlstate", None)
    if code is not None:
        return code in _PG_TRANSIENT or (retry_unique and code == _PG_UNIQUE)
    msg = str(exc.orig).lower()
    return "database is locked" in msg or "database is busy" in msg


@dataclass
class InsertResult:
    """Outcome of one :meth:`Store.insert_records` call (one transaction)."""

    inserted: int = 0
    duplicates: int = 0                       # same (device, seq) and identical bytes
    by_type: dict[int, int] = field(default_factory=dict)
    last_seq: int = 0


def _prepare_sqlite_file(url: str) -> None:
    u = make_url(url)
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    path = Path(db).expanduser()
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def _sqlite_pragmas(wait_ms: int):
    def on_connect(dbapi_conn, _record) -> None:
        _sqlite_setup(dbapi_conn, wait_ms)
    return on_connect


def _sqlite_setup(dbapi_conn, wait_ms: int) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver's implicit BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
    # Write-ahead log: a report reads its snapshot while an import or sync writes.
    # synchronous stays FULL: a sync acknowledges records to the device once committed,
    # so a commit must survive a power cut.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """Writers take the write lock at BEGIN (waiting for it there), readers do not."""
    write = conn.get_execution_options().get("spasmtrack_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Store:
    """A spasmtrack database. Create with :func:`open_store`."""

    def __init__(self, engine: Engine, *, busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.engine = engine
        self.busy_timeout_s = busy_timeout_s
        self._writer = engine.execution_options(spasmtrack_write=True)
        self.migrations_applied = migrate(engine)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def describe(self) -> str:
        """The database URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def transaction(self, fn: Callable[[Connection], T], *, what: str,
                    retry_unique: bool = False) -> T:
        """Run ``fn(connection)`` in one write transaction, retrying while the database is busy.

        ``fn`` must be safe to run again from the start (it re-reads what it depends on).
        A lock held by another writer, a serialization failure or a deadlock rolls back
        and retries with jittered back-off; ``retry_unique`` also retries a unique
        violation (a concurrent writer stored the same row first, and ``fn`` will see it
        on the next run). After :attr:`busy_timeout_s` raises :class:`StoreBusy`.
        """
        deadline = time.monotonic() + self.busy_timeout_s
        pause = 0.02
        while True:
            try:
                with self._writer.begin() as c:
                    return fn(c)
            except DBAPIError as exc:
                if not _transient(exc, retry_unique):
                    raise
                if time.monotonic() + pause > deadline:
                    raise StoreBusy(
                        f"database {self.describe()} stayed busy for {self.busy_timeout_s:g} s "
                        f"while {what}; nothing of it was stored. Other spasmtrack processes "
                        "are writing to it: try again when they finish") from None
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 0.5)

    # ------------------------------------------------------------------ patients/devices
    def add_patient(self, code: str, tz: str, display_name: str | None = None) -> int:
        """Register a patient (pseudonymous ``code``, IANA time zone ``tz``)."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError(f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin)") from None

        def add(c: Connection) -> int:
            if c.execute(select(s.patients.c.id).where(s.patients.c.code == code)).first():
                raise UserError(f"patient {code!r} already exists")
            return int(c.execute(s.patients.insert().values(
                code=code, tz=tz, display_name=display_name,
                created_utc_ms=now_ms())).inserted_primary_key[0])
        return self.transaction(add, what=f"adding patient {code}", retry_unique=True)

    def patient(self, code: str) -> dict:
        """The patient row as a dict; UserError naming the code if unknown."""
        with self.engine.connect() as c:
            row = c.execute(select(s.patients).where(s.patients.c.code == code)).mappings().first()
        if row is None:
            raise UserError(f"unknown patient {code!r} (add it with `spasmtrack patient add`)")
        return dict(row)

    def patients(self) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(s.patients).order_by(s.patients.c.code)).mappings()]

    def device_id(self, key: str, *, create: bool = True, board: str | None = None) -> int:
        """Internal id of the device with ``key`` (BLE address or serial), registering it."""
        return self.transaction(lambda c: self._device_id(c, key, create, board),
                                what=f"registering device {key}", retry_unique=True)

    def _device_id(self, c, key: str, create: bool, board: str | None = None,
                   lock: bool = False) -> int:
        """The device's id, registering it if ``create``. ``lock``: hold its row until the
        transaction ends (PostgreSQL ``FOR UPDATE``; SQLite writers are serial anyway), so
        concurrent syncs or assignments of one device run one after the other."""
        q = select(s.devices.c.id).where(s.devices.c.key == key)
        row = c.execute(q.with_for_update() if lock else q).first()
        if row:
            return int(row[0])
        if not create:
            raise UserError(f"unknown device {key!r}")
        return int(c.execute(s.devices.insert().values(
            key=key, board=board, created_utc_ms=now_ms())).inserted_primary_key[0])

    def note_host_bond(self, device_key: str, peer_id: int) -> None:
        """Remember that a host of this store synced ``device_key`` under the bond the device
        knows as ``peer_id`` (its status characteristic; 0 = not bonded, not stored)."""
        if not peer_id:
            return
        b = s.host_bonds

        def note(c: Connection) -> None:
            did = self._device_id(c, device_key, True)
            t = now_ms()
            hit = c.execute(update(b).where(b.c.device_id == did, b.c.peer_id == int(peer_id))
                            .values(last_utc_ms=t)).rowcount
            if not hit:
                c.execute(b.insert().values(device_id=did, peer_id=int(peer_id),
                                            first_utc_ms=t, last_utc_ms=t))
        self.transaction(note, what=f"noting the bond of device {device_key}", retry_unique=True)

    def host_bonds(self, device_ids: Iterable[int]) -> dict[int, set[int]]:
        """Device id -> the bond ids this store's hosts synced it under."""
        ids = sorted(set(device_ids))
        out: dict[int, set[int]] = {d: set() for d in ids}
        if ids:
            with self.engine.connect() as c:
                for did, pid in c.execute(select(s.host_bonds.c.device_id, s.host_bonds.c.peer_id)
                                          .where(s.host_bonds.c.device_id.in_(ids))):
                    out[int(did)].add(int(pid))
        return out

    def assign_device(self, key: str, patient_code: str, who: str = "cli",
                      since_utc_ms: int | None = None) -> None:
        """Record that device ``key`` is worn by ``patient_code`` from ``since_utc_ms``.

        A device's first assignment covers all its data unless ``since_utc_ms`` is given; a
        reassignment ends the previous one at ``since_utc_ms`` (default: now), so earlier
        data stays with the earlier patient. Audited; nothing is overwritten.
        """
        pid = self.patient(patient_code)["id"]
        da = s.device_assignments
        def assign(c: Connection) -> None:
            did = self._device_id(c, key, True, lock=True)
            cur = c.execute(select(da).where(da.c.device_id == did, da.c.to_utc_ms.is_(None))
                            .order_by(da.c.from_utc_ms.desc())).mappings().first()
            if cur is not None and cur["patient_id"] == pid:
                return
            if cur is None:
                since = since_utc_ms if since_utc_ms is not None else 0
            else:
                since = since_utc_ms if since_utc_ms is not None else now_ms()
                if since <= cur["from_utc_ms"]:
                    raise UserError(f"device {key} is assigned since {cur['from_utc_ms']} ms UTC; "
                                    "a new assignment must start after that")
                c.execute(update(da).where(da.c.id == cur["id"]).values(to_utc_ms=since))
            c.execute(da.insert().values(device_id=did, patient_id=pid, from_utc_ms=since,
                                         to_utc_ms=None, who=who, at_utc_ms=now_ms()))
            c.execute(update(s.devices).where(s.devices.c.id == did).values(patient_id=pid))
            self._audit(c, "devices", did, "assign", who,
                        {"from_patient_id": cur["patient_id"] if cur else None,
                         "to_patient_id": pid, "since_utc_ms": since})
        self.transaction(assign, what=f"assigning device {key} to {patient_code}",
                         retry_unique=True)

    def device_windows(self, patient_code: str) -> list[tuple[int, str, int, int]]:
        """(device id, device key, from UTC ms, to UTC ms) of every device the patient wore."""
        pid = self.patient(patient_code)["id"]
        da, d = s.device_assignments, s.devices
        with self.engine.connect() as c:
            rows = c.execute(select(da.c.device_id, d.c.key, da.c.from_utc_ms, da.c.to_utc_ms)
                             .join(d, d.c.id == da.c.device_id).where(da.c.patient_id == pid)
                             .order_by(da.c.from_utc_ms)).all()
        return [(int(a), str(k), int(f), int(t) if t is not None else 2**62) for a, k, f, t in rows]

    def devices(self, patient_code: str | None = None) -> list[dict]:
        """Devices (all, or those the patient ever wore)."""
        q = select(s.devices)
        if patient_code:
            ids = sorted({w[0] for w in self.device_windows(patient_code)})
            q = q.where(s.devices.c.id.in_(ids))
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q.order_by(s.devices.c.id)).mappings()]

    # ------------------------------------------------------------------ sync
    def last_seq(self, device_key: str) -> int:
        """Highest record seq stored for the device (0 when none): resume sync after it."""
        with self.engine.connect() as c:
            did = c.execute(select(s.devices.c.id).where(s.devices.c.key == device_key)).scalar()
            if did is None:
                return 0
            return int(c.execute(select(func.max(s.records.c.seq)).where(
                s.records.c.device_id == did)).scalar() or 0)

    def insert_records(self, device_key: str, frames: Iterable[bytes]) -> InsertResult:
        """Store raw record frames of one device in ONE transaction, idempotently.

        Each frame is decoded with :mod:`spasmtrack.records`; a frame that does not decode
        raises ``UserError`` naming its index and reason and nothing of the batch is stored
        (the sync can ask again). A (device, seq) already stored with identical bytes is
        counted as a duplicate; with different bytes it raises :class:`SyncConflict`.
        """
        from .. import records as rec
        decoded = []
        for i, fr in enumerate(frames):
            fr = bytes(fr)
            try:
                r = rec.decode_frame(fr)
            except rec.RecordError as exc:
                raise UserError(f"device {device_key}: frame #{i} of this batch "
                                f"({len(fr)} bytes) does not decode: {exc}") from None
            if len(r.raw) != len(fr):
                raise UserError(f"device {device_key}: frame #{i} (seq {r.seq}) has "
                                f"{len(fr) - len(r.raw)} trailing bytes after the "
                                f"{len(r.raw)}-byte record")
            decoded.append((r.rtype, r.seq, r.fields, fr))
        return self.insert_decoded(device_key, decoded)

    def insert_decoded(self, device_key: str, rows: list[tuple[int, int, dict, bytes]]) -> InsertResult:
        """Store already decoded records ``(rtype, seq, fields, frame)`` (one transaction)."""
        return self.transaction(lambda c: self._insert_decoded(c, device_key, rows),
                                what=f"storing {len(rows)} record(s) of device {device_key}",
                                retry_unique=True)

    def _insert_decoded(self, c: Connection, device_key: str,
                        rows: list[tuple[int, int, dict, bytes]]) -> InsertResult:
        from .. import records as rec
        res = InsertResult()
        received = now_ms()
        did = self._device_id(c, device_key, True, lock=True)
        seqs = [r[1] for r in rows]
        existing: dict[int, bytes] = {}
        for chunk in range(0, len(seqs), 500):
            part = seqs[chunk:chunk + 500]
            existing.update((int(a), bytes(b)) for a, b in c.execute(
                select(s.records.c.seq, s.records.c.frame).where(
                    s.records.c.device_id == did, s.records.c.seq.in_(part))))
        new_rows: dict[int, list[dict]] = {}
        raw = []
        seen: dict[int, bytes] = {}
        for rtype, seq, f, frame in rows:
            old = existing.get(seq, seen.get(seq))
            if old is not None:
                if old != frame:
                    raise SyncConflict(f"device {device_key}: seq {seq} already stored with "
                                       f"different content (type {rtype}); refusing to overwrite")
                res.duplicates += 1
                continue
            seen[seq] = frame
            raw.append({"device_id": did, "seq": seq, "rtype": rtype, "frame": frame,
                        "received_utc_ms": received})
            new_rows.setdefault(rtype, []).append(self._typed_row(rec, rtype, did, seq, f))
            res.inserted += 1
            res.by_type[rtype] = res.by_type.get(rtype, 0) + 1
        if raw:
            copy_rows(c, s.records, tuple(raw[0]), [tuple(x.values()) for x in raw])
        # Anchors first, then every new row is placed in UTC as it is written; rows stored
        # earlier move only where the new anchors change their mapping.
        placed = {rec.TYPE_EVENT: (s.events, "onset_ms", "onset_utc_ms"),
                  rec.TYPE_SUMMARY: (s.summaries, "start_ms", "start_utc_ms"),
                  rec.TYPE_MARK: (s.markers, "ms", "utc_ms")}
        anchors = [x for x in new_rows.pop(rec.TYPE_TIME_ANCHOR, []) if x is not None]
        if anchors:
            copy_rows(c, s.time_anchors, tuple(anchors[0]), [tuple(x.values()) for x in anchors])
        anchor_boots = {x["boot"] for x in anchors}
        # The time map of just the boots this batch touches (each boot maps on its own).
        boots = anchor_boots | {x["boot"] for rt in placed for x in new_rows.get(rt, ())
                                if x is not None}
        tm = None
        if boots:
            ta = s.time_anchors
            tm = TimeMap([tuple(a) for a in c.execute(select(
                ta.c.seq, ta.c.boot, ta.c.ms, ta.c.unix_s).where(
                    ta.c.device_id == did, ta.c.boot.in_(sorted(boots))))])
        if anchor_boots:
            rej = tm.rejected_seqs
            c.execute(update(s.time_anchors).where(s.time_anchors.c.device_id == did,
                                                   s.time_anchors.c.boot.in_(anchor_boots)).values(used=1))
            if rej:
                c.execute(update(s.time_anchors).where(s.time_anchors.c.device_id == did,
                                                       s.time_anchors.c.seq.in_(rej)).values(used=0))
            for table, ms_col, utc_col in placed.values():
                self._replace(c, tm, did, table, ms_col, utc_col, anchor_boots)
        for rtype, items in new_rows.items():
            table = self._table_for(rec, rtype)
            items = [x for x in items if x is not None]
            if table is None or not items:
                continue
            if rtype in placed:
                _, ms_col, utc_col = placed[rtype]
                utc = tm.to_utc_ms([x["boot"] for x in items], [x[ms_col] for x in items])
                for x, u in zip(items, utc):
                    x[utc_col] = u
            copy_rows(c, table, tuple(items[0]), [tuple(x.values()) for x in items])
        res.last_seq = int(c.execute(select(func.max(s.records.c.seq)).where(
            s.records.c.device_id == did)).scalar() or 0)
        return res

    @staticmethod
    def _table_for(rec, rtype: int):
        return {rec.TYPE_EVENT: s.events, rec.TYPE_SUMMARY: s.summaries,
                rec.TYPE_TIME_ANCHOR: s.time_anchors, rec.TYPE_MARK: s.markers,
                rec.TYPE_BOOT: s.boots, rec.TYPE_LOSS: s.losses}.get(rtype)

    @staticmethod
    def _typed_row(rec, rtype: int, did: int, seq: int, f: dict) -> dict | None:
        base = {"device_id": did, "seq": seq}
        if rtype == rec.TYPE_EVENT:
            area = next((v for k, v in f.items() if k.startswith("area")), None)
            return {**base, "boot": f["boot"], "onset_ms": f["onset_ms"],
                    "duration_ms": f["duration_ms"], "kind": f["kind"],
                    "channel": f.get("channel"), "flags": f.get("flags", 0),
                    "peak_cuv": f.get("peak_cuv"), "mean_cuv": f.get("mean_cuv"), "area": area,
                    "clonus_chz": f.get("clonus_chz"), "gyro_peak_ddps": f.get("gyro_peak_ddps"),
                    "acc_peak_mg": f.get("acc_peak_mg"), "mvc_pm": f.get("mvc_pm"),
                    "config_version": f.get("config_version"), "onset_utc_ms": None,
                    "fields_json": json.dumps(f, sort_keys=True)}
        if rtype == rec.TYPE_SUMMARY:
            cols = ("n_spasm", "n_clonus", "spasm_ds", "clonus_ds", "covered_ds", "lost_ds",
                    "not_worn_ds", "dropped_samples", "n_motion_rejected", "jitter_us",
                    "battery_pct", "config_version")
            row = {**base, "boot": f["boot"], "start_ms": f["start_ms"], "window_s": f["window_s"],
                   "start_utc_ms": None, "fields_json": json.dumps(f, sort_keys=True)}
            for k in cols:
                row[k] = f.get(k, 0 if k in ("n_spasm", "n_clonus", "spasm_ds", "clonus_ds",
                                             "covered_ds", "lost_ds") else None)
            return row
        if rtype == rec.TYPE_TIME_ANCHOR:
            return {**base, "boot": f["boot"], "ms": f["ms"], "unix_s": f["unix_s"],
                    "tz_quarter_h": f.get("tz_quarter_h"), "source": f.get("source"), "used": 1}
        if rtype == rec.TYPE_MARK:
            return {**base, "boot": f["boot"], "ms": f["ms"], "kind": f["kind"], "utc_ms": None}
        if rtype == rec.TYPE_BOOT:
            return {**base, "boot": f["boot"], "reset_cause": f.get("reset_cause"),
                    "fw_version": f.get("fw_version"), "config_version": f.get("config_version"),
                    "board_hash": next((v for k, v in f.items() if k.startswith("board")), None)}
        if rtype == rec.TYPE_LOSS:
            return {**base, "first_seq": f["first_seq"], "last_seq": f["last_seq"]}
        return None

    @staticmethod
    def _replace(c, tm: TimeMap, did: int, table, ms_col: str, utc_col: str,
                 boots: set[int]) -> None:
        """Map the stored rows of ``boots`` to UTC again; write only the rows that move."""
        boots = {b for b in boots if b in tm.boots}
        if not boots:
            return
        rows = c.execute(select(table.c.id, table.c.boot, table.c[ms_col], table.c[utc_col]).where(
            table.c.device_id == did, table.c.boot.in_(boots))).all()
        if not rows:
            return
        utc = tm.to_utc_ms([r[1] for r in rows], [r[2] for r in rows])
        moved = [(r[0], u) for r, u in zip(rows, utc) if r[3] != u]
        update_by_id(c, table, utc_col, moved)

    def sync_accounting(self, device_key: str) -> dict:
        """Exact accounting of a device's records: count, highest seq, seqs missing that
        no LOSS record explains, seqs the device reported lost, unplaced rows."""
        with self.engine.connect() as c:
            did = self._device_id(c, device_key, False)
            seqs = sorted(int(x) for x, in c.execute(select(s.records.c.seq).where(
                s.records.c.device_id == did)))
            lost = c.execute(select(s.losses.c.first_seq, s.losses.c.last_seq).where(
                s.losses.c.device_id == did)).all()
            unplaced = int(c.execute(select(func.count()).select_from(s.events).where(
                s.events.c.device_id == did, s.events.c.onset_utc_ms.is_(None))).scalar())
        have = set(seqs)
        lost_set = set()
        for a, b in lost:
            lost_set.update(range(int(a), int(b) + 1))
        top = seqs[-1] if seqs else 0
        missing = [q for q in range(1, top + 1) if q not in have and q not in lost_set]
        return {"records": len(seqs), "last_seq": top, "missing_seqs": missing,
                "lost_seqs_reported": len(lost_set), "unplaced_events": unplaced}

    # ------------------------------------------------------------------ audit
    @staticmethod
    def _audit(c, table: str, row_id: int, action: str, who: str, detail: dict) -> None:
        c.execute(s.audit_log.insert().values(table_name=table, row_id=row_id, action=action,
                                              who=who, at_utc_ms=now_ms(),
                                              detail_json=json.dumps(detail, sort_keys=True, default=str)))

    def audit_trail(self, table: str | None = None, row_id: int | None = None) -> list[dict]:
        q = select(s.audit_log).order_by(s.audit_log.c.id)
        if table:
            q = q.where(s.audit_log.c.table_name == table)
        if row_id is not None:
            q = q.where(s.audit_log.c.row_id == row_id)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]


def open_store(url: str | None = None, *, echo: bool = False,
               busy_timeout_s: float = BUSY_TIMEOUT_S) -> Store:
    """Open (creating and migrating) the store at ``url`` (default :func:`default_url`).

    ``sqlite:///path`` or a bare path: an embedded file. ``postgresql://user@host/db``: a
    PostgreSQL server (psycopg 3); the database must exist, its tables are created here.
    """
    url = normalise_url(url or default_url())
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        _prepare_sqlite_file(url)
    elif backend != "postgresql":
        raise UserError(f"unsupported database URL {make_url(url).render_as_string(hide_password=True)!r}: "
                        "use sqlite:///path or postgresql://user@host/database")
    wait_ms = int(min(_ATTEMPT_WAIT_MS, busy_timeout_s * 1000))
    connect_args = {}
    if backend == "postgresql":
        # A lock wait ends after this long and the transaction is retried (until
        # busy_timeout_s), instead of waiting without end behind a stuck writer.
        connect_args = {"options": f"-c lock_timeout={wait_ms}",
                        "connect_timeout": 10}
    engine = create_engine(url, echo=echo, connect_args=connect_args)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(wait_ms))
        event.listen(engine, "begin", _sqlite_begin)
    try:
        return Store(engine, busy_timeout_s=busy_timeout_s)
    except OperationalError as exc:
        engine.dispose()
        reason = (str(exc.orig).strip().splitlines() or ["no reason given"])[0]
        raise UserError(f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
                        f"{reason}") from None
