"""FHIR export: a ``collection`` Bundle with Patient, Device, Observations (one per event,
one per summary window), MedicationAdministration (doses; pump programs with their rate).

Built as plain JSON and validated by parsing it with ``fhir.resources`` R4B models (R4B
keeps R4's Observation, MedicationAdministration and Device). Codes: RxNorm 1292
(baclofen), SNOMED CT routes (26643006 oral, 72607000 intrathecal), UCUM units; event and
summary kinds use a local code system of this project (no standard code exists).
"""
from __future__ import annotations

import json
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


def _uid(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "spasmtrack:" + ":".join(map(str, parts))))


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
    for t, k, du, pk, fl, cv in zip(d.ev_t, d.ev_kind, d.ev_dur, d.ev_peak_cuv, d.ev_flags, d.ev_cfg):
        code, disp = KIND.get(int(k), ("event", "Event"))
        oid = _uid("event", d.patient, int(t), int(k))
        res = {"resourceType": "Observation", "id": oid, "status": "final",
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                         "code": "activity"}]}],
               "code": {"coding": [{"system": LOCAL_CS, "code": code, "display": disp}], "text": disp},
               "subject": subj, "effectivePeriod": {"start": _iso(t), "end": _iso(int(t) + int(du))},
               "component": [
                   {"code": {"coding": [{"system": LOCAL_CS, "code": "duration"}], "text": "duration"},
                    "valueQuantity": _q(du / 1000, "s")},
                   {"code": {"coding": [{"system": LOCAL_CS, "code": "peak-envelope"}], "text": "peak EMG envelope"},
                    "valueQuantity": _q(pk / 100, "uV")},
                   {"code": {"coding": [{"system": LOCAL_CS, "code": "quality-flags"}], "text": "quality flags (bit field)"},
                    "valueInteger": int(fl)},
                   {"code": {"coding": [{"system": LOCAL_CS, "code": "detector-config-version"}]},
                    "valueInteger": int(cv)}]}
        if dev_ref:
            res["device"] = dev_ref
        entries.append({"fullUrl": f"urn:uuid:{oid}", "resource": res})
    if include_summaries:
        for t, w, a, b, c, lost in zip(d.sm_t, d.sm_win_s, d.sm_nsp, d.sm_ncl, d.sm_cov_ds, d.sm_lost_ds):
            oid = _uid("summary", d.patient, int(t))
            res = {"resourceType": "Observation", "id": oid, "status": "final",
                   "code": {"coding": [{"system": LOCAL_CS, "code": "window-summary",
                                        "display": "Spasm monitoring window summary"}]},
                   "subject": subj,
                   "effectivePeriod": {"start": _iso(t), "end": _iso(int(t) + int(w) * 1000)},
                   "component": [
                       {"code": {"coding": [{"system": LOCAL_CS, "code": "n-spasm"}]}, "valueInteger": int(a)},
                       {"code": {"coding": [{"system": LOCAL_CS, "code": "n-clonus"}]}, "valueInteger": int(b)},
                       {"code": {"coding": [{"system": LOCAL_CS, "code": "good-signal-time"}]},
                        "valueQuantity": _q(c / 10, "s")},
                       {"code": {"coding": [{"system": LOCAL_CS, "code": "lost-signal-time"}]},
                        "valueQuantity": _q(lost / 10, "s")}]}
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


def validate(bundle: dict):
    """Parse with the fhir.resources R4B models (raises pydantic.ValidationError on any error)."""
    from fhir.resources.R4B.bundle import Bundle
    return Bundle.model_validate(bundle)


def write_fhir(d: PatientData, path: str | Path, *, include_summaries: bool = True) -> int:
    b = build_bundle(d, include_summaries=include_summaries)
    validate(b)
    write_private(Path(path), json.dumps(b, separators=(",", ":")).encode("utf-8"))
    return len(b["entry"])
