"""Storage of patients, devices, synced records, doses and pump programs.

``open_store(url)`` takes a database URL (``sqlite:///path`` by default; the SQL is
portable SQLAlchemy Core so ``postgresql://...`` can follow). The SQLite file is created
readable by its owner only (0600) because it holds health data; foreign keys are enforced
and every multi-row change runs in one transaction.

The BLE sync uses :meth:`Store.last_seq` and :meth:`Store.insert_records`; frames are
decoded only through :mod:`spasmtrack.records` (the firmware's own definition).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sqlalchemy import Engine, bindparam, create_engine, event, func, select, update
from sqlalchemy.engine import make_url

from ..errors import UserError
from . import schema as s
from .migrations import migrate
from .timemap import TimeMap

__all__ = ["Store", "open_store", "default_url", "InsertResult", "SyncConflict"]

ENV_VAR = "SPASMTRACK_DB"


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


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class Store:
    """A spasmtrack database. Create with :func:`open_store`."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.migrations_applied = migrate(engine)

    # ------------------------------------------------------------------ patients/devices
    def add_patient(self, code: str, tz: str, display_name: str | None = None) -> int:
        """Register a patient (pseudonymous ``code``, IANA time zone ``tz``)."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError(f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin)") from None
        with self.engine.begin() as c:
            if c.execute(select(s.patients.c.id).where(s.patients.c.code == code)).first():
                raise UserError(f"patient {code!r} already exists")
            return int(c.execute(s.patients.insert().values(
                code=code, tz=tz, display_name=display_name,
                created_utc_ms=now_ms())).inserted_primary_key[0])

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
        with self.engine.begin() as c:
            return self._device_id(c, key, create, board)

    def _device_id(self, c, key: str, create: bool, board: str | None = None) -> int:
        row = c.execute(select(s.devices.c.id).where(s.devices.c.key == key)).first()
        if row:
            return int(row[0])
        if not create:
            raise UserError(f"unknown device {key!r}")
        return int(c.execute(s.devices.insert().values(
            key=key, board=board, created_utc_ms=now_ms())).inserted_primary_key[0])

    def assign_device(self, key: str, patient_code: str, who: str = "cli",
                      since_utc_ms: int | None = None) -> None:
        """Record that device ``key`` is worn by ``patient_code`` from ``since_utc_ms``.

        A device's first assignment covers all its data unless ``since_utc_ms`` is given; a
        reassignment ends the previous one at ``since_utc_ms`` (default: now), so earlier
        data stays with the earlier patient. Audited; nothing is overwritten.
        """
        pid = self.patient(patient_code)["id"]
        da = s.device_assignments
        with self.engine.begin() as c:
            did = self._device_id(c, key, True)
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
        from .. import records as rec
        res = InsertResult()
        received = now_ms()
        with self.engine.begin() as c:
            did = self._device_id(c, device_key, True)
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
                c.execute(s.records.insert(), raw)
            boots_touched: set[int] = set()
            anchor_boots: set[int] = set()
            for rtype, items in new_rows.items():
                table = self._table_for(rec, rtype)
                items = [x for x in items if x is not None]
                if table is None or not items:
                    continue
                c.execute(table.insert(), items)
                if table is s.time_anchors:
                    anchor_boots.update(x["boot"] for x in items)
                elif "boot" in items[0]:
                    boots_touched.update(x["boot"] for x in items)
            if anchor_boots or boots_touched:
                self._place(c, did, anchor_boots, boots_touched - anchor_boots)
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

    def _place(self, c, did: int, recompute: set[int], fill: set[int]) -> None:
        """Map device time to UTC for rows of the given boots (all rows of ``recompute``,
        rows still unplaced in ``fill``), and mark anchors rejected as clock jumps."""
        ta = s.time_anchors
        anchors = c.execute(select(ta.c.seq, ta.c.boot, ta.c.ms, ta.c.unix_s).where(
            ta.c.device_id == did)).all()
        tm = TimeMap([tuple(a) for a in anchors])
        if recompute:
            rej = tm.rejected_seqs
            c.execute(update(ta).where(ta.c.device_id == did, ta.c.boot.in_(recompute)).values(used=1))
            if rej:
                c.execute(update(ta).where(ta.c.device_id == did, ta.c.seq.in_(rej)).values(used=0))
        for table, ms_col, utc_col in ((s.events, "onset_ms", "onset_utc_ms"),
                                       (s.summaries, "start_ms", "start_utc_ms"),
                                       (s.markers, "ms", "utc_ms")):
            for boots, only_null in ((recompute, False), (fill, True)):
                boots = {b for b in boots if b in tm.boots}
                if not boots:
                    continue
                q = select(table.c.id, table.c.boot, table.c[ms_col]).where(
                    table.c.device_id == did, table.c.boot.in_(boots))
                if only_null:
                    q = q.where(table.c[utc_col].is_(None))
                rows = c.execute(q).all()
                if not rows:
                    continue
                utc = tm.to_utc_ms([r[1] for r in rows], [r[2] for r in rows])
                c.execute(update(table).where(table.c.id == bindparam("_id")).values(
                    {utc_col: bindparam("_utc")}),
                    [{"_id": r[0], "_utc": u} for r, u in zip(rows, utc)])

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


def open_store(url: str | None = None, *, echo: bool = False) -> Store:
    """Open (creating and migrating) the store at ``url`` (default :func:`default_url`)."""
    url = url or default_url()
    if "://" not in url:     # a bare path
        url = f"sqlite:///{Path(url).expanduser()}"
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    if is_sqlite:
        _prepare_sqlite_file(url)
    engine = create_engine(url, echo=echo)
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return Store(engine)
