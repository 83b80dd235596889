"""`spasmtrack serve` pieces without a browser: users and sessions, sign-in throttling,
patient-list flags, sparkline, the `user` and `serve` command lines."""
from __future__ import annotations

import datetime as dt
import io
import re
import sys

import pytest
from sqlalchemy import func, inspect, select, update

from spasmtrack.synth.multiweek import generate
from spasmtrack.serve import ServeConfig, Thresholds, create_app
from spasmtrack.serve.app import safe_next
from spasmtrack.serve.overview import WEEKS, Overview, flags, overview
from spasmtrack.serve.sparkline import sparkline
from spasmtrack.serve.users import IDLE_TIMEOUT_MS, MAX_AGE_MS, Users
from spasmtrack.store import now_ms, open_store
from spasmtrack.store import schema as s
from spasmtrack.store import webschema as ws
from spasmtrack.errors import UserError

DAY = 86_400_000
PW = "a long enough password"


@pytest.fixture
def store(db_url):
    """A fresh store, once on SQLite and once on PostgreSQL (tests/dbbackends.py)."""
    return open_store(db_url)


def test_migration_adds_the_web_tables(store):
    names = set(inspect(store.engine).get_table_names())
    assert set(ws.WEB_TABLES) <= names


def test_passwords_are_stored_as_argon2id_hashes_only(store):
    users = Users(store)
    users.add("alice", "clinician", PW, created_by="t")
    with store.engine.connect() as c:
        h = c.execute(select(ws.web_users.c.password_hash)).scalar()
    assert h.startswith("$argon2id$") and PW not in h
    assert users.authenticate("alice", PW).role == "clinician"
    assert users.authenticate("alice", PW + "x") is None
    assert users.authenticate("nobody", PW) is None
    with pytest.raises(UserError, match="at least 12"):
        users.add("bob", "viewer", "short", created_by="t")
    with pytest.raises(UserError, match="unknown role"):
        users.add("bob", "admin", PW, created_by="t")
    with pytest.raises(UserError, match="already exists"):
        users.add("alice", "viewer", PW, created_by="t")
    with pytest.raises(UserError, match="user name"):
        users.add("Alice Smith", "viewer", PW, created_by="t")


def test_sessions_keep_only_a_hash_and_end_on_idle_age_disable_and_password(store):
    users = Users(store)
    users.add("alice", "clinician", PW, created_by="t")
    alice = users.authenticate("alice", PW)
    tok = users.start_session(alice)
    with store.engine.connect() as c:
        stored = c.execute(select(ws.web_sessions.c.token_sha256)).scalar()
    assert tok not in stored and len(stored) == 64
    t0 = now_ms()
    assert users.session_user(tok, now=t0 + IDLE_TIMEOUT_MS - 1000).name == "alice"
    assert users.session_user(tok, now=t0 + 2 * IDLE_TIMEOUT_MS + 1000) is None     # idle
    assert users.session_user(tok) is None                                         # and stays ended

    tok = users.start_session(alice)
    se = ws.web_sessions
    with store.engine.begin() as c:   # used every few minutes, but signed in 12 h ago
        c.execute(update(se).values(created_utc_ms=t0 - MAX_AGE_MS - 1))
    assert users.session_user(tok) is None

    tok = users.start_session(alice)
    users.set_disabled("alice")
    assert users.session_user(tok) is None and users.authenticate("alice", PW) is None
    users.set_disabled("alice", False)
    tok = users.start_session(users.authenticate("alice", PW))
    users.set_password("alice", PW + "!")
    assert users.session_user(tok) is None and users.authenticate("alice", PW + "!") is not None
    assert users.session_user("not a token") is None


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_repeated_wrong_passwords_throttle_sign_in(store):
    Users(store).add("alice", "clinician", PW, created_by="t")
    c = create_app(store).test_client()
    for _ in range(5):
        r = c.post("/signin", data={"csrf_token": _csrf(c.get("/signin").text), "name": "alice",
                                    "password": "guess guess guess"})
        assert r.status_code == 401 and "Wrong user name or password" in r.text
    r = c.post("/signin", data={"csrf_token": _csrf(c.get("/signin").text), "name": "alice",
                                "password": PW})
    assert r.status_code == 401 and "Too many failed sign-ins" in r.text
    with store.engine.connect() as conn:
        actions = [a for (a,) in conn.execute(select(ws.web_audit.c.action))]
    assert actions.count("sign_in_failed") == 5 and actions[-1] == "sign_in_throttled"


def test_next_parameter_never_leaves_the_site():
    assert safe_next("/patients/P1?from=2026-01-01") == "/patients/P1?from=2026-01-01"
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "patients", None, ""):
        assert safe_next(bad) is None


def _covered_h_last_7d(store, now: int, column: str = "covered_ds") -> float:
    sm = s.summaries
    with store.engine.connect() as c:
        ds = c.execute(select(func.sum(sm.c[column])).where(sm.c.start_utc_ms >= now - 7 * DAY)).scalar()
    return float(ds or 0) / 36_000


def test_patient_list_flags_from_stored_data(store):
    start = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=15)).isoformat()
    generate(store, patient="P1", tz="UTC", start_day=start, days=14, seed=2)
    now = now_ms()
    p = store.patient("P1")
    ov = overview(store, p, now)
    assert len(ov.week_rate) == WEEKS and ov.week_rate[-1] is not None and ov.week_rate[-1] > 0
    assert ov.week_rate[0] is None                      # weeks before the data: no rate, not 0
    assert ov.covered_h_7d == pytest.approx(_covered_h_last_7d(store, now), abs=0.01)
    assert ov.coverage_7d == pytest.approx(ov.covered_h_7d / 168)
    assert ov.coverage_7d > 0.5 and ov.flags == []      # the data ends yesterday
    with store.engine.begin() as c:
        c.execute(update(s.records).values(received_utc_ms=now - 5 * DAY))
        c.execute(update(s.summaries).where(s.summaries.c.start_utc_ms >= now - 7 * DAY).values(
            covered_ds=s.summaries.c.window_s * 4, lost_ds=s.summaries.c.window_s * 6))
    ov = overview(store, p, now, Thresholds(stale_sync_days=3))
    got = dict(ov.flags)
    assert got["stale_sync"] == "no sync for 5.0 days"
    cov = _covered_h_last_7d(store, now)
    assert got["low_coverage"] == (f"low coverage: {cov:.1f} h of good signal in the last 7 days "
                                   f"({100 * cov / 168:.0f} %)")
    lost = _covered_h_last_7d(store, now, "lost_ds")
    assert lost == pytest.approx(1.5 * cov)
    assert f"signal lost for {lost:.1f} h (60 % of recorded time" in got["lead_off"]


def test_flag_thresholds_at_their_edges():
    def ov(**kw):
        base = dict(code="P", tz="UTC", display_name=None, devices=["d"], last_sync_ms=0,
                    covered_h_7d=84.0, lost_h_7d=0.0, coverage_7d=0.5, leadoff_events_7d=0,
                    week_start_ms=[], week_rate=[], week_cov_h=[])
        base.update(kw)
        return Overview(**base)
    th = Thresholds(stale_sync_days=3, min_coverage=0.5, max_lost_share=0.1)
    assert flags(ov(), 3 * DAY, th) == []
    assert [k for k, _ in flags(ov(), 3 * DAY + 1, th)] == ["stale_sync"]
    assert [k for k, _ in flags(ov(coverage_7d=0.49), 0, th)] == ["low_coverage"]
    assert [k for k, _ in flags(ov(lost_h_7d=84 / 9 + 0.01), 0, th)] == ["lead_off"]
    assert flags(ov(leadoff_events_7d=3), 0, th) == [("lead_off", "lead-off during 3 event(s) in the last 7 days")]
    assert flags(ov(last_sync_ms=None, coverage_7d=0.0, covered_h_7d=0.0), 0, th) == [("never_synced", "never synced")]
    one = flags(ov(unknown_acks=[("AA:01", 120, 0x0203)]), 0, th)
    assert one == [("unknown_ack", "records of AA:01 from seq 120 on were acknowledged by a host this "
                                   "clinic does not know (bond id 0203): they may be missing here")]
    two = flags(ov(unknown_acks=[("AA:01", 120, 0x0203), ("AA:01", 300, 0x0204)]), 0, th)
    assert two[0][0] == "unknown_ack" and "(and 1 more time(s))" in two[0][1]


def test_sparkline_leaves_gaps_and_is_empty_without_data():
    weeks = [i * 7 * DAY for i in range(6)]
    svg = sparkline(weeks, [2.0, 3.0, None, 4.0, 5.0, None], "UTC")
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 4
    assert "latest 5.0 episodes per hour" in svg and "nan" not in svg
    assert sparkline(weeks, [None] * 6, "UTC") == ""


def _cli(capsys, monkeypatch, *args, stdin: str = ""):
    """The real CLI entry point, in-process (a subprocess per call costs seconds of imports)."""
    from spasmtrack.cli import main
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        rc = main(list(args))
    except SystemExit as exc:          # argparse usage errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_user_command_reads_passwords_from_stdin_never_argv(tmp_path, capsys, monkeypatch):
    db = f"sqlite:///{tmp_path}/c.sqlite"
    run = lambda *a, stdin="": _cli(capsys, monkeypatch, *a, "--db", db, stdin=stdin)  # noqa: E731
    rc, _, err = run("user", "add", "alice", "--role", "clinician", "--password-stdin", stdin=PW + "\n")
    assert rc == 2 and "--create" in err          # a mistyped --db never makes a new empty clinic
    rc, out, _ = run("user", "add", "alice", "--role", "clinician", "--password-stdin", "--create",
                     stdin=PW + "\n")
    assert rc == 0 and "user alice added (clinician)" in out
    rc, _, err = run("user", "add", "bob", "--role", "viewer")
    assert rc == 2 and err.strip() == ("spasmtrack user: error: no terminal to ask for the password: "
                                       "pipe it in with --password-stdin")
    rc, _, err = run("user", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert rc == 2 and err.strip() == "spasmtrack user: error: the password must have at least 12 characters"
    rc, _, err = run("user", "add", "bob", "--role", "viewer", PW)
    assert rc == 2 and "unrecognized arguments" in err
    rc, _, err = run("user", "disable", "nobody")
    assert rc == 2 and err.strip() == "spasmtrack user: error: no user 'nobody'"
    assert run("user", "disable", "alice")[0] == 0
    assert re.search(r"^alice\s+clinician\s+disabled", run("user", "list")[1], re.M)
    assert Users(open_store(db)).authenticate("alice", PW) is None


@pytest.mark.parametrize("args,message", [
    (["--host", "0.0.0.0"], "refusing to listen on 0.0.0.0: spasmtrack serve speaks plain HTTP"),
    (["--port", "70000"], "--port 70000 is not a TCP port"),
    (["--min-coverage", "150"], "are percentages"),
])
def test_serve_refuses_bad_options_in_one_line(tmp_path, capsys, monkeypatch, args, message):
    rc, _, err = _cli(capsys, monkeypatch, "serve", "--db", f"sqlite:///{tmp_path}/c.sqlite", *args)
    assert rc == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_report_page_carries_the_report_csp_and_the_app_pages_allow_no_script(store):
    from spasmtrack.serve.app import APP_CSP, REPORT_CSP
    Users(store).add("alice", "clinician", PW, created_by="t")
    store.add_patient("P1", "UTC")
    c = create_app(store, ServeConfig(report_bootstrap=20)).test_client()
    c.post("/signin", data={"csrf_token": _csrf(c.get("/signin").text), "name": "alice", "password": PW})
    page = c.get("/patients/P1")
    assert page.status_code == 200 and page.headers["Content-Security-Policy"] == APP_CSP
    assert "script-src 'none'" in APP_CSP and page.headers["Cache-Control"] == "no-store"
    rep = c.get("/patients/P1/report?from=2026-11-01&to=2026-11-02")
    assert rep.status_code == 200 and rep.headers["Content-Security-Policy"] == REPORT_CSP
    bad = c.get("/patients/P1/report?from=2026-11-31&to=2026-12-02")
    assert bad.status_code == 400 and "From day &#39;2026-11-31&#39; is not a date" in bad.text
    assert c.get("/patients/NOPE").status_code == 404
