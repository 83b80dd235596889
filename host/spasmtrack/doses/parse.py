"""Parsing of dose inputs: amounts with units, routes, drugs, times that carry a zone.

All functions raise :class:`DoseInputError` (a UserError) with a message that names the
offending value; callers prefix the row or option it came from.
"""
from __future__ import annotations

import math
import re
import time as _time
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
#: Single doses above these amounts are refused as entry errors, whatever the drug: no oral
#: antispastic is taken as more than 5 g at once (gabapentin tops out near 1.2 g), and an
#: intrathecal bolus above 2 mg is a hundred times the screening bolus (DOMAIN.md).
MAX_SINGLE_UG = {"oral": 5_000_000.0, "intrathecal_bolus": 2_000.0}
#: Times before this year are refused (a typo such as 0001 or 1926, not a dose history).
MIN_YEAR = 2000


def parse_amount(text: str, unit: str | None = None) -> tuple[float, str, float]:
    """``"20 mg"`` or (``"20"``, ``"mg"``) -> (amount, canonical unit, micrograms)."""
    text = str(text).strip()
    if unit is None:
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([A-Za-zµ]+)", text)
        if not m:
            raise DoseInputError(f"amount {text!r} is not '<number> <unit>' (e.g. '20 mg')")
        text, unit = m.group(1), m.group(2)
    text = text.replace(",", ".") if re.fullmatch(r"\d+,\d+", text) else text   # decimal comma
    try:
        amount = float(text)
    except ValueError:
        raise DoseInputError(f"amount {text!r} is not a number") from None
    if not math.isfinite(amount):
        raise DoseInputError(f"amount {text!r} is not a finite number")
    u = unit.strip().lower().replace("μ", "µ")
    if u not in UNITS_UG:
        raise DoseInputError(f"unknown unit {unit!r} (use one of mg, ug, mcg, g)")
    if not amount > 0:
        raise DoseInputError(f"amount {amount:g} {unit} must be positive")
    canon = {"µg": "ug", "mcg": "ug"}.get(u, u)
    return amount, canon, amount * UNITS_UG[u]


def check_single_dose(amount: float, unit: str, amount_ug: float, route: str) -> None:
    """Refuse a single dose no patient takes (a unit or decimal slip, not a warning)."""
    lim = MAX_SINGLE_UG.get(route)
    if lim is not None and amount_ug > lim:
        shown = f"{lim / 1000:g} mg" if lim >= 1000 else f"{lim:g} ug"
        raise DoseInputError(f"amount {amount:g} {unit} {route} is more than any single dose "
                             f"({shown}): check the unit and the decimal point")


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


def parse_time(text: str, zone: str | None = None, *, default_zone: str | None = None) -> tuple[int, str]:
    """A time with its zone -> (UTC ms, zone as given).

    Accepted: ``now``; ISO 8601 with an offset (``2026-11-20T08:00+01:00``, ``...Z``); a
    local time followed by an IANA zone (``2026-11-20 08:00 Europe/Berlin``); a local time
    plus ``zone`` given separately; or a local time alone, read in ``default_zone`` (the
    patient's zone). Without any zone a time is refused (it would be read in whatever zone
    the computer is in). An offset that contradicts an explicitly given zone is refused.
    Local times that do not exist (the hour skipped at the start of daylight saving) or
    exist twice (the repeated hour at its end) are refused with a request for an offset.
    """
    t = str(text).strip()
    if t.lower() == "now":
        return int(_time.time() * 1000), zone or default_zone or "UTC"
    t = re.sub(r"\s+(Z|[+-]\d\d:?\d\d)$", r"\1", t)      # "08:00 +01:00" -> "08:00+01:00"
    parts = t.rsplit(" ", 1)
    if len(parts) == 2 and ("/" in parts[1] or parts[1] == "UTC"):
        t, zone = parts[0], parts[1]
        t = re.sub(r"\s+(Z|[+-]\d\d:?\d\d)$", r"\1", t)
    iso = t.replace(" ", "T")
    if _ISO_OFFSET.match(iso):
        try:
            dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError as exc:
            raise DoseInputError(f"time {text!r} is not a valid ISO 8601 time ({exc})") from None
        _check_year(dt, text)
        if zone:
            tz = _zone(zone, text)
            want = dt.astimezone(tz).utcoffset()
            if want != dt.utcoffset():
                raise DoseInputError(
                    f"time {text!r}: offset {dt.strftime('%z')} contradicts zone {zone} (which is "
                    f"UTC{dt.astimezone(tz).strftime('%z')} then); give one of them")
        return int(round(dt.timestamp() * 1000)), dt.strftime("%z")
    zone = zone or default_zone
    if not zone:
        raise DoseInputError(f"time {text!r} has no time zone: add an offset "
                             "(2026-11-20T08:00+01:00) or an IANA zone (... Europe/Berlin)")
    tz = _zone(zone, text)
    try:
        naive = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise DoseInputError(f"time {text!r} is not a valid time YYYY-MM-DD HH:MM ({exc})") from None
    if naive.tzinfo is not None:
        raise DoseInputError(f"time {text!r} has both an offset and a zone {zone!r}")
    _check_year(naive, text)
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


def _zone(zone: str, text: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DoseInputError(f"unknown time zone {zone!r} in {text!r}") from None


def _check_year(dt: datetime, text: str) -> None:
    if dt.year < MIN_YEAR:
        raise DoseInputError(f"time {text!r} is in the year {dt.year}: check the year")


def check_not_future(utc_ms: int, now_ms: int, slack_min: float = 10.0) -> None:
    if utc_ms > now_ms + slack_min * 60_000:
        raise DoseInputError(f"dose time {fmt_utc(utc_ms)} is in the future (a dose is logged once taken)")


def fmt_in_zone(ms: int, tz: str) -> str:
    """``2026-11-20 08:00 CET`` in the patient's zone (for listings)."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def fmt_utc(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)).isoformat(
        timespec="minutes").replace("+00:00", "Z")
