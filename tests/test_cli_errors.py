"""Bad input at the command line: one line naming the input and what to do, exit code 2,
nothing written; and the inputs that used to be accepted silently (issue 13)."""
from __future__ import annotations

import gzip
import sqlite3

import pytest

from spasmtrack.cli import main
from spasmtrack.cli_messages import message_for
from spasmtrack.commands.dose import checked_db_url
from spasmtrack.doses import DoseLog
from spasmtrack.store import open_store


def one_line_error(capsys, *fragments: str) -> str:
    """The captured stderr is exactly one error line containing every fragment."""
    cap = capsys.readouterr()
    lines = [x for x in cap.err.strip().splitlines() if x]
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("spasmtrack ") and ": error: " in lines[0], lines[0]
    assert "Traceback" not in cap.err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    assert main(["patient", "add", "P1", "--tz", "Europe/Berlin", "--name", "Ada Example",
                 "--db", url, "--create"]) == 0
    return url, tmp_path


def doses(url: str) -> list[dict]:
    return DoseLog(open_store(url)).list("P1", include_inactive=True)


# ------------------------------------------------------------------------ the database
def test_mistyped_db_is_refused_and_not_created(db, capsys):
    url, tmp = db
    capsys.readouterr()
    assert main(["patient", "list", "--db", url.replace("c.sqlite", "c.sqlit")]) == 2
    one_line_error(capsys, "no such database", "--create")
    assert not (tmp / "c.sqlit").exists()


def test_unsupported_url_scheme(capsys):
    assert main(["patient", "list", "--db", "mysql://u@h/db"]) == 2
    one_line_error(capsys, "mysql:// databases are not supported", "sqlite:///path")


def test_corrupt_database(tmp_path, capsys):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    assert main(["patient", "list", "--db", str(bad)]) == 2
    one_line_error(capsys, "not a spasmtrack/SQLite database or is damaged", "backup")
    assert bad.read_bytes() == b"this is not sqlite" * 100


def test_database_from_a_newer_schema(db, capsys):
    url, tmp = db
    with sqlite3.connect(tmp / "c.sqlite") as c:
        c.execute("INSERT INTO schema_version (version, applied_utc_ms, description) VALUES (99, 0, 'x')")
    capsys.readouterr()
    assert main(["patient", "list", "--db", url]) == 2
    one_line_error(capsys, "schema version 99 is newer", "upgrade spasmtrack", "nothing was changed")


def test_read_only_database_reads_but_refuses_writes(db, capsys, monkeypatch):
    url, tmp = db
    # root may write anything, so the permission check is simulated; SQLite's own read-only
    # mode (what a non-writable file is opened with) is real
    monkeypatch.setattr("os.access", lambda p, mode: False)
    ro = checked_db_url(url, create=False)
    assert ro.startswith("sqlite:///file:") and "mode=ro" in ro
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["patient", "list", "--db", ro]) == 0
    assert "Ada Example" in capsys.readouterr().out
    assert main(["dose", "add", "--patient", "P1", "--amount", "10 mg", "--time", "now", "--db", ro]) == 2
    one_line_error(capsys, "read-only", "nothing was written")
    assert doses(url) == []


def test_locked_database_message():
    from sqlalchemy.exc import OperationalError
    exc = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
    msg = message_for(exc, "sqlite:///x.sqlite")
    assert "is busy" in msg and "nothing was written" in msg and "\n" not in msg


# ------------------------------------------------------------------------ patients/devices
@pytest.mark.parametrize("code,frag", [("", "patient code is empty"),
                                       ("P" * 5000, "(5000 characters) must be 1-32"),
                                       ("Ada Lovelace", "a pseudonym, not a name")])
def test_bad_patient_codes(db, capsys, code, frag):
    url, _ = db
    capsys.readouterr()
    assert main(["patient", "add", code, "--tz", "Europe/Berlin", "--db", url]) == 2
    one_line_error(capsys, frag)
    assert [p["code"] for p in open_store(url).patients()] == ["P1"]


def test_device_reassignment_asks_for_a_date_and_list_shows_names(db, capsys):
    url, _ = db
    assert main(["patient", "add", "P2", "--tz", "Europe/Berlin", "--db", url]) == 0
    assert main(["patient", "assign-device", "P1", "AA:BB", "--db", url]) == 0
    capsys.readouterr()
    assert main(["patient", "assign-device", "P2", "AA:BB", "--db", url]) == 2
    one_line_error(capsys, "device AA:BB is worn by patient P1", "--since")
    assert main(["patient", "assign-device", "P2", "AA:BB", "--since", "2026-11-01 00:00", "--db", url]) == 0
    assert "moved from P1 (assignment ended 2026-11-01 00:00 CET) to P2" in capsys.readouterr().out
    assert main(["patient", "list", "--db", url]) == 0
    out = capsys.readouterr().out.splitlines()
    p1 = next(x for x in out if x.startswith("P1"))
    p2 = next(x for x in out if x.startswith("P2"))
    assert "Ada Example" in p1 and "AA:BB until 2026-11-01 00:00 CET" in p1
    assert "AA:BB from 2026-11-01 00:00 CET" in p2 and "until" not in p2


# ------------------------------------------------------------------------ doses
@pytest.mark.parametrize("amount,frag", [
    ("inf mg", "is not '<number> <unit>'"),
    ("1e308 g", "is not '<number> <unit>'"),
    ("1000 g", "more than any single dose (5000 mg)"),
    ("0 mg", "must be positive"),
])
def test_impossible_amounts_are_refused(db, capsys, amount, frag):
    url, _ = db
    capsys.readouterr()
    assert main(["dose", "add", "--patient", "P1", "--amount", amount, "--time", "now", "--db", url]) == 2
    one_line_error(capsys, frag)
    assert doses(url) == []


def test_csv_amount_inf_and_huge_are_refused_by_row(db, tmp_path, capsys):
    url, _ = db
    f = tmp_path / "d.csv"
    f.write_text("time,drug,amount,unit,route\n2026-11-10 08:00,baclofen,inf,mg,oral\n"
                 "2026-11-10 12:00,baclofen,1e308,g,oral\n")
    capsys.readouterr()
    assert main(["dose", "import", str(f), "--patient", "P1", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "d.csv:2: amount 'inf' is not a finite number" in err
    assert "d.csv:3: amount 1e+308 g oral is more than any single dose" in err
    assert doses(url) == []


@pytest.mark.parametrize("when,frag", [
    ("0001-01-01 08:00", "in the year 1: check the year"),
    ("2026-13-01 08:00", "is not a valid time"),
    ("2026-11-10T08:00+05:00 Europe/Berlin", "offset +0500 contradicts zone Europe/Berlin"),
    ("tomorrow", "is not a valid time"),
])
def test_bad_times_are_refused(db, capsys, when, frag):
    url, _ = db
    capsys.readouterr()
    assert main(["dose", "add", "--patient", "P1", "--amount", "10 mg", "--time", when, "--db", url]) == 2
    one_line_error(capsys, frag)
    assert doses(url) == []


def test_now_and_local_times_in_the_patients_zone(db, capsys):
    url, _ = db
    capsys.readouterr()
    assert main(["dose", "add", "--patient", "P1", "--amount", "10 mg", "--time", "now", "--db", url]) == 0
    assert main(["dose", "add", "--patient", "P1", "--amount", "10 mg", "--time", "2026-07-01 08:00",
                 "--db", url]) == 0
    assert "at 2026-07-01 08:00 CEST" in capsys.readouterr().out
    assert main(["dose", "list", "--patient", "P1", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "times in Europe/Berlin" in out and "2026-07-01 08:00 CEST" in out and "Z " not in out


def test_pump_rate_inf_is_refused(db, capsys):
    url, _ = db
    capsys.readouterr()
    assert main(["dose", "pump", "--patient", "P1", "--rate", "00:00=inf", "--from", "2026-11-01 00:00",
                 "--db", url]) == 2
    one_line_error(capsys, "beyond any pump program")
    assert DoseLog(open_store(url)).pump_programs("P1", include_inactive=True) == []


def test_correction_cannot_make_an_exact_duplicate(db, capsys):
    url, _ = db
    for t in ("2026-11-10 08:00", "2026-11-10 12:00"):
        assert main(["dose", "add", "--patient", "P1", "--amount", "10 mg", "--time", t, "--db", url]) == 0
    capsys.readouterr()
    second = doses(url)[1]["id"]
    assert main(["dose", "correct", str(second), "--time", "2026-11-10 08:00", "--reason", "typo",
                 "--db", url]) == 2
    one_line_error(capsys, "exact copy of dose #1", f"retract #{second}")
    assert [d["status"] for d in doses(url)] == ["active", "active"]


def test_semicolon_csv_with_decimal_comma_and_near_duplicate_warning(db, tmp_path, capsys):
    url, _ = db
    assert main(["dose", "add", "--patient", "P1", "--amount", "10 mg", "--time", "2026-11-10 08:00",
                 "--db", url]) == 0
    f = tmp_path / "eu.csv"
    f.write_text("time;drug;amount;unit;route;note\n"
                 "2026-11-10 08:05;baclofen;10;mg;oral;\n"
                 "2026-11-10 20:00;baclofen;2,5;mg;oral;halbe Tablette\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["dose", "import", str(f), "--patient", "P1", "--db", url]) == 0
    cap = capsys.readouterr()
    assert "imported 2 dose(s)" in cap.out
    assert "eu.csv:2: dose #1 of the same drug and route is 5 min away: possible double entry" in cap.err
    assert sorted(d["amount"] for d in doses(url)) == [2.5, 10.0, 10.0]


def test_import_of_a_latin1_csv(db, tmp_path, capsys):
    url, _ = db
    f = tmp_path / "l1.csv"
    f.write_bytes("time,drug,amount,unit,route,note\n2026-11-10 08:00,baclofen,10,mg,oral,Übelkeit\n"
                  .encode("latin-1"))
    capsys.readouterr()
    assert main(["dose", "import", str(f), "--patient", "P1", "--db", url]) == 2
    one_line_error(capsys, "not UTF-8 text", "CSV UTF-8")
    assert doses(url) == []


def test_report_impossible_date(db, tmp_path, capsys):
    url, _ = db
    capsys.readouterr()
    assert main(["report", "--patient", "P1", "--from", "2026-02-30", "--to", "2026-03-01",
                 "--out", str(tmp_path / "r.html"), "--db", url]) == 2
    one_line_error(capsys, "--from '2026-02-30' is not a calendar date")
    assert not (tmp_path / "r.html").exists()


def test_report_out_unwritable_is_refused_before_the_analysis(db, tmp_path, capsys):
    url, _ = db
    (tmp_path / "f").write_text("a file")
    capsys.readouterr()
    assert main(["report", "--patient", "P1", "--from", "2026-11-01", "--to", "2026-11-02",
                 "--out", str(tmp_path), "--db", url]) == 2
    one_line_error(capsys, "--out", "is a folder")
    assert main(["report", "--patient", "P1", "--from", "2026-11-01", "--to", "2026-11-02",
                 "--out", str(tmp_path / "r.html"), "--pdf", str(tmp_path / "f" / "r.pdf"),
                 "--db", url]) == 2      # tmp_path/f is a file: no folder can be made there
    one_line_error(capsys, "--pdf", "does not exist")
    assert not (tmp_path / "r.html").exists()


def test_unknown_os_errors_name_the_file():
    msg = message_for(IsADirectoryError(21, "Is a directory", "/tmp/x"), None)
    assert msg == "/tmp/x: Is a directory; nothing was written there"


# ------------------------------------------------------------------------ replay
@pytest.mark.parametrize("name,data,frag", [
    ("g.csv", gzip.compress(b"t_s,emg_uV\n0,1\n0.001,2\n", mtime=0), "gzip-compressed"),
    ("b.csv", bytes(range(256)) * 8, "binary file"),
    ("l.csv", "t_s,emg_uV\n0,1\n0.001,2 µ\n".encode("latin-1"), "line 3: not UTF-8 text"),
], ids=["gzip", "binary", "latin-1"])
def test_replay_of_unreadable_files(tmp_path, capsys, name, data, frag):
    p = tmp_path / name
    p.write_bytes(data)
    assert main(["replay", str(p)]) == 2
    one_line_error(capsys, name, frag)


def test_replay_unwritable_out_fails_before_the_replay(tmp_path, capsys):
    p = tmp_path / "r.csv"
    p.write_text("t_s,emg_uV\n0,1\n0.001,2\n")
    assert main(["replay", str(p), "--out", str(tmp_path / "no" / "such" / "dir" / "e.json")]) == 2
    one_line_error(capsys, "--out", "does not exist")
    assert main(["replay", str(p), "--out", str(tmp_path)]) == 2
    one_line_error(capsys, "is a folder")


def test_replay_negative_detector_parameter(tmp_path, capsys):
    p = tmp_path / "r.csv"
    p.write_text("t_s,emg_uV\n0,1\n0.001,2\n")
    assert main(["replay", str(p), "--set", "min_duration_ms=-5"]) == 2
    one_line_error(capsys, "min_duration_ms=-5", "between 0 and")


def test_replay_patient_needs_start(db, tmp_path, capsys):
    url, _ = db
    p = tmp_path / "r.csv"
    p.write_text("t_s,emg_uV\n0,1\n0.001,2\n")
    capsys.readouterr()
    assert main(["replay", str(p), "--patient", "P1", "--db", url]) == 2
    one_line_error(capsys, "--patient and --start go together")


# ------------------------------------------------------------------------ radio and deploy
def test_scan_without_an_adapter(monkeypatch, capsys):
    monkeypatch.delenv("SPASMTRACK_BLE_RADIO", raising=False)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/spasmtrack-test-bus")
    assert main(["scan", "--seconds", "0.5"]) == 2
    line = one_line_error(capsys, "no Bluetooth adapter reachable", "--radio")
    assert "Errno" not in line


def test_deploy_to_a_missing_port(capsys):
    from spasmtrack.mpybuild import main as mpybuild
    assert mpybuild(["--board", "sim", "--deploy", "/dev/spasmtrack-no-such-port"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such serial port" in err[0] and "make sim-board" in err[0]
