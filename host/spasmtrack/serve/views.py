"""Pages of the clinic web app: sign-in, patient list, patient page (report, doses,
exports), audit log. Dose changes go through :class:`spasmtrack.doses.DoseLog`, the same
code as ``spasmtrack dose``; the report is :func:`spasmtrack.commands.report.build`, the
same HTML as ``spasmtrack report``; exports are :mod:`spasmtrack.export`.
"""
from __future__ import annotations

import io
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, render_template,
                   request, send_file, session, url_for)

from ..analysis.tzutil import fmt_local, local_day_and_hour, local_midnight_utc_ms
from ..doses import DoseInput, DoseLog
from ..doses.parse import DoseInputError
from ..errors import UserError
from ..store import Store, now_ms
from ..store import schema as s
from . import audit
from .app import REPORT_CSP, safe_next
from .forms import CorrectForm, DoseForm, RetractForm, SignInForm, SignOutForm
from .overview import has_data, overview
from .sparkline import sparkline

bp = Blueprint("web", __name__)

DEFAULT_PERIOD_DAYS = 14
MAX_PERIOD_DAYS = 400        # as `spasmtrack report`
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _store() -> Store:
    return current_app.extensions["spasmtrack"]["store"]


def _who() -> str:
    """Provenance of a change made here: ``web:<user name>``."""
    return f"web:{g.user.name}"


def _log(action: str, patient: str | None = None, **detail) -> None:
    user = g.get("user")
    audit.record(_store(), action, user.name if user else None, patient=patient,
                 remote_addr=request.remote_addr, **detail)


@bp.app_context_processor
def _inject() -> dict:
    return {"user": g.get("user"), "signout_form": SignOutForm()}


@bp.app_template_filter("local")
def _local(ms: int | None, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    return "never" if ms is None else fmt_local(int(ms), tz, fmt)


@bp.app_template_filter("ago")
def _ago(ms: int, now: int) -> str:
    h = (now - ms) / 3_600_000
    if h < 1:
        return "less than 1 h ago"
    return f"{h:.0f} h ago" if h < 48 else f"{h / 24:.1f} days ago"


# --------------------------------------------------------------------------- sign-in
@bp.route("/signin", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    users = current_app.extensions["spasmtrack"]["users"]
    nxt = safe_next(request.args.get("next"))
    if g.user is not None and request.method == "GET":
        return redirect(nxt or url_for("web.patients"))
    error = None
    if form.validate_on_submit():
        name = form.name.data.strip().lower()
        if audit.recent_failures(_store(), name) >= audit.THROTTLE_FAILURES:
            audit.record(_store(), "sign_in_throttled", name, remote_addr=request.remote_addr)
            error = (f"Too many failed sign-ins for this user; wait "
                     f"{audit.THROTTLE_WINDOW_MS // 60_000} minutes and try again.")
        else:
            user = users.authenticate(name, form.password.data)
            if user is None:
                # a name that is no user is not logged: it may be a password typed in the wrong field
                known = users.exists(name)
                audit.record(_store(), "sign_in_failed", name if known else None,
                             remote_addr=request.remote_addr, unknown_user=not known)
                error = "Wrong user name or password (or the user is disabled)."
            else:
                users.end_session(session.get("sid"))
                session.clear()                      # no fixation: a fresh session
                session["sid"] = users.start_session(user)
                g.user = user
                _log("sign_in", role=user.role)
                return redirect(nxt or url_for("web.patients"))
    elif request.method == "POST":
        error = "Enter a user name and a password."
    return render_template("signin.html", form=form, error=error), (401 if error else 200)


@bp.route("/signout", methods=["POST"])
def sign_out():
    _log("sign_out")
    current_app.extensions["spasmtrack"]["users"].end_session(session.get("sid"))
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("web.sign_in"))


# --------------------------------------------------------------------------- patient list
@bp.route("/")
def patients():
    st = _store()
    cfg = current_app.extensions["spasmtrack"]["config"]
    now = now_ms()
    rows = []
    for p in st.patients():
        ov = overview(st, p, now, cfg.thresholds)
        rows.append((ov, sparkline(ov.week_start_ms, ov.week_rate, ov.tz)))
    _log("view_patients", count=len(rows))
    return render_template("patients.html", rows=rows, th=cfg.thresholds, now=now)


# --------------------------------------------------------------------------- patient page
@dataclass
class Period:
    """Local days ``first``..``last`` (inclusive) in the patient's zone; UTC ms bounds."""

    first: str
    last: str
    from_ms: int
    to_ms: int


def _period(tz: str) -> tuple[Period, str | None]:
    """The period from ``?from=&to=`` (YYYY-MM-DD, local days, inclusive), or the last 14
    days with an error message when they are malformed."""
    today = int(local_day_and_hour(np.array([now_ms()]), tz)[0][0])
    first_d, last_d = today - DEFAULT_PERIOD_DAYS + 1, today
    error = None
    a, b = request.args.get("from", "").strip(), request.args.get("to", "").strip()
    if a or b:
        try:
            fd, ld = _day(a, "From"), _day(b, "To")
            if ld < fd:
                raise ValueError("the 'to' day is before the 'from' day")
            if ld - fd + 1 > MAX_PERIOD_DAYS:
                raise ValueError(f"the period is longer than {MAX_PERIOD_DAYS} days; choose a shorter one")
            first_d, last_d = fd, ld
        except ValueError as exc:
            error = f"{exc}. Showing the last {DEFAULT_PERIOD_DAYS} days instead."
    day_str = lambda d: str(np.datetime64(d, "D"))  # noqa: E731
    return Period(day_str(first_d), day_str(last_d), local_midnight_utc_ms(first_d, tz),
                  local_midnight_utc_ms(last_d + 1, tz)), error


def _day(text: str, label: str) -> int:
    if not _DATE_RE.fullmatch(text):
        raise ValueError(f"{label} day {text!r} is not a date YYYY-MM-DD")
    try:
        return int(np.datetime64(text, "D").astype(np.int64))
    except ValueError:
        raise ValueError(f"{label} day {text!r} is not a date YYYY-MM-DD") from None


def _patient_or_404(code: str) -> dict:
    try:
        return _store().patient(code)
    except UserError:
        abort(404, description=f"There is no patient {code!r}.")


def _render_patient(code: str, *, dose_form: DoseForm | None = None, form_error: str | None = None,
                    status: int = 200):
    p = _patient_or_404(code)
    st = _store()
    period, period_error = _period(p["tz"])
    doses = DoseLog(st).list(code, include_inactive=True, from_ms=period.from_ms, to_ms=period.to_ms)
    cfg = current_app.extensions["spasmtrack"]["config"]
    ov = overview(st, p, now_ms(), cfg.thresholds)
    data = has_data(st, code, period.from_ms, period.to_ms)
    _log("view_patient", patient=code, period=[period.first, period.last])
    if dose_form is None:
        dose_form = DoseForm()
    return render_template(
        "patient.html", p=p, period=period, period_error=period_error, doses=doses, ov=ov,
        spark=sparkline(ov.week_start_ms, ov.week_rate, p["tz"]), has_data=data,
        dose_form=dose_form, form_error=form_error, correct_form=CorrectForm(formdata=None),
        retract_form=RetractForm(formdata=None), th=cfg.thresholds), status


@bp.route("/patients/<code>")
def patient(code: str):
    return _render_patient(code)


@bp.route("/patients/<code>/report")
def report(code: str):
    # the path of `spasmtrack report` (commands.report.build), taken here directly: serve does
    # not import the commands package, which imports serve (no cycle among host packages)
    from ..analysis import Params, analyse, load
    from ..report.html import render
    p = _patient_or_404(code)
    period, error = _period(p["tz"])
    if error:
        abort(400, description=error)
    cfg = current_app.extensions["spasmtrack"]["config"]
    st = _store()
    html = render(analyse(load(st, code, period.from_ms, period.to_ms), Params(n_boot=cfg.report_bootstrap)), st)
    _log("view_report", patient=code, period=[period.first, period.last])
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = REPORT_CSP
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


@bp.route("/patients/<code>/export/<fmt>")
def export(code: str, fmt: str):
    from ..analysis import load
    from ..export import write_csv, write_fhir
    if fmt not in ("csv", "fhir"):
        abort(404, description=f"Unknown export format {fmt!r} (csv or fhir).")
    p = _patient_or_404(code)
    period, error = _period(p["tz"])
    if error:
        abort(400, description=error)
    d = load(_store(), code, period.from_ms, period.to_ms)
    stem = f"spasmtrack-{re.sub(r'[^A-Za-z0-9_-]', '_', code)}-{period.first}-{period.last}"
    with tempfile.TemporaryDirectory(prefix="spasmtrack-export-") as tmp:
        if fmt == "csv":
            counts = write_csv(d, Path(tmp) / "csv")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted((Path(tmp) / "csv").iterdir()):
                    z.write(f, f"{stem}/{f.name}")
            payload, mime, name = buf.getvalue(), "application/zip", f"{stem}-csv.zip"
            detail: dict[str, object] = {"rows": counts}
        else:
            n = write_fhir(d, Path(tmp) / "bundle.json")
            payload = (Path(tmp) / "bundle.json").read_bytes()
            mime, name = "application/fhir+json", f"{stem}-fhir.json"
            detail = {"resources": n}
    _log("export", patient=code, format=fmt, period=[period.first, period.last], **detail)
    return send_file(io.BytesIO(payload), mimetype=mime, as_attachment=True, download_name=name)


# --------------------------------------------------------------------------- doses
def _require_writer(code: str, what: str) -> Response | None:
    if g.user.may_write:
        return None
    _log("forbidden", patient=code, attempted=what, role=g.user.role)
    return Response(render_template(
        "error.html", title="Not allowed",
        message=f"Your role ({g.user.role}) can view but not change doses. Nothing was changed."), 403)


def _dose_of_patient(code: str, dose_id: int) -> dict:
    pid = _patient_or_404(code)["id"]
    with _store().engine.connect() as c:
        row = c.execute(s.doses.select().where(s.doses.c.id == dose_id)).mappings().first()
    if row is None or row["patient_id"] != pid:
        abort(404, description=f"Patient {code} has no dose #{dose_id}.")
    return dict(row)


def _back(code: str):
    args: dict[str, Any] = {k: request.args[k] for k in ("from", "to") if request.args.get(k)}
    return redirect(url_for("web.patient", code=code, **args) + "#doses")


def _flash_warnings(ws: list[str]) -> None:
    for w in ws:
        flash(f"Stored, but check: {w}", "warning")


@bp.route("/patients/<code>/doses", methods=["POST"])
def dose_add(code: str):
    denied = _require_writer(code, "dose_add")
    if denied:
        return denied
    p = _patient_or_404(code)
    form = DoseForm()
    if not form.validate():
        msg = "; ".join(f"{form[k].label.text}: {' '.join(v)}" for k, v in form.errors.items())
        _log("dose_refused", patient=code, error=msg)
        return _render_patient(code, dose_form=form, form_error=f"Nothing stored. {msg}", status=400)
    try:
        dose = DoseInput.parse(form.drug.data, form.amount.data, None, form.route.data,
                               form.time.data, zone=p["tz"], note=form.note.data or None,
                               source="web", source_ref=f"user:{g.user.name}")
        did, warnings = DoseLog(_store(), who=_who()).add(
            code, dose, allow_duplicate=bool(form.allow_duplicate.data))
    except DoseInputError as exc:
        _log("dose_refused", patient=code, error=str(exc))
        return _render_patient(code, dose_form=form, form_error=f"Nothing stored: {exc}", status=400)
    _log("dose_add", patient=code, dose_id=did)
    flash(f"Dose #{did} stored: {dose.amount:g} {dose.unit} {dose.drug} ({dose.route}) taken "
          f"{fmt_local(dose.taken_utc_ms, p['tz'])}.", "info")
    _flash_warnings(warnings)
    return _back(code)


@bp.route("/patients/<code>/doses/<int:dose_id>/correct", methods=["POST"])
def dose_correct(code: str, dose_id: int):
    denied = _require_writer(code, "dose_correct")
    if denied:
        return denied
    p = _patient_or_404(code)
    _dose_of_patient(code, dose_id)
    form = CorrectForm()
    try:
        if not form.validate():
            raise DoseInputError("; ".join(f"{form[k].label.text}: {' '.join(v)}"
                                           for k, v in form.errors.items()))
        changes = {k: form[k].data.strip() for k in ("amount", "time", "route", "drug")
                   if form[k].data and form[k].data.strip()}
        if form.note.data:
            changes["note"] = form.note.data
        if not changes:
            raise DoseInputError("nothing to correct: change the amount, time, route, drug or note")
        if "time" in changes:
            changes["zone"] = p["tz"]
        nid = DoseLog(_store(), who=_who()).correct(dose_id, form.reason.data.strip(), **changes)
    except DoseInputError as exc:
        _log("dose_refused", patient=code, dose_id=dose_id, error=str(exc))
        return _render_patient(code, form_error=f"Dose #{dose_id} not corrected: {exc}", status=400)
    _log("dose_correct", patient=code, dose_id=dose_id, new_dose_id=nid)
    flash(f"Dose #{dose_id} corrected: the new version is #{nid} (the old one is kept).", "info")
    return _back(code)


@bp.route("/patients/<code>/doses/<int:dose_id>/retract", methods=["POST"])
def dose_retract(code: str, dose_id: int):
    denied = _require_writer(code, "dose_retract")
    if denied:
        return denied
    _dose_of_patient(code, dose_id)
    form = RetractForm()
    try:
        if not form.validate():
            raise DoseInputError("a retraction needs a reason")
        DoseLog(_store(), who=_who()).retract(dose_id, form.reason.data.strip())
    except DoseInputError as exc:
        _log("dose_refused", patient=code, dose_id=dose_id, error=str(exc))
        return _render_patient(code, form_error=f"Dose #{dose_id} not retracted: {exc}", status=400)
    _log("dose_retract", patient=code, dose_id=dose_id)
    flash(f"Dose #{dose_id} retracted (kept in the log as retracted).", "info")
    return _back(code)


# --------------------------------------------------------------------------- audit
@bp.route("/audit")
def audit_log():
    if g.user.role != "clinician":
        _log("forbidden", attempted="view_audit", role=g.user.role)
        abort(403, description=f"Your role ({g.user.role}) cannot read the audit log.")
    rows = audit.recent(_store(), limit=300)
    _log("view_audit")
    return render_template("audit.html", rows=rows)

