"""The web app's audit log: who viewed or changed what, and what was refused."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from ..store import Store, now_ms
from ..store import webschema as ws

#: Actions written by the web app (the ``action`` column).
ACTIONS = ("sign_in", "sign_in_failed", "sign_in_throttled", "sign_out", "view_patients",
           "view_patient", "view_report", "view_audit", "export", "dose_add", "dose_correct",
           "dose_retract", "dose_refused", "csrf_refused", "forbidden")

#: After this many failed sign-ins for one user name within THROTTLE_WINDOW_MS, further
#: attempts are refused until the window has passed (a slow-down for password guessing).
THROTTLE_FAILURES = 5
THROTTLE_WINDOW_MS = 15 * 60_000


def record(store: Store, action: str, user: str | None, *, patient: str | None = None,
           remote_addr: str | None = None, **detail) -> None:
    """Append one entry (its own transaction, so a refused change is still logged)."""
    assert action in ACTIONS, action
    with store.engine.begin() as c:
        c.execute(ws.web_audit.insert().values(
            at_utc_ms=now_ms(), user_name=user, action=action, patient_code=patient,
            detail_json=json.dumps(detail, sort_keys=True, default=str), remote_addr=remote_addr))


def recent(store: Store, limit: int = 200, patient: str | None = None) -> list[dict]:
    a = ws.web_audit
    q = select(a).order_by(a.c.id.desc()).limit(limit)
    if patient:
        q = q.where(a.c.patient_code == patient)
    with store.engine.connect() as c:
        rows = [dict(r) for r in c.execute(q).mappings()]
    for r in rows:
        r["detail"] = json.loads(r["detail_json"])
    return rows


def recent_failures(store: Store, user: str, now: int | None = None) -> int:
    """Failed sign-ins for ``user`` within the throttle window since their last success."""
    a = ws.web_audit
    now = now if now is not None else now_ms()
    with store.engine.connect() as c:
        last_ok = c.execute(select(func.max(a.c.at_utc_ms)).where(
            a.c.user_name == user, a.c.action == "sign_in")).scalar() or 0
        return int(c.execute(select(func.count()).select_from(a).where(
            a.c.user_name == user, a.c.action == "sign_in_failed",
            a.c.at_utc_ms > max(now - THROTTLE_WINDOW_MS, last_ok))).scalar() or 0)
