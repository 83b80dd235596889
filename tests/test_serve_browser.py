"""`spasmtrack serve` in real headless Chromium (Debian's chromium driven by Playwright).

One server process (the real CLI, on a free loopback port) over a SQLite store with a
synthetic patient who has 10 days of device data and a patient with none; one browser.
Each test uses its own browser context (its own cookies), as two people at two desks.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from spasmtrack.synth.multiweek import generate
from spasmtrack.doses import DoseInput, DoseLog
from spasmtrack.store import open_store
from spasmtrack.store import schema as s
from spasmtrack.store import webschema as ws
from spasmtrack.serve.users import Users

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"    # Debian's, from `make setup`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage"]
TZ = "Europe/Berlin"          # P1, 10 days of device data up to today
TZ2 = "America/New_York"      # P2, no device data: its page has no report, so form tests are quick
CLINICIAN, CLIN_PW = "alice", "correct horse battery"
VIEWER, VIEW_PW = "victor", "viewer password 1"
BOOTSTRAP = 200     # fewer resamples than the default keeps each report about a second


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{tmp / 'clinic.sqlite'}"
    st = open_store(url)
    start = (dt.datetime.now(ZoneInfo(TZ)).date() - dt.timedelta(days=10)).isoformat()
    generate(st, patient="P1", tz=TZ, start_day=start, days=10, seed=5)
    st.add_patient("P2", TZ2)
    when = (dt.datetime.now(ZoneInfo(TZ2)) - dt.timedelta(days=3)).strftime("%Y-%m-%d 08:00")
    DoseLog(st, who="nurse").add("P2", DoseInput.parse("baclofen", "10 mg", None, "oral", when, zone=TZ2))
    Users(st).add(CLINICIAN, "clinician", CLIN_PW, created_by="test")
    Users(st).add(VIEWER, "viewer", VIEW_PW, created_by="test")
    proc = subprocess.Popen([sys.executable, "-m", "spasmtrack.cli", "serve", "--db", url, "--port", "0",
                             "--bootstrap", str(BOOTSTRAP), "--threads", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        proc.kill()
        pytest.fail(f"server did not start: {line!r} {proc.stderr.read()}")
    base = f"http://127.0.0.1:{m.group(1)}"
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield {"base": base, "store": st, "url": url, "browser": browser, "tmp": tmp}
        browser.close()
    proc.terminate()
    proc.wait(timeout=10)


def _page(site):
    ctx = site["browser"].new_context(viewport={"width": 1280, "height": 900})
    return ctx.new_page()


def _sign_in(site, name=CLINICIAN, pw=CLIN_PW, path="/"):
    page = _page(site)
    page.goto(site["base"] + path)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", pw)
    page.click("form.signin button[type=submit]")
    page.wait_for_load_state()
    return page


def _count(st, table, *where) -> int:
    with st.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar())


def _audit(st, action, user=None) -> list[dict]:
    a = ws.web_audit
    q = select(a).where(a.c.action == action)
    if user:
        q = q.where(a.c.user_name == user)
    with st.engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]


def _short_period() -> str:
    """The last two local days: a small report keeps the pages that embed it quick."""
    today = dt.datetime.now(ZoneInfo(TZ)).date()
    return f"?from={today - dt.timedelta(days=1)}&to={today}"


def _yesterday_local(hour: int, minute: int, tz: str = TZ2) -> str:
    d = dt.datetime.now(ZoneInfo(tz)).date() - dt.timedelta(days=1)
    return f"{d.isoformat()} {hour:02d}:{minute:02d}"


def test_signed_out_user_is_sent_to_sign_in_and_back(site):
    page = _page(site)
    page.goto(site["base"] + "/patients/P2")
    assert "/signin" in page.url and "next=/patients/P2" in page.url
    assert page.locator("h1").inner_text() == "Sign in"
    page.fill("input[name=name]", CLINICIAN)
    page.fill("input[name=password]", CLIN_PW)
    page.click("form.signin button[type=submit]")
    page.wait_for_load_state()
    assert page.url == site["base"] + "/patients/P2"
    assert page.get_by_test_id("who").inner_text() == "alice (clinician)"
    page.context.close()


def test_wrong_password_is_refused_and_audited(site):
    before = len(_audit(site["store"], "sign_in_failed", CLINICIAN))
    page = _sign_in(site, pw="not the password")
    assert "/signin" in page.url
    assert "Wrong user name or password" in page.locator("p.error").inner_text()
    assert page.get_by_test_id("who").count() == 0
    page.goto(site["base"] + "/")
    assert "/signin" in page.url                       # still not signed in
    assert len(_audit(site["store"], "sign_in_failed", CLINICIAN)) == before + 1
    page.context.close()


def test_patient_list_shows_sync_coverage_sparkline_and_flags(site):
    page = _sign_in(site)
    p1 = page.locator("tr[data-patient=P1]")
    p2 = page.locator("tr[data-patient=P2]")
    text1, text2 = p1.inner_text(), p2.inner_text()
    assert "less than 1 h ago" in text1 and re.search(r"\d+\.\d h of 168 h \(\d+ %\)", text1)
    spark = p1.locator("svg.spark")
    assert spark.count() == 1 and spark.locator("circle").count() >= 2
    assert re.search(r"\d+\.\d/h", text1)
    assert "never synced" in text2 and "no data" in text2
    assert p2.locator("svg").count() == 0                # no empty figure
    body = page.locator("main").inner_text()
    assert "nan" not in body.lower().split() and "unknown host" in body
    assert not re.search(r"\b(increase|decrease|reduce|raise)\b[^.]*\bdose\b", body, re.I)
    page.context.close()


def test_patient_page_embeds_the_cli_report(site):
    page = _sign_in(site, path="/patients/P1")
    frame = page.frame_locator("iframe.report")
    frame.locator("h1").wait_for()
    assert frame.locator("h1").inner_text() == "spasmtrack report: patient P1"
    # the report's own check script ran (allowed by its CSP hash) and found its plots drawn
    body = frame.locator("body[data-plots-total]")
    body.wait_for()
    total, ok = int(body.get_attribute("data-plots-total")), int(body.get_attribute("data-plots-ok"))
    assert total > 0 and ok == total and body.get_attribute("data-js-errors") == "0"

    src = page.locator("iframe.report").get_attribute("src")
    web_html = page.request.get(site["base"] + src).text()
    q = dict(re.findall(r"(from|to)=([0-9-]+)", src))
    out = site["tmp"] / "cli-report.html"
    r = subprocess.run([sys.executable, "-m", "spasmtrack.cli", "report", "--db", site["url"],
                        "--patient", "P1", "--from", q["from"], "--to", q["to"], "--out", str(out),
                        "--bootstrap", str(BOOTSTRAP)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    strip = lambda h: re.sub(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "Generated -", h)  # noqa: E731
    assert strip(web_html) == strip(out.read_text())
    page.context.close()


def test_patient_without_data_says_so(site):
    page = _sign_in(site, path="/patients/P2")
    assert "No device data for this patient" in page.get_by_test_id("no-data").inner_text()
    assert page.locator("iframe").count() == 0 and page.locator("main svg").count() == 0
    assert "never synced" in page.locator("p.meta").inner_text()
    assert "cli, entered by nurse" in page.locator("table.doses").inner_text()   # doses still listed
    page.context.close()


def test_dose_entry_and_correction_with_provenance(site):
    st = site["store"]
    page = _sign_in(site, path="/patients/P2")
    n0 = _count(st, s.doses)
    form = page.locator("form.dose")
    form.locator("input[name=amount]").fill("12.5 mg")
    form.locator("input[name=time]").fill(_yesterday_local(9, 41))
    form.locator("input[name=note]").fill("entered at the clinic")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "stored: 12.5 mg baclofen (oral)" in page.locator("p.flash").first.inner_text()
    with st.engine.connect() as c:
        row = c.execute(select(s.doses).order_by(s.doses.c.id.desc()).limit(1)).mappings().first()
    assert _count(st, s.doses) == n0 + 1
    assert (row["amount_ug"], row["source"], row["entered_by"], row["entered_tz"]) == (12500.0, "web", "web:alice", TZ2)
    taken = dt.datetime.fromtimestamp(row["taken_utc_ms"] / 1000, ZoneInfo(TZ2)).strftime("%Y-%m-%d %H:%M")
    assert taken == _yesterday_local(9, 41)
    assert any(a["who"] == "web:alice" and a["action"] == "insert" for a in st.audit_trail("doses", row["id"]))
    tr = page.locator(f"tr[data-dose='{row['id']}']")
    assert "web, entered by web:alice" in tr.inner_text()

    tr.locator("summary").click()
    tr.locator("form.correct input[name=amount]").fill("15 mg")
    tr.locator("form.correct input[name=reason]").fill("tablet strength misread")
    tr.locator("form.correct button[type=submit]").click()
    page.wait_for_load_state()
    assert f"Dose #{row['id']} corrected" in page.locator("p.flash").first.inner_text()
    with st.engine.connect() as c:
        old = c.execute(select(s.doses.c.status).where(s.doses.c.id == row["id"])).scalar()
        new = c.execute(select(s.doses).where(s.doses.c.supersedes_id == row["id"])).mappings().first()
    assert old == "superseded" and new["amount_ug"] == 15000.0 and new["status"] == "active"
    assert new["reason"] == "tablet strength misread" and new["entered_by"] == "web:alice"
    assert new["taken_utc_ms"] == row["taken_utc_ms"]
    assert "superseded" in page.locator(f"tr[data-dose='{row['id']}']").inner_text()

    tr = page.locator(f"tr[data-dose='{new['id']}']")
    tr.locator("summary").click()
    tr.locator("form.retract input[name=reason]").fill("not taken: patient was asleep")
    tr.locator("form.retract button[type=submit]").click()
    page.wait_for_load_state()
    assert "retracted" in page.locator(f"tr[data-dose='{new['id']}']").inner_text()
    with st.engine.connect() as c:
        assert c.execute(select(s.doses.c.status).where(s.doses.c.id == new["id"])).scalar() == "retracted"
    assert [a["action"] for a in st.audit_trail("doses", new["id"])] == ["correct", "retract"]
    assert {"dose_add", "dose_correct"} <= {a["action"] for a in audit_rows(st, CLINICIAN)}
    page.context.close()


def audit_rows(st, user):
    a = ws.web_audit
    with st.engine.connect() as c:
        return [dict(r) for r in c.execute(select(a).where(a.c.user_name == user)).mappings()]


BAD_DOSES = [
    ("20 mgg", None, "unknown unit 'mgg'"),
    ("", None, "Amount with unit: This field is required"),
    ("20 mg", "tomorrow", "is in the future"),
    ("20 mg", "2026-02-30 08:00", "is not a valid time YYYY-MM-DD HH:MM (day is out of range for month)"),
    ("-5 mg", None, "is not '<number> <unit>'"),
]


def test_bad_dose_input_is_explained_and_nothing_is_stored(site):
    st = site["store"]
    page = _sign_in(site, path="/patients/P2")
    n0 = _count(st, s.doses)
    for amount, when, expect in BAD_DOSES:
        if when == "tomorrow":
            when = (dt.datetime.now(ZoneInfo(TZ2)) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
        form = page.locator("form.dose")
        form.locator("input[name=amount]").fill(amount)
        form.locator("input[name=time]").fill(when or _yesterday_local(7, 3))
        # the browser itself refuses an empty required field; send what a careless client sends
        page.evaluate("document.querySelectorAll('form.dose [required]')"
                      ".forEach(e => e.removeAttribute('required'))")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        msg = page.get_by_test_id("form-error").inner_text()
        assert msg.startswith("Nothing stored") and expect in msg, (amount, when, msg)
        assert "Traceback" not in page.content()
        assert form.locator("input[name=amount]").input_value() == amount   # what was typed is kept
        assert _count(st, s.doses) == n0
    refused = [a for a in audit_rows(st, CLINICIAN) if a["action"] == "dose_refused"]
    assert len(refused) >= len(BAD_DOSES)
    page.context.close()


def test_viewer_cannot_enter_doses(site):
    st = site["store"]
    page = _sign_in(site, VIEWER, VIEW_PW, path="/patients/P2")
    assert page.get_by_test_id("who").inner_text() == "victor (viewer)"
    assert page.locator("table.doses tbody tr").count() >= 1
    assert page.locator("form.dose").count() == 0 and page.locator("form.correct").count() == 0
    assert "can view doses but not enter" in page.get_by_test_id("read-only").inner_text()
    # a hand-made POST with a valid CSRF token from the viewer's own page is still refused
    token = page.locator("form.signout input[name=csrf_token]").input_value()
    n0 = _count(st, s.doses)
    r = page.request.post(site["base"] + "/patients/P2/doses", form={
        "csrf_token": token, "drug": "baclofen", "amount": "10 mg", "route": "oral",
        "time": _yesterday_local(10, 0)})
    assert r.status == 403 and "can view but not change doses" in r.text()
    assert _count(st, s.doses) == n0
    assert any(a["action"] == "forbidden" for a in audit_rows(st, VIEWER))
    assert page.request.get(site["base"] + "/audit").status == 403
    page.context.close()


def test_forged_posts_are_refused(site):
    st = site["store"]
    page = _sign_in(site, path="/patients/P2")
    n0 = _count(st, s.doses)
    # same browser, signed in, but no CSRF token: refused by the token check
    r = page.request.post(site["base"] + "/patients/P2/doses", form={
        "drug": "baclofen", "amount": "10 mg", "route": "oral", "time": _yesterday_local(11, 0)})
    assert r.status == 400 and "Form refused" in r.text()
    assert any(a["action"] == "csrf_refused" for a in audit_rows(st, CLINICIAN))
    # another site's page auto-submitting a form into the app: the session cookie is not sent
    evil = page.context.new_page()
    evil.set_content(f"""<form id=f method=post action="{site['base']}/patients/P2/doses">
        <input name=csrf_token value=forged><input name=amount value="90 mg">
        <input name=time value="{_yesterday_local(12, 0)}"><input name=drug value=baclofen>
        <input name=route value=oral></form>""")
    with evil.expect_navigation():
        evil.evaluate("document.getElementById('f').submit()")
    assert evil.locator("p.error").count() == 1
    assert _count(st, s.doses) == n0
    page.context.close()


def test_sign_out_ends_the_session_on_the_server(site):
    page = _sign_in(site)
    cookies = page.context.cookies()
    assert any(c["name"] == "spasmtrack_session" and c["httpOnly"] and c["sameSite"] == "Strict"
               for c in cookies)
    page.click("form.signout button[type=submit]")
    page.wait_for_load_state()
    assert "/signin" in page.url and "You are signed out" in page.locator("p.flash").inner_text()
    # replaying the old cookie does not bring the session back
    page.context.add_cookies(cookies)
    page.goto(site["base"] + "/patients/P1")
    assert "/signin" in page.url
    assert _audit(site["store"], "sign_out", CLINICIAN)
    page.context.close()


def test_audit_log_page_lists_views_changes_and_refusals(site):
    viewer = _sign_in(site, VIEWER, VIEW_PW, path="/patients/P2")
    viewer.request.post(site["base"] + "/patients/P2/doses", form={
        "csrf_token": viewer.locator("form.signout input[name=csrf_token]").input_value(),
        "amount": "5 mg", "time": _yesterday_local(8, 0)})
    viewer.context.close()
    _sign_in(site, "nobody", "whatever password").context.close()
    page = _sign_in(site)
    page.goto(site["base"] + "/audit")
    rows = [[td.inner_text() for td in tr.locator("td").all()]
            for tr in page.locator("table.audit tbody tr").all()]
    seen = {(r[1], r[2], r[3]) for r in rows}
    assert {("victor", "sign_in", ""), ("victor", "view_patient", "P2"), ("victor", "forbidden", "P2"),
            ("(not signed in)", "sign_in_failed", ""), ("alice", "sign_in", "")} <= seen
    assert "nobody" not in page.locator("table.audit").inner_text()   # unknown names are not kept
    assert all(r[5] == "127.0.0.1" for r in rows[:5])
    page.context.close()


def test_exports_download_csv_and_fhir(site):
    import io
    import json
    import zipfile
    page = _sign_in(site, path="/patients/P1" + _short_period())
    csv_href = page.get_by_role("link", name="CSV (zip)").get_attribute("href")
    fhir_href = page.get_by_role("link", name="FHIR R4 (JSON)").get_attribute("href")
    z = zipfile.ZipFile(io.BytesIO(page.request.get(site["base"] + csv_href).body()))
    names = sorted(n.rsplit("/", 1)[1] for n in z.namelist())
    assert names == ["doses.csv", "events.csv", "summaries.csv"]
    assert len(z.read([n for n in z.namelist() if n.endswith("events.csv")][0]).splitlines()) > 10
    bundle = json.loads(page.request.get(site["base"] + fhir_href).body())
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) > 10
    formats = {json.loads(a["detail_json"])["format"] for a in _audit(site["store"], "export", CLINICIAN)}
    assert formats == {"csv", "fhir"}
    page.context.close()
