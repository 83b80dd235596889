"""`spasmtrack replay --patient`: a lab recording stored as a device's records reaches the
analysis and the report (real firmware on MicroPython, real SQLite)."""
from __future__ import annotations

import json
from pathlib import Path

from spasmtrack.analysis import load
from spasmtrack.cli import main
from spasmtrack.store import open_store
from test_replay_cli import spasm_signal, write_csv

START = "2026-11-20 08:00"            # Europe/Berlin, UTC+1
START_UTC_MS = 1_795_158_000_000      # 2026-11-20T07:00Z


def test_replay_patient_stores_events_with_provenance(tmp_path: Path, capsys) -> None:
    csv = write_csv(tmp_path / "lab.csv", spasm_signal(bursts=((6.0, 2.0, 40.0),)))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["patient", "add", "P7", "--tz", "Europe/Berlin", "--db", db, "--create"]) == 0
    out = tmp_path / "ev.json"
    assert main(["replay", str(csv), "--out", str(out), "--patient", "P7", "--start", START,
                 "--db", db]) == 0
    err = capsys.readouterr().err
    assert "stored for patient P7 as device replay:" in err and "(1 events" in err
    onset_s = json.loads(out.read_text())[0]["onset_s"]
    st = open_store(db)
    d = load(st, "P7", START_UTC_MS, START_UTC_MS + 3_600_000)
    assert d.ev_t.tolist() == [START_UTC_MS + round(onset_s * 1000)]
    assert d.sm_t.size >= 1 and d.sm_cov_ds.sum() > 0          # good-signal time for the rate
    dev = st.devices("P7")[0]
    assert dev["key"].startswith("replay:") and dev["board"] == "replay:sim"
    trail = [a for a in st.audit_trail("devices") if a["action"] == "replay-import"]
    detail = json.loads(trail[0]["detail_json"])
    assert detail["file"] == "lab.csv" and len(detail["sha256"]) == 64 and detail["board"] == "sim"
    # the same file again: nothing new, and not for another patient
    assert main(["replay", str(csv), "--out", str(out), "--patient", "P7", "--start", START,
                 "--db", db]) == 0
    assert "0 new records" in capsys.readouterr().err
    assert main(["patient", "add", "P8", "--tz", "Europe/Berlin", "--db", db]) == 0
    assert main(["replay", str(csv), "--out", str(out), "--patient", "P8", "--start", START,
                 "--db", db]) == 2
    assert "already stored for patient P7" in capsys.readouterr().err
    # and it reaches the report
    rep = tmp_path / "r.html"
    assert main(["report", "--patient", "P7", "--from", "2026-11-20", "--to", "2026-11-20",
                 "--out", str(rep), "--bootstrap", "50", "--db", db]) == 0
    assert "replay:" in rep.read_text()
