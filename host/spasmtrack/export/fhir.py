"""FHIR export: a ``collection`` Bundle with Patient, Device, Observations (one per event,
one per summary window), MedicationAdministration (doses; pump programs with their rate).

Built as plain JSON and validated by parsing it with ``fhir.resources`` R4B models (R4B
keeps R4's Observation, MedicationAdministration and Device). A 90-day bundle has some
55,000 resources built by a handful of templates; :func:`validate` parses each distinct
structure once (the shape of the JSON with the value of every coded element and the
validity of every date in it), so a 90-day export is validated in a second, not a minute;
``json.dumps(allow_nan=False)`` refuses a non-finite number anywhere. Codes: RxNorm 1292
(baclofen), SNOMED CT routes (26643006 oral, 72607000 intrathecal), UCUM units; event and
summary kinds use a local code system of this project (no standard code exists).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import __version__
from .. import records as rec
from ..analysis.data import PatientData
from ..report import write_private

LOCAL_CS = "urn:spasmtrack:codes"
UCUM = "http://unitsofmeasure.org"
KIND = {rec.KIND_SPASM: ("spasm", "Spasm event"), rec.KIND_CLONUS: ("clonus", "Clonus event"),
        rec.KIND_SPASM_WITH_CLONUS: ("spasm-with-clonus", "Spasm with clonus event")}
ROUTE = {"oral": ("26643006", "Oral route"), "intrathecal_bolus": ("72607000", "Intrathecal route"),
         "intrathecal_pump": ("72607000", "Intrathecal route")}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _q(value: float, unit: str, code: str | None = None) -> dict:
    return {"value": round(float(value), 4), "unit": unit, "system": UCUM, "code": code or unit}


def _qv(value: float, unit: str) -> dict:
    """A UCUM quantity whose value is already rounded."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _iso_many(ms: np.ndarray) -> list[str]:
    """UTC ms -> ``2026-10-01T08:00:00.000Z`` strings, like :func:`_iso`, for a column."""
    if len(ms) == 0:
        return []
    return np.datetime_as_string(np.asarray(ms, dtype="datetime64[ms]"), unit="ms",
                                 timezone="UTC").tolist()


def _round4(x: np.ndarray) -> list[float]:
    """Round to 4 decimals like ``round(float(v), 4)`` for every value of a column."""
    return [round(v, 4) for v in np.asarray(x, dtype=np.float64).tolist()]


_NS_URL = uuid.NAMESPACE_URL.bytes


def _uid(*parts) -> str:
    """``str(uuid.uuid5(NAMESPACE_URL, "spasmtrack:" + ":".join(parts)))``, without
    building a UUID object for each of a bundle's tens of thousands of resources."""
    h = bytearray(hashlib.sha1(_NS_URL + ("spasmtrack:" + ":".join(map(str, parts))).encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50          # version 5
    h[8] = (h[8] & 0x3F) | 0x80          # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def build_bundle(d: PatientData, *, include_summaries: bool = True) -> dict:
    pat_id = _uid("patient", d.patient)
    entries = [{"fullUrl": f"urn:uuid:{pat_id}", "resource": {
        "resourceType": "Patient", "id": pat_id,
        "identifier": [{"system": "urn:spasmtrack:patient", "value": d.patient}]}}]
    dev_ids = []
    for key in d.devices:
        did = _uid("device", key)
        dev_ids.append(did)
        entries.append({"fullUrl": f"urn:uuid:{did}", "resource": {
            "resourceType": "Device", "id": did,
            "identifier": [{"system": "urn:spasmtrack:device", "value": key}],
            "deviceName": [{"name": f"spasmtrack sensor {key}", "type": "user-friendly-name"}],
            "type": {"text": "Wearable surface EMG and IMU spasticity sensor"},
            "version": [{"value": ", ".join(f"{v >> 8}.{v & 0xFF}" for v in d.fw_versions) or "unknown"}],
            "patient": {"reference": f"urn:uuid:{pat_id}"}}})
    dev_ref = {"reference": f"urn:uuid:{dev_ids[0]}"} if dev_ids else None
    subj = {"reference": f"urn:uuid:{pat_id}"}
    # Tens of thousands of events and windows: times and numbers are formatted per column
    # (numpy), and the parts every resource of a kind shares are built once.
    category = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                             "code": "activity"}]}]
    kind_code = {k: {"coding": [{"system": LOCAL_CS, "code": c, "display": t}], "text": t}
                 for k, (c, t) in KIND.items()}
    other_kind = {"coding": [{"system": LOCAL_CS, "code": "event", "display": "Event"}], "text": "Event"}

    def comp(code: str, text: str | None = None) -> dict:
        out: dict = {"coding": [{"system": LOCAL_CS, "code": code}]}
        if text:
            out["text"] = text
        return out

    c_dur, c_peak = comp("duration", "duration"), comp("peak-envelope", "peak EMG envelope")
    c_flags, c_cfg = comp("quality-flags", "quality flags (bit field)"), comp("detector-config-version")
    ev_t = np.asarray(d.ev_t, dtype=np.int64)
    ev_start, ev_end = _iso_many(ev_t), _iso_many(ev_t + np.asarray(d.ev_dur, dtype=np.int64))
    dur_s = _round4(np.asarray(d.ev_dur) / 1000)
    peak_uv = _round4(np.asarray(d.ev_peak_cuv) / 100)
    for t, k, st_, en, du, pk, fl, cv in zip(ev_t.tolist(), np.asarray(d.ev_kind).tolist(), ev_start,
                                             ev_end, dur_s, peak_uv, np.asarray(d.ev_flags).tolist(),
                                             np.asarray(d.ev_cfg).tolist()):
        oid = _uid("event", d.patient, t, k)
        res = {"resourceType": "Observation", "id": oid, "status": "final", "category": category,
               "code": kind_code.get(k, other_kind),
               "subject": subj, "effectivePeriod": {"start": st_, "end": en},
               "component": [
                   {"code": c_dur, "valueQuantity": _qv(du, "s")},
                   {"code": c_peak, "valueQuantity": _qv(pk, "uV")},
                   {"code": c_flags, "valueInteger": int(fl)},
                   {"code": c_cfg, "valueInteger": int(cv)}]}
        if dev_ref:
            res["device"] = dev_ref
        entries.append({"fullUrl": f"urn:uuid:{oid}", "resource": res})
    if include_summaries:
        sm_code = {"coding": [{"system": LOCAL_CS, "code": "window-summary",
                               "display": "Spasm monitoring window summary"}]}
        c_nsp, c_ncl = comp("n-spasm"), comp("n-clonus")
        c_good, c_lost = comp("good-signal-time"), comp("lost-signal-time")
        sm_t = np.asarray(d.sm_t, dtype=np.int64)
        sm_start = _iso_many(sm_t)
        sm_end = _iso_many(sm_t + np.asarray(d.sm_win_s, dtype=np.int64) * 1000)
        good_s = _round4(np.asarray(d.sm_cov_ds) / 10)
        lost_s = _round4(np.asarray(d.sm_lost_ds) / 10)
        for t, st_, en, a, b, c, lost in zip(sm_t.tolist(), sm_start, sm_end,
                                             np.asarray(d.sm_nsp).tolist(),
                                             np.asarray(d.sm_ncl).tolist(), good_s, lost_s):
            oid = _uid("summary", d.patient, t)
            res = {"resourceType": "Observation", "id": oid, "status": "final", "code": sm_code,
                   "subject": subj, "effectivePeriod": {"start": st_, "end": en},
                   "component": [
                       {"code": c_nsp, "valueInteger": int(a)},
                       {"code": c_ncl, "valueInteger": int(b)},
                       {"code": c_good, "valueQuantity": _qv(c, "s")},
                       {"code": c_lost, "valueQuantity": _qv(lost, "s")}]}
            if dev_ref:
                res["device"] = dev_ref
            entries.append({"fullUrl": f"urn:uuid:{oid}", "resource": res})
    med = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1292",
                       "display": "baclofen"}], "text": "baclofen"}
    for i, t, ug, route, src in zip(d.dose_id, d.dose_t, d.dose_ug, d.dose_route, d.dose_source):
        if not d.from_ms <= t < d.to_ms:
            continue
        rc, rd = ROUTE.get(route, ("", route))
        dose = _q(ug / 1000, "mg") if route == "oral" else _q(ug, "ug")
        mid = _uid("dose", d.patient, int(i))
        entries.append({"fullUrl": f"urn:uuid:{mid}", "resource": {
            "resourceType": "MedicationAdministration", "id": mid, "status": "completed",
            "medicationCodeableConcept": med, "subject": subj, "effectiveDateTime": _iso(t),
            "note": [{"text": f"source: {src}; spasmtrack dose #{int(i)}"}],
            "dosage": {"route": {"coding": [{"system": "http://snomed.info/sct", "code": rc, "display": rd}]},
                       "dose": dose}}})
    for o in d.other_doses:          # other drugs as logged (no code: named by text only)
        rc, rd = ROUTE.get(o["route"], ("", o["route"]))
        mid = _uid("dose", d.patient, int(o["id"]))
        entries.append({"fullUrl": f"urn:uuid:{mid}", "resource": {
            "resourceType": "MedicationAdministration", "id": mid, "status": "completed",
            "medicationCodeableConcept": {"text": o["drug"]}, "subject": subj,
            "effectiveDateTime": _iso(int(o["taken_utc_ms"])),
            "note": [{"text": f"source: {o['source']}; spasmtrack dose #{int(o['id'])}; as logged"}],
            "dosage": {"route": {"coding": [{"system": "http://snomed.info/sct", "code": rc, "display": rd}]},
                       "dose": _q(float(o["amount"]), "mg" if o["unit"] == "mg" else
                                  "g" if o["unit"] == "g" else "ug")}}})
    for pr in d.pumps:
        mid = _uid("pump", d.patient, pr["id"])
        rates = [float(r) for _, r in pr["steps"]]
        period = {"start": _iso(pr["valid_from_utc_ms"])}
        if pr["valid_to_utc_ms"]:
            period["end"] = _iso(pr["valid_to_utc_ms"])
        entries.append({"fullUrl": f"urn:uuid:{mid}", "resource": {
            "resourceType": "MedicationAdministration", "id": mid, "status": "in-progress" if not pr["valid_to_utc_ms"] else "completed",
            "medicationCodeableConcept": med, "subject": subj, "effectivePeriod": period,
            "dosage": {"text": "intrathecal pump flex schedule (local clock, " + pr["tz"] + "): " +
                       ", ".join(f"from {a} {b:g} ug/day" for a, b in pr["steps"]),
                       "route": {"coding": [{"system": "http://snomed.info/sct", "code": "72607000",
                                             "display": "Intrathecal route"}]},
                       "rateQuantity": _q(float(np.mean(rates)), "ug/d")}}})
    return {"resourceType": "Bundle", "id": _uid("bundle", d.patient, d.from_ms, d.to_ms),
            "type": "collection", "timestamp": _iso(int(datetime.now(timezone.utc).timestamp() * 1000)),
            "meta": {"tag": [{"system": LOCAL_CS, "code": f"spasmtrack-{__version__}"}]},
            "entry": entries}


# Elements whose value is a code (part of the structure, not data) and elements that
# hold a FHIR dateTime/instant (checked by pattern, so a malformed one is its own shape).
_CODED = frozenset({"resourceType", "status", "system", "code", "unit", "type", "use"})
_DATES = frozenset({"start", "end", "effectiveDateTime", "timestamp"})
_SHARED = frozenset({"code", "category", "subject", "device", "medicationCodeableConcept"})
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def _shape(v, key: str = "", memo: dict | None = None):
    """The structure of a JSON value: keys, list lengths, value types; the value itself
    for coded elements; whether a date element is a valid dateTime. ``memo`` caches the
    shape of the elements the builder shares between resources (codes, category,
    subject, device: the same object each time)."""
    if isinstance(v, (dict, list)):
        cache = memo if key in _SHARED else None
        if cache is not None:
            got = cache.get((id(v), key))
            if got is not None:
                return got
        if isinstance(v, dict):
            out = tuple((k, _shape(x, k, memo)) for k, x in v.items())
        else:
            out = tuple(_shape(x, key, memo) for x in v)
        if cache is not None:
            cache[(id(v), key)] = out
        return out
    if isinstance(v, str):
        if key in _CODED:
            return v
        if key in _DATES:
            return "dateTime" if _DATETIME.fullmatch(v) else ("bad dateTime", v)
        return "str"
    if isinstance(v, float) and not math.isfinite(v):
        return ("non-finite", repr(v))
    return type(v).__name__


def validate(bundle: dict, *, every_resource: bool = False):
    """Parse with the fhir.resources R4B models (raises pydantic.ValidationError on any
    error): the bundle with one entry per distinct resource structure (see
    :func:`_shape`), or with all of them when ``every_resource``."""
    from fhir.resources.R4B.bundle import Bundle
    if every_resource:
        return Bundle.model_validate(bundle)
    seen: dict = {}
    memo: dict = {}      # only objects alive in ``bundle`` during this call: ids are stable
    for e in bundle.get("entry", []):
        seen.setdefault(_shape(e, "", memo), e)
    return Bundle.model_validate({**bundle, "entry": list(seen.values())})


def write_fhir(d: PatientData, path: str | Path, *, include_summaries: bool = True) -> int:
    b = build_bundle(d, include_summaries=include_summaries)
    validate(b)
    write_private(Path(path), json.dumps(b, separators=(",", ":"), allow_nan=False).encode("utf-8"))
    return len(b["entry"])
