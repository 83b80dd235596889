"""FHIR validation by distinct structure: one bad resource among many identical ones is found."""
from __future__ import annotations

import copy
import json
import uuid

import pytest

from spasmtrack.export.fhir import _uid, validate


def _obs(i: int) -> dict:
    oid = str(uuid.uuid4())
    return {"fullUrl": f"urn:uuid:{oid}", "resource": {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": "urn:spasmtrack:codes", "code": "spasm"}]},
        "effectivePeriod": {"start": f"2026-10-01T08:{i % 60:02d}:00.000Z",
                            "end": f"2026-10-01T09:{i % 60:02d}:00.000Z"},
        "component": [{"code": {"coding": [{"system": "urn:spasmtrack:codes", "code": "duration"}]},
                       "valueQuantity": {"value": 1.5 + i, "unit": "s",
                                         "system": "http://unitsofmeasure.org", "code": "s"}}]}}


def _bundle(n: int = 60) -> dict:
    return {"resourceType": "Bundle", "type": "collection", "entry": [_obs(i) for i in range(n)]}


def test_uid_is_uuid5():
    for parts in [("event", "P1", 1790000000000, 1), ("patient", "P-7"), ("dose", "P1", 42)]:
        assert _uid(*parts) == str(uuid.uuid5(uuid.NAMESPACE_URL, "spasmtrack:" + ":".join(map(str, parts))))


@pytest.mark.parametrize("path,value,match", [
    (("effectivePeriod", "start"), "yesterday", "start|datetime|date"),
    (("status",), "final  twice", "status"),
    (("component", 0, "valueQuantity", "value"), "1.5 s", "value|decimal"),
    (("code", "coding", 0, "system"), 17, "system|str|uri"),
])
def test_one_bad_resource_among_many_fails_validation(path, value, match):
    b = _bundle()
    validate(b)                                   # the good bundle passes
    bad = copy.deepcopy(b)
    node = bad["entry"][37]["resource"]
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(Exception, match=match):
        validate(bad, every_resource=True)
    with pytest.raises(Exception, match=match):     # found by the per-structure check too
        validate(bad)


def test_non_finite_number_is_refused_when_written():
    b = _bundle(3)
    b["entry"][1]["resource"]["component"][0]["valueQuantity"]["value"] = float("nan")
    with pytest.raises(ValueError, match="not JSON compliant"):
        json.dumps(b, allow_nan=False)
