"""Parsing of dose inputs: amounts with units, routes, drugs, times that carry a zone.

All functions raise :class:`DoseInputError` (a UserError) with a message that names the
offending value; callers prefix the row or option it came from.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import UserError


class DoseInputError(UserError):
    pass


#: Accepted units -> factor to micrograms.
UNITS_UG = {"mg": 1000.0, "ug": 1.0, "µg": 1.0, "mcg": 1.0, "g": 1_000_000.0}
#: Routes: oral tablets/solution, intrathecal bolus (pump or injection).
ROUTES = {"oral": "oral", "po": "oral", "intrathecal_bolus": "intrathecal_bolus",
          "it_bolus": "intrathecal_bolus", "itb_bolus": "intrathecal_bolus",
          "intrathecal": "intrathecal_bolus"}
KNOWN_DRUGS = {"baclofen", "tizanidine", "diazepam", "dantrolene", "gabapentin"}
#: Single doses above these amounts are accepted with a warning (possible unit slip).
#: Oral baclofen maximum is 80-100 mg/day (DOMAIN.md); an ITB screening bolus is 50-100 ug.
WARN_SINGLE_UG = {"oral": 40_000.0, "intrathecal_bolus": 200.0}


def parse_amount(text: str, unit: str | None = None) -> tuple[float, str, float]:
    """``"20 mg"`` or (``"20"``, ``"mg"``) -> (amount, canonical unit, micrograms)."""
    text = str(text).strip()
    if unit is None:
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([A-Za-zµ]+)", text)
        if not m:
            raise DoseInputError(f"amount {text!r} is not '<number> <unit>' (e.g. '20 mg')")
        text, unit = m.group(1), m.group(2)
    try:
        amount = float(text)
    except ValueError:
        raise DoseInputError(f"amount {text!r} is not a number") from None
    u = unit.strip().lower().replace("μ", "µ")
    if u not in UNITS_UG:
        raise DoseInputError(f"unknown unit {unit!r} (use one of mg, ug, mcg, g)")
    if not amount > 0:
        raise DoseInputError(f"amount {amount:g} {unit} must be positive")
    canon = {"µg": "ug", "mcg": "ug"}.get(u, u)
    return amount, canon, amount * UNITS_UG[u]


def parse_route(text: str) -> str:
    r = ROUTES.get(str(text).strip().lower())
    if r is None:
        raise DoseInputError(f"unknown route {text!r} (use oral or intrathecal_bolus; "
                             "pump rates are entered as pump programs)")
    return r


def parse_drug(text: str) -> str:
    d = str(text).strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9 \-]{1,40}", d):
        raise DoseInputError(f"drug name {text!r} is not a plain name")
    return d


_ISO_OFFSET = re.compile(r".*(Z|[+-]\d\d:?\d\d)$")


def parse_time(text: str, zone: str | None = None) -> tuple[int, str]:
    """A time WITH its zone -> (UTC ms, zone as given).

    Accepted: ISO 8601 with an offset (``2026-11-20T08:00+01:00``, ``...Z``), or a local
    time followed by an IANA zone (``2026-11-20 08:00 Europe/Berlin``), or a local time
    plus ``zone`` given separately. A time without any zone is refused (it would be read
    in whatever zone the computer is in). Local times that do not exist (the hour skipped
    at the start of daylight saving) or exist twice (the repeated hour at its end) are
    refused with a request for an explicit offset.
    """
    t = str(text).strip()
    t = re.sub(r"\s+(Z|[+-]\d\d:?\d\d)$", r"\1", t)      # "08:00 +01:00" -> "08:00+01:00"
    parts = t.rsplit(" ", 1)
    if len(parts) == 2 and ("/" in parts[1] or parts[1] == "UTC"):
        t, zone = parts[0], parts[1]
    if _ISO_OFFSET.match(t.replace(" ", "T")):
        try:
            dt = datetime.fromisoformat(t.replace(" ", "T").replace("Z", "+00:00"))
        except ValueError:
            raise DoseInputError(f"time {text!r} is not ISO 8601") from None
        return int(round(dt.timestamp() * 1000)), dt.strftime("%z")
    if not zone:
        raise DoseInputError(f"time {text!r} has no time zone: add an offset "
                             "(2026-11-20T08:00+01:00) or an IANA zone (... Europe/Berlin)")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DoseInputError(f"unknown time zone {zone!r} in {text!r}") from None
    try:
        naive = datetime.fromisoformat(t.replace(" ", "T"))
    except ValueError:
        raise DoseInputError(f"time {text!r} is not ISO 8601 (YYYY-MM-DD HH:MM)") from None
    if naive.tzinfo is not None:
        raise DoseInputError(f"time {text!r} has both an offset and a zone {zone!r}")
    a = naive.replace(tzinfo=tz, fold=0)
    b = naive.replace(tzinfo=tz, fold=1)
    if a.utcoffset() != b.utcoffset():
        # fold differs: either a gap (non-existent) or an overlap (ambiguous)
        roundtrip = a.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
        if roundtrip != naive:
            raise DoseInputError(f"local time {t} does not exist in {zone} (clocks skipped it "
                                 "at the daylight-saving change)")
        raise DoseInputError(f"local time {t} happens twice in {zone} (daylight-saving change): "
                             "give the offset explicitly, e.g. +01:00 or +02:00")
    return int(round(a.timestamp() * 1000)), zone


def check_not_future(utc_ms: int, now_ms: int, slack_min: float = 10.0) -> None:
    if utc_ms > now_ms + slack_min * 60_000:
        raise DoseInputError(f"dose time {fmt_utc(utc_ms)} is in the future (a dose is logged once taken)")


def fmt_utc(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)).isoformat(
        timespec="minutes").replace("+00:00", "Z")
