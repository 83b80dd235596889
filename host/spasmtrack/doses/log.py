"""Dose log operations on a :class:`~spasmtrack.store.Store` (validation + provenance)."""
from __future__ import annotations

import csv
import getpass
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import and_, false, or_, select, update

from ..store import Store, now_ms
from ..store import schema as s
from .parse import (KNOWN_DRUGS, WARN_SINGLE_UG, DoseInputError, check_not_future,
                    check_single_dose, fmt_utc, parse_amount, parse_drug, parse_route, parse_time)

#: SynchroMed II flex dosing: up to 13 rate changes a day (DOMAIN.md).
MAX_PUMP_STEPS_PER_DAY = 13
#: Pump rates above this (ug/day) are accepted with a warning (maintenance 300-800 ug/day).
WARN_PUMP_UG_DAY = 1500.0
#: Pump rates above this (ug/day) are refused: reported ITB doses stay below ~2000 ug/day.
MAX_PUMP_UG_DAY = 10_000.0
#: Two doses of the same drug and route closer than this are reported as possible duplicates.
NEAR_DUPLICATE_MIN = 15

CSV_COLUMNS = ("time", "drug", "amount", "unit", "route", "note")
CSV_DOC = """\
Dose CSV columns (header row required, comma or semicolon separated, UTF-8):
  time    ISO 8601 with offset (2026-11-20T08:00+01:00), local time + IANA zone
          (2026-11-20 08:00 Europe/Berlin), or local time in the patient's zone. Required.
  drug    e.g. baclofen. Required.
  amount  number, e.g. 20 (or 2,5 in a semicolon file). Required.
  unit    mg | ug | mcg | g. Required.
  route   oral | intrathecal_bolus. Required.
  note    free text. Optional.
  zone    optional IANA zone applied to times given without one.
Rows that repeat an earlier row or a dose already stored are skipped with a warning.
Any error (unknown unit, a dose in the future, bad time, ...) aborts the import: nothing
is stored, and every bad row is listed by its line number."""


def default_who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


@dataclass
class DoseInput:
    """One dose as entered; ``taken_utc_ms`` is UTC ms, ``amount_ug`` micrograms."""

    drug: str
    amount: float
    unit: str
    amount_ug: float
    route: str
    taken_utc_ms: int
    entered_tz: str
    note: str | None = None
    source: str = "cli"
    source_ref: str | None = None

    @classmethod
    def parse(cls, drug: str, amount: str, unit: str | None, route: str, time: str,
              zone: str | None = None, note: str | None = None, source: str = "cli",
              source_ref: str | None = None, now: int | None = None,
              default_zone: str | None = None) -> "DoseInput":
        """Validate one entry; ``default_zone`` (the patient's) applies to times without one."""
        d = parse_drug(drug)
        a, u, ug = parse_amount(amount, unit)
        r = parse_route(route)
        check_single_dose(a, u, ug, r)
        t, tz = parse_time(time, zone, default_zone=default_zone)
        check_not_future(t, now if now is not None else now_ms())
        return cls(d, a, u, ug, r, t, tz, note or None, source, source_ref)

    def warnings(self) -> list[str]:
        w = []
        if self.drug not in KNOWN_DRUGS:
            w.append(f"drug {self.drug!r} is not one spasmtrack knows; stored as given")
        lim = WARN_SINGLE_UG.get(self.route)
        if self.drug == "baclofen" and lim and self.amount_ug > lim:
            w.append(f"{self.amount:g} {self.unit} {self.route} baclofen is above the usual single "
                     f"dose ({lim / (1000 if self.route == 'oral' else 1):g} "
                     f"{'mg' if self.route == 'oral' else 'ug'}): check the unit")
        if self.route == "intrathecal_bolus" and self.unit in ("mg", "g") and self.amount_ug > 1000:
            w.append("intrathecal amounts are usually in ug; check the unit")
        return w

    def fingerprint(self, patient_id: int) -> str:
        key = f"{patient_id}|{self.drug}|{self.route}|{self.taken_utc_ms}|{self.amount_ug:.3f}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass
class PumpStep:
    """From local clock time ``at`` (HH:MM) the pump delivers ``rate_ug_day`` ug/day."""

    at: str
    rate_ug_day: float

    @property
    def minute(self) -> int:
        h, m = self.at.split(":")
        return int(h) * 60 + int(m)


@dataclass
class ImportReport:
    inserted: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0


class DoseLog:
    """Dose, pump-program and mark operations for one store."""

    def __init__(self, store: Store, who: str | None = None):
        self.store = store
        self.who = who or default_who()

    # --------------------------------------------------------------- single doses
    def add(self, patient_code: str, dose: DoseInput, *, allow_duplicate: bool = False) -> tuple[int, list[str]]:
        """Store one dose; returns (id, warnings). An identical dose already stored is an
        error unless ``allow_duplicate`` (two tablets logged separately, say)."""
        pid = self.store.patient(patient_code)["id"]
        warnings = dose.warnings()
        with self.store.engine.begin() as c:
            dup = self._find_duplicate(c, pid, dose)
            if dup and not allow_duplicate:
                raise DoseInputError(f"the same dose is already stored as #{dup} "
                                     f"({dose.amount:g} {dose.unit} {dose.drug} at "
                                     f"{fmt_utc(dose.taken_utc_ms)}); use --allow-duplicate if it "
                                     "really was taken twice")
            warnings += self._near_warnings(c, pid, dose)
            did = self._insert(c, pid, dose, status="active")
        return did, warnings

    def add_many(self, patient_code: str, doses: list[DoseInput]) -> list[int]:
        """Store many already validated doses in one transaction (generators, migrations)."""
        pid = self.store.patient(patient_code)["id"]
        with self.store.engine.begin() as c:
            return [self._insert(c, pid, d, status="active") for d in doses]

    def _find_duplicate(self, c, pid: int, dose: DoseInput) -> int | None:
        return c.execute(select(s.doses.c.id).where(
            s.doses.c.patient_id == pid, s.doses.c.status == "active",
            s.doses.c.fingerprint == dose.fingerprint(pid))).scalar()

    def _near_warnings(self, c, pid: int, dose: DoseInput) -> list[str]:
        win = NEAR_DUPLICATE_MIN * 60_000
        rows = c.execute(select(s.doses.c.id, s.doses.c.taken_utc_ms).where(
            s.doses.c.patient_id == pid, s.doses.c.status == "active",
            s.doses.c.drug == dose.drug, s.doses.c.route == dose.route,
            s.doses.c.taken_utc_ms.between(dose.taken_utc_ms - win, dose.taken_utc_ms + win))).all()
        return [f"dose #{i} of the same drug and route is {abs(t - dose.taken_utc_ms) / 60000:.0f} "
                f"min away: possible double entry" for i, t in rows]

    def _insert(self, c, pid: int, dose: DoseInput, *, status: str, supersedes: int | None = None,
                reason: str | None = None, changed: dict | None = None) -> int:
        row = asdict(dose)
        did = int(c.execute(s.doses.insert().values(
            patient_id=pid, **row, entered_by=self.who, entered_utc_ms=now_ms(), status=status,
            supersedes_id=supersedes, reason=reason,
            fingerprint=dose.fingerprint(pid))).inserted_primary_key[0])
        detail = {"new": row, "supersedes": supersedes, "reason": reason}
        if changed is not None:
            detail["changed"] = changed
        self.store._audit(c, "doses", did, "insert" if supersedes is None else "correct", self.who, detail)
        return did

    def correct(self, dose_id: int, reason: str, **changes: str) -> int:
        """Supersede dose ``dose_id`` by a corrected copy; returns the new id.

        ``changes``: any of drug, amount (``"20 mg"``), route, time (with zone), note.
        The old row keeps its content (status ``superseded``); the audit log records the
        difference, who made it and why.
        """
        if not reason:
            raise DoseInputError("a correction needs a reason (--reason)")
        with self.store.engine.begin() as c:
            old = c.execute(select(s.doses).where(s.doses.c.id == dose_id)).mappings().first()
            if old is None:
                raise DoseInputError(f"no dose #{dose_id}")
            if old["status"] != "active":
                raise DoseInputError(f"dose #{dose_id} is {old['status']}; correct its latest version")
            new = DoseInput(old["drug"], old["amount"], old["unit"], old["amount_ug"], old["route"],
                            old["taken_utc_ms"], old["entered_tz"], old["note"], old["source"],
                            old["source_ref"])
            if changes.get("drug"):
                new.drug = parse_drug(changes["drug"])
            if changes.get("amount"):
                new.amount, new.unit, new.amount_ug = parse_amount(changes["amount"])
            if changes.get("route"):
                new.route = parse_route(changes["route"])
            check_single_dose(new.amount, new.unit, new.amount_ug, new.route)
            if changes.get("time"):
                ptz = c.execute(select(s.patients.c.tz).where(s.patients.c.id == old["patient_id"])).scalar()
                new.taken_utc_ms, new.entered_tz = parse_time(changes["time"], changes.get("zone"),
                                                              default_zone=ptz)
                check_not_future(new.taken_utc_ms, now_ms())
            if changes.get("note") is not None:
                new.note = changes["note"]
            before = {k: old[k] for k in asdict(new)}
            changed = {k: [before[k], v] for k, v in asdict(new).items() if before[k] != v}
            if not changed:
                raise DoseInputError(f"the correction leaves dose #{dose_id} unchanged")
            dup = self._find_duplicate(c, old["patient_id"], new)
            if dup and dup != dose_id:
                raise DoseInputError(f"the corrected dose would be an exact copy of dose #{dup}; "
                                     f"retract #{dose_id} instead if it was entered twice")
            c.execute(update(s.doses).where(s.doses.c.id == dose_id).values(status="superseded"))
            return self._insert(c, old["patient_id"], new, status="active", supersedes=dose_id,
                                reason=reason, changed=changed)

    def retract(self, dose_id: int, reason: str) -> None:
        """Mark a dose as not taken / entered in error (kept, status ``retracted``)."""
        if not reason:
            raise DoseInputError("a retraction needs a reason (--reason)")
        with self.store.engine.begin() as c:
            st = c.execute(select(s.doses.c.status).where(s.doses.c.id == dose_id)).scalar()
            if st is None:
                raise DoseInputError(f"no dose #{dose_id}")
            if st != "active":
                raise DoseInputError(f"dose #{dose_id} is already {st}")
            c.execute(update(s.doses).where(s.doses.c.id == dose_id).values(status="retracted"))
            self.store._audit(c, "doses", dose_id, "retract", self.who, {"reason": reason})

    def list(self, patient_code: str, *, include_inactive: bool = False,
             from_ms: int | None = None, to_ms: int | None = None) -> list[dict]:
        pid = self.store.patient(patient_code)["id"]
        q = select(s.doses).where(s.doses.c.patient_id == pid)
        if not include_inactive:
            q = q.where(s.doses.c.status == "active")
        if from_ms is not None:
            q = q.where(s.doses.c.taken_utc_ms >= from_ms)
        if to_ms is not None:
            q = q.where(s.doses.c.taken_utc_ms < to_ms)
        with self.store.engine.connect() as c:
            return [dict(r) for r in c.execute(q.order_by(s.doses.c.taken_utc_ms, s.doses.c.id)).mappings()]

    # --------------------------------------------------------------- CSV import
    def import_csv(self, patient_code: str, path: str | Path, *, now: int | None = None) -> ImportReport:
        """Import a dose CSV (columns: see :data:`CSV_DOC`) in one transaction."""
        path = Path(path)
        pat = self.store.patient(patient_code)
        pid = pat["id"]
        now = now if now is not None else now_ms()
        rep = ImportReport()
        errors: list[str] = []
        parsed: list[tuple[int, DoseInput]] = []
        try:
            fh = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise DoseInputError(f"cannot read {path}: {exc.strerror}") from None
        with fh:
            try:
                head = fh.readline()
            except UnicodeDecodeError as exc:
                raise DoseInputError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                                     "save it as 'CSV UTF-8'") from None
            fh.seek(0)
            # European spreadsheets write ';' (the decimal comma takes ',')
            delim = ";" if head.count(";") > head.count(",") else ","
            reader = csv.DictReader(fh, delimiter=delim)
            cols = [c.strip().lower() for c in (reader.fieldnames or [])]
            missing = [c for c in CSV_COLUMNS[:-1] if c not in cols]
            if missing:
                raise DoseInputError(f"{path}: missing column(s) {', '.join(missing)}; have "
                                     f"{', '.join(cols) or 'none'}\n{CSV_DOC}")
            seen: dict[str, int] = {}
            while True:
                try:
                    raw = next(reader)
                except StopIteration:
                    break
                except UnicodeDecodeError as exc:
                    raise DoseInputError(f"{path}: after line {reader.line_num}: not UTF-8 text (byte "
                                         f"0x{exc.object[exc.start]:02x}); save it as 'CSV UTF-8'") from None
                line = reader.line_num
                where = f"{path.name}:{line}"
                if None in raw:
                    errors.append(f"{where}: {len(raw[None])} cell(s) more than the header's "
                                  f"{len(cols)} columns (a '{delim}' inside a note? quote it)")
                    continue
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                try:
                    d = DoseInput.parse(row["drug"], row["amount"], row["unit"], row["route"],
                                        row["time"], zone=row.get("zone") or None,
                                        note=row.get("note"), source="import",
                                        source_ref=where, now=now, default_zone=pat["tz"])
                except DoseInputError as exc:
                    errors.append(f"{where}: {exc}")
                    continue
                fp = d.fingerprint(pid)
                if fp in seen:
                    rep.warnings.append(f"{where}: duplicate of line {seen[fp]}, skipped")
                    rep.skipped += 1
                    continue
                seen[fp] = line
                rep.warnings += [f"{where}: {w}" for w in d.warnings()]
                parsed.append((line, d))
        if errors:
            raise DoseInputError(f"{len(errors)} bad row(s) in {path}, nothing imported:\n  "
                                 + "\n  ".join(errors))
        with self.store.engine.begin() as c:
            for line, d in parsed:
                dup = self._find_duplicate(c, pid, d)
                if dup:
                    rep.warnings.append(f"{path.name}:{line}: already stored as dose #{dup}, skipped")
                    rep.skipped += 1
                    continue
                rep.warnings += [f"{path.name}:{line}: {w}" for w in self._near_warnings(c, pid, d)]
                rep.inserted.append(self._insert(c, pid, d, status="active"))
        return rep

    # --------------------------------------------------------------- pump programs
    def add_pump_program(self, patient_code: str, steps: list[PumpStep], valid_from: str,
                         valid_to: str | None = None, *, zone: str | None = None,
                         drug: str = "baclofen", note: str | None = None,
                         replaces: int | None = None) -> tuple[int, list[str]]:
        """Store an intrathecal pump program (daily schedule of rates in ug/day, local clock
        of the patient's zone). Overlap with an active program is an error unless
        ``replaces`` names it: then that program is superseded by a copy ending where this
        one starts."""
        pat = self.store.patient(patient_code)
        tz = zone or pat["tz"]
        warnings: list[str] = []
        steps = self.validate_steps(steps, warnings)
        f_ms, _ = parse_time(valid_from, zone, default_zone=tz)
        t_ms = parse_time(valid_to, zone, default_zone=tz)[0] if valid_to else None
        if t_ms is not None and t_ms <= f_ms:
            raise DoseInputError(f"pump program ends ({valid_to}) before it starts ({valid_from})")
        pp = s.pump_programs
        with self.store.engine.begin() as c:
            if replaces is not None:
                old = c.execute(select(pp).where(pp.c.id == replaces, pp.c.patient_id == pat["id"])).mappings().first()
                if old is None or old["status"] != "active":
                    raise DoseInputError(f"no active pump program #{replaces} for {patient_code}")
                if f_ms <= old["valid_from_utc_ms"]:
                    raise DoseInputError(f"the new program starts at {fmt_utc(f_ms)}, not after "
                                         f"program #{replaces} starts ({fmt_utc(old['valid_from_utc_ms'])})")
                c.execute(update(pp).where(pp.c.id == replaces).values(status="superseded"))
                ended = {k: old[k] for k in ("patient_id", "drug", "valid_from_utc_ms", "tz",
                                             "steps_json", "note", "source")}
                nid = int(c.execute(pp.insert().values(
                    **ended, valid_to_utc_ms=f_ms, entered_by=self.who, entered_utc_ms=now_ms(),
                    status="active", supersedes_id=replaces,
                    reason="ended by a new program")).inserted_primary_key[0])
                self.store._audit(c, "pump_programs", nid, "correct", self.who,
                                  {"supersedes": replaces, "valid_to_utc_ms": f_ms})
            far = 2**62
            clash = c.execute(select(pp.c.id, pp.c.valid_from_utc_ms, pp.c.valid_to_utc_ms).where(
                pp.c.patient_id == pat["id"], pp.c.status == "active",
                pp.c.valid_from_utc_ms < (t_ms if t_ms is not None else far),
                or_(pp.c.valid_to_utc_ms.is_(None), pp.c.valid_to_utc_ms > f_ms))).first()
            if clash:
                end = fmt_utc(clash[2]) if clash[2] else "open end"
                raise DoseInputError(
                    f"pump program from {fmt_utc(f_ms)} overlaps active program #{clash[0]} "
                    f"({fmt_utc(clash[1])} .. {end}); pass --replaces {clash[0]} to end it there")
            steps_json = json.dumps([[st.at, st.rate_ug_day] for st in steps])
            nid = int(c.execute(pp.insert().values(
                patient_id=pat["id"], drug=parse_drug(drug), valid_from_utc_ms=f_ms,
                valid_to_utc_ms=t_ms, tz=tz, steps_json=steps_json, note=note, source="cli",
                entered_by=self.who, entered_utc_ms=now_ms(), status="active")).inserted_primary_key[0])
            self.store._audit(c, "pump_programs", nid, "insert", self.who, {"steps": steps_json})
        return nid, warnings

    @staticmethod
    def validate_steps(steps: list[PumpStep], warnings: list[str]) -> list[PumpStep]:
        if not steps:
            raise DoseInputError("a pump program needs at least one rate step")
        if len(steps) > MAX_PUMP_STEPS_PER_DAY:
            raise DoseInputError(f"{len(steps)} rate steps a day; the pump allows at most "
                                 f"{MAX_PUMP_STEPS_PER_DAY}")
        out = []
        for i, st in enumerate(steps, 1):
            try:
                h, m = st.at.split(":")
                if not (0 <= int(h) < 24 and 0 <= int(m) < 60 and len(m) == 2):
                    raise ValueError
            except ValueError:
                raise DoseInputError(f"step {i}: clock time {st.at!r} is not HH:MM") from None
            if not st.rate_ug_day >= 0:
                raise DoseInputError(f"step {i}: rate {st.rate_ug_day} ug/day must not be negative")
            if not st.rate_ug_day <= MAX_PUMP_UG_DAY:
                raise DoseInputError(f"step {i}: rate {st.rate_ug_day:g} ug/day is beyond any pump "
                                     f"program (at most {MAX_PUMP_UG_DAY:g} ug/day): check the unit")
            if st.rate_ug_day > WARN_PUMP_UG_DAY:
                warnings.append(f"step {i}: {st.rate_ug_day:g} ug/day is above usual ITB "
                                f"maintenance (300-800 ug/day); check the unit")
            out.append(PumpStep(f"{int(h):02d}:{m}", float(st.rate_ug_day)))
        out.sort(key=lambda x: x.minute)
        mins = [x.minute for x in out]
        if len(set(mins)) != len(mins):
            raise DoseInputError("two rate steps start at the same clock time")
        return out

    def retract_pump_program(self, program_id: int, reason: str) -> None:
        """Mark a pump program as entered in error (kept, status ``retracted``, audited)."""
        if not reason:
            raise DoseInputError("a retraction needs a reason (--reason)")
        pp = s.pump_programs
        with self.store.engine.begin() as c:
            st = c.execute(select(pp.c.status).where(pp.c.id == program_id)).scalar()
            if st is None:
                raise DoseInputError(f"no pump program #{program_id}")
            if st != "active":
                raise DoseInputError(f"pump program #{program_id} is already {st}")
            c.execute(update(pp).where(pp.c.id == program_id).values(status="retracted"))
            self.store._audit(c, "pump_programs", program_id, "retract", self.who, {"reason": reason})

    def pump_programs(self, patient_code: str, include_inactive: bool = False) -> list[dict]:
        pid = self.store.patient(patient_code)["id"]
        q = select(s.pump_programs).where(s.pump_programs.c.patient_id == pid)
        if not include_inactive:
            q = q.where(s.pump_programs.c.status == "active")
        with self.store.engine.connect() as c:
            rows = [dict(r) for r in c.execute(q.order_by(s.pump_programs.c.valid_from_utc_ms)).mappings()]
        for r in rows:
            r["steps"] = [PumpStep(a, float(b)) for a, b in json.loads(r["steps_json"])]
        return rows

    # --------------------------------------------------------------- button marks
    def marks(self, patient_code: str, unlinked_only: bool = False) -> list[dict]:
        """Button MARK records of the patient's devices (kind 1 dose taken, 2 felt spasm),
        with the dose they were confirmed as (``dose_id``) if any."""
        pid = self.store.patient(patient_code)["id"]
        m, d = s.markers, s.devices
        wins = self.store.device_windows(patient_code)
        cond = or_(*[and_(m.c.device_id == did, or_(m.c.utc_ms.is_(None), and_(
            m.c.utc_ms >= a, m.c.utc_ms < b))) for did, _, a, b in wins]) if wins else false()
        q = select(m.c.id, m.c.kind, m.c.utc_ms, m.c.boot, m.c.ms, d.c.key).join(
            d, d.c.id == m.c.device_id).where(cond).order_by(m.c.utc_ms)
        with self.store.engine.connect() as c:
            rows = [dict(r) for r in c.execute(q).mappings()]
            linked = {}
            for ref, i in c.execute(select(s.doses.c.source_ref, s.doses.c.id).where(
                    s.doses.c.patient_id == pid, s.doses.c.status == "active",
                    s.doses.c.source == "button")):
                linked[ref] = i
        for r in rows:
            r["dose_id"] = linked.get(f"marker:{r['id']}")
        return [r for r in rows if not (unlinked_only and r["dose_id"])]

    def confirm_mark(self, patient_code: str, marker_id: int, drug: str, amount: str,
                     route: str, note: str | None = None) -> tuple[int, list[str]]:
        """Turn a 'dose taken' button press into a dose (time from the device, placed
        through its time anchors); provenance ``button`` / ``marker:<id>``."""
        mk = {r["id"]: r for r in self.marks(patient_code)}.get(marker_id)
        if mk is None:
            raise DoseInputError(f"no button mark #{marker_id} on {patient_code}'s devices")
        if mk["kind"] != 1:
            raise DoseInputError(f"mark #{marker_id} is a 'felt spasm' press, not 'dose taken'")
        if mk["utc_ms"] is None:
            raise DoseInputError(f"mark #{marker_id} has no wall time yet (its boot has no time "
                                 "anchor; sync the device first)")
        if mk["dose_id"]:
            raise DoseInputError(f"mark #{marker_id} is already dose #{mk['dose_id']}")
        a, u, ug = parse_amount(amount)
        dose = DoseInput(parse_drug(drug), a, u, ug, parse_route(route), int(mk["utc_ms"]), "UTC",
                         note, "button", f"marker:{marker_id}")
        return self.add(patient_code, dose)
