"""Dose log: parsing, bad input naming the row, corrections with provenance, pumps, marks."""
from __future__ import annotations

import json

import pytest

from spasmtrack import records as r
from spasmtrack.cli import main
from spasmtrack.doses import DoseInput, DoseInputError, DoseLog, PumpStep
from spasmtrack.doses.parse import parse_amount, parse_time
from spasmtrack.store import open_store

NOW = 1_795_000_000_000   # 2026-11-17 ~ UTC ms


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path}/d.sqlite"
    st = open_store(url)
    st.add_patient("P1", "Europe/Berlin")
    return url, st, DoseLog(st, who="nurse1")


def test_time_parsing_requires_zone_and_handles_dst():
    assert parse_time("2026-03-01T08:00+01:00")[0] == parse_time("2026-03-01 08:00 Europe/Berlin")[0]
    assert parse_time("2026-07-01 08:00 Europe/Berlin")[0] == parse_time("2026-07-01T06:00Z")[0]
    assert parse_time("2026-07-01 08:00 +02:00")[0] == parse_time("2026-07-01T06:00Z")[0]
    with pytest.raises(DoseInputError, match="has no time zone"):
        parse_time("2026-03-01 08:00")
    with pytest.raises(DoseInputError, match="does not exist"):
        parse_time("2026-03-29 02:30 Europe/Berlin")
    with pytest.raises(DoseInputError, match="happens twice"):
        parse_time("2026-10-25 02:30 Europe/Berlin")
    with pytest.raises(DoseInputError, match="unknown time zone"):
        parse_time("2026-03-01 08:00 Mars/Base")


def test_units():
    assert parse_amount("20 mg") == (20.0, "mg", 20000.0)
    assert parse_amount("50", "mcg") == (50.0, "ug", 50.0)
    with pytest.raises(DoseInputError, match="unknown unit 'tablets'"):
        parse_amount("2", "tablets")
    with pytest.raises(DoseInputError, match="must be positive"):
        parse_amount("0 mg")


def test_add_duplicate_future_and_warnings(db):
    _, st, log = db
    d = DoseInput.parse("baclofen", "20", "mg", "oral", "2026-11-10T08:00+01:00", now=NOW)
    did, ws = log.add("P1", d)
    assert did == 1 and ws == []
    with pytest.raises(DoseInputError, match="already stored as #1"):
        log.add("P1", d)
    d2 = DoseInput.parse("baclofen", "200", "mg", "oral", "2026-11-10T08:05+01:00", now=NOW)
    _, ws = log.add("P1", d2)
    assert any("above the usual single dose" in w for w in ws)
    assert any("possible double entry" in w for w in ws)
    with pytest.raises(DoseInputError, match="in the future"):
        DoseInput.parse("baclofen", "20", "mg", "oral", "2026-12-30T08:00+01:00", now=NOW)


def test_correction_keeps_old_version_and_audit(db):
    _, st, log = db
    did, _ = log.add("P1", DoseInput.parse("baclofen", "10", "mg", "oral",
                                           "2026-11-10T08:00+01:00", now=NOW))
    new = log.correct(did, "patient took 20 mg", amount="20 mg")
    rows = {d["id"]: d for d in log.list("P1", include_inactive=True)}
    assert rows[did]["status"] == "superseded" and rows[did]["amount"] == 10
    assert rows[new]["status"] == "active" and rows[new]["amount_ug"] == 20000
    assert rows[new]["supersedes_id"] == did
    trail = st.audit_trail("doses", new)
    assert trail[0]["who"] == "nurse1" and "took 20 mg" in trail[0]["detail_json"]
    assert json.loads(trail[0]["detail_json"])["changed"] == {"amount": [10.0, 20.0],
                                                              "amount_ug": [10000.0, 20000.0]}
    with pytest.raises(DoseInputError, match="unchanged"):
        log.correct(new, "no-op", amount="20 mg")
    with pytest.raises(DoseInputError, match="is superseded"):
        log.correct(did, "again", amount="5 mg")
    log.retract(new, "entered for the wrong patient")
    assert log.list("P1") == []
    assert len(log.list("P1", include_inactive=True)) == 2


CSV_OK = """time,drug,amount,unit,route,note
2026-11-10T08:00+01:00,baclofen,20,mg,oral,
2026-11-10 14:00 Europe/Berlin,baclofen,20,mg,oral,late
2026-11-10T08:00+01:00,baclofen,20,mg,oral,
2026-11-10T09:00+01:00,baclofen,50,ug,intrathecal_bolus,screening
"""


def test_csv_import_skips_duplicates_and_is_idempotent(db, tmp_path):
    _, st, log = db
    f = tmp_path / "doses.csv"
    f.write_text(CSV_OK)
    rep = log.import_csv("P1", f, now=NOW)
    assert len(rep.inserted) == 3 and rep.skipped == 1
    assert any("doses.csv:4: duplicate of line 2" in w for w in rep.warnings)
    rep2 = log.import_csv("P1", f, now=NOW)
    assert rep2.inserted == [] and rep2.skipped == 4
    assert all(d["source"] == "import" for d in log.list("P1"))
    assert log.list("P1")[0]["source_ref"] == "doses.csv:2"


def test_csv_import_names_every_bad_row_and_stores_nothing(db, tmp_path):
    _, st, log = db
    f = tmp_path / "bad.csv"
    f.write_text("time,drug,amount,unit,route\n"
                 "2026-11-10T08:00+01:00,baclofen,20,mg,oral\n"
                 "2026-11-10T09:00+01:00,baclofen,20,mg,oral,after lunch,extra\n"
                 "2026-11-10T08:00+01:00,baclofen,20,spoons,oral\n"
                 "2030-01-01T08:00+01:00,baclofen,20,mg,oral\n"
                 "2026-11-10T08:00+01:00,baclofen,20,mg,rectal\n")
    with pytest.raises(DoseInputError) as ei:
        log.import_csv("P1", f, now=NOW)
    msg = str(ei.value)
    assert "4 bad row(s)" in msg
    for frag in ("bad.csv:3: 2 cell(s) more than the header's 5 columns", "bad.csv:4: unknown unit 'spoons'",
                 "bad.csv:5: dose time 2030-01-01T07:00Z is in the future", "bad.csv:6: unknown route 'rectal'"):
        assert frag in msg
    assert log.list("P1") == []
    f.write_text("when,drug,amount\n")
    with pytest.raises(DoseInputError, match="missing column"):
        log.import_csv("P1", f, now=NOW)


def test_pump_programs_flex_overlap_and_replace(db):
    _, st, log = db
    steps = [PumpStep("07:00", 450), PumpStep("00:00", 350)]
    p1, ws = log.add_pump_program("P1", steps, "2026-11-01 00:00", None)
    assert ws == []
    progs = log.pump_programs("P1")
    assert [s.at for s in progs[0]["steps"]] == ["00:00", "07:00"]
    with pytest.raises(DoseInputError, match=f"overlaps active program #{p1}"):
        log.add_pump_program("P1", [PumpStep("00:00", 400)], "2026-11-05 00:00")
    p2, _ = log.add_pump_program("P1", [PumpStep("00:00", 400)], "2026-11-05 00:00", replaces=p1)
    active = log.pump_programs("P1")
    assert len(active) == 2 and active[0]["valid_to_utc_ms"] == active[1]["valid_from_utc_ms"]
    assert active[0]["supersedes_id"] == p1
    too_many = [PumpStep(f"{h:02d}:00", 300) for h in range(14)]
    with pytest.raises(DoseInputError, match="at most 13"):
        log.add_pump_program("P1", too_many, "2026-12-01 00:00")
    with pytest.raises(DoseInputError, match="not HH:MM"):
        log.add_pump_program("P1", [PumpStep("25:00", 300)], "2026-12-01 00:00")
    _, ws = log.add_pump_program("P1", [PumpStep("00:00", 5000)], "2026-12-01 00:00", replaces=p2)
    assert "above usual ITB" in ws[0]


def test_button_mark_becomes_dose_with_provenance(db):
    _, st, log = db
    st.assign_device("dev1", "P1")
    t = 1_794_000_000
    st.insert_records("dev1", [
        r.encode("TIME_ANCHOR", 1, boot=1, ms=0, unix_s=t, tz_quarter_h=4, source=1),
        r.encode("MARK", 2, boot=1, ms=60_000, kind=1),
        r.encode("MARK", 3, boot=1, ms=90_000, kind=2)])
    marks = log.marks("P1")
    assert [m["kind"] for m in marks] == [1, 2]
    did, _ = log.confirm_mark("P1", marks[0]["id"], "baclofen", "10 mg", "oral")
    d = log.list("P1")[0]
    assert d["taken_utc_ms"] == (t + 60) * 1000 and d["source"] == "button"
    assert log.marks("P1", unlinked_only=True)[0]["kind"] == 2
    with pytest.raises(DoseInputError, match="felt spasm"):
        log.confirm_mark("P1", marks[1]["id"], "baclofen", "10 mg", "oral")


def test_cli_dose_add_and_errors(db, capsys):
    url, st, log = db
    assert main(["patient", "add", "P2", "--tz", "America/New_York", "--db", url + ".new"]) == 2
    assert "no such database" in capsys.readouterr().err
    assert main(["patient", "add", "P2", "--tz", "America/New_York", "--db", url]) == 0
    assert main(["dose", "add", "--patient", "P2", "--amount", "10 mg",
                 "--time", "2026-11-10 08:00 America/New_York", "--db", url]) == 0
    capsys.readouterr()
    assert main(["dose", "add", "--patient", "P2", "--amount", "5 mg",      # the patient's zone
                 "--time", "2026-11-10 14:00", "--db", url]) == 0
    assert "at 2026-11-10 14:00 EST" in capsys.readouterr().out
    assert main(["dose", "add", "--patient", "NOPE", "--amount", "10 mg",
                 "--time", "2026-11-10T08:00Z", "--db", url]) == 2
    assert "unknown patient 'NOPE'" in capsys.readouterr().err
    assert main(["dose", "pump", "--patient", "P2", "--rate", "00:00=350", "--rate", "07:00=450",
                 "--from", "2026-11-01 00:00 America/New_York", "--db", url]) == 0
    assert main(["dose", "list", "--patient", "P2", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "10 mg  baclofen oral" in out and "times in America/New_York" in out
    assert "2026-11-10 08:00 EST" in out


def test_pump_retract_and_late_entry_counts(db):
    from spasmtrack.analysis import load
    url, st, log = db
    pid, _ = log.add_pump_program("P1", [PumpStep("00:00", 300)], "2026-11-01 00:00")
    log.retract_pump_program(pid, "wrong patient")
    assert log.pump_programs("P1") == []
    assert log.pump_programs("P1", include_inactive=True)[0]["status"] == "retracted"
    with pytest.raises(DoseInputError, match="already retracted"):
        log.retract_pump_program(pid, "again")
    # a dose taken days before it was entered is counted as a late entry
    did, _ = log.add("P1", DoseInput.parse("baclofen", "10 mg", None, "oral", "2026-10-01T08:00Z"))
    log.correct(did, "it was 15 mg", amount="15 mg")
    d = load(st, "P1", 1_790_000_000_000, 1_800_000_000_000)
    assert d.dose_late_entries == 1 and d.dose_corrected == 1 and d.dose_ug.tolist() == [15000.0]


def test_cli_import_names_bad_row(db, tmp_path, capsys):
    url, st, log = db
    f = tmp_path / "in.csv"
    f.write_text("time,drug,amount,unit,route\n2026-11-10T08:00+01:00,baclofen,20,mg,oral\n"
                 "2026-11-10T12:00+01:00,baclofen,20,mgs,oral\n")
    assert main(["dose", "import", str(f), "--patient", "P1", "--db", url]) == 2
    assert "in.csv:3: unknown unit 'mgs'" in capsys.readouterr().err
    f.write_text("time,drug,amount,unit,route\n2026-11-10T08:00+01:00,baclofen,20,mg,oral\n"
                 "2026-11-10T08:00+01:00,baclofen,20,mg,oral\n")
    assert main(["dose", "import", str(f), "--patient", "P1", "--db", url, "--by", "dr_a"]) == 0
    cap = capsys.readouterr()
    assert "in.csv:3: duplicate of line 2, skipped" in cap.err and "imported 1 dose(s)" in cap.out
    assert log.list("P1")[0]["entered_by"] == "dr_a"
