"""Clinician report: CLI, self-contained HTML rendered in real headless Chromium, PDF, exports."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

import pytest

from spasmtrack.analysis import load
from spasmtrack.synth.multiweek import generate
from spasmtrack.cli import main
from spasmtrack.export.fhir import build_bundle, validate
from spasmtrack.report.plots import FIGURES
from spasmtrack.store import open_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    url = f"sqlite:///{tmp}/r.sqlite"
    st = open_store(url)
    tr = generate(st, days=10, start_day="2026-10-20", seed=7)
    return url, st, tr, tmp


@pytest.fixture(scope="module")
def report(db):
    url, st, tr, tmp = db
    out = tmp / "out" / "report.html"
    assert main(["report", "--patient", "P1", "--from", "2026-10-20", "--to", "2026-10-29",
                 "--out", str(out), "--bootstrap", "200", "--db", url]) == 0
    return out


def test_report_is_private_self_contained_and_complete(report):
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o600
    html = report.read_text()
    # nothing loaded from elsewhere: no external src/href, no <link>, no <img>
    assert not re.search(r'(src|href)\s*=\s*"(?!#)', html)
    assert "<link" not in html and "<img" not in html
    for key, _, _ in FIGURES:
        assert f'id="plot-{key}"' in html
    for must in ("Europe/Berlin", "no dosing advice", "Methods", "95% CI", "min_duration_ms",
                 "sent by device", "PSFS-equivalent", "Snow", "not a recommended dosing interval",
                 "events per hour of signal", "daylight-saving", "device faults logged"):
        assert must in html, must


def chromium_figures(html_path, tmp_path) -> tuple[int, int, int, int, str]:
    """(figures, drawn, explained in place, JS errors, DOM) of the report in headless Chromium."""
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path}/prof", "--enable-logging=stderr",
                        "--v=0", "--virtual-time-budget=5000", "--window-size=1100,3000", "--dump-dom",
                        html_path.as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Uncaught" not in r.stderr
    m = re.search(r'<body data-plots-total="(\d+)" data-plots-ok="(\d+)" data-plots-explained="(\d+)" '
                  r'data-js-errors="(\d+)"', r.stdout)
    assert m, r.stdout[:500]
    return (*map(int, m.groups()), r.stdout)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed (make setup)")
def test_report_renders_in_headless_chromium_with_every_plot(report, tmp_path):
    total, ok, explained, errors, dom = chromium_figures(report, tmp_path)
    assert total == len(FIGURES) and ok == total and explained == 0 and errors == 0
    assert dom.count("<svg") >= len(FIGURES)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed (make setup)")
def test_pdf(db, report, tmp_path):
    url, *_ = db
    pdf = tmp_path / "r.pdf"
    assert main(["report", "--patient", "P1", "--from", "2026-10-27", "--to", "2026-10-29",
                 "--out", str(tmp_path / "r.html"), "--pdf", str(pdf), "--bootstrap", "100", "--db", url]) == 0
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert stat.S_IMODE(os.stat(pdf).st_mode) == 0o600


def test_report_bad_input(db, tmp_path, capsys):
    url, *_ = db
    out = str(tmp_path / "x.html")
    assert main(["report", "--patient", "NOPE", "--from", "2026-10-20", "--to", "2026-10-21", "--out", out, "--db", url]) == 2
    assert "unknown patient 'NOPE'" in capsys.readouterr().err
    assert main(["report", "--patient", "P1", "--from", "2026-10-22", "--to", "2026-10-20", "--out", out, "--db", url]) == 2
    assert "--to must be after --from" in capsys.readouterr().err
    assert main(["report", "--patient", "P1", "--from", "2026-13-01", "--to", "2026-10-21", "--out", out, "--db", url]) == 2
    assert "--from '2026-13-01' is not a calendar date" in capsys.readouterr().err
    assert main(["report", "--patient", "P1", "--from", "2026-10-20", "--to", "2026-10-21", "--out", out,
                 "--tmax", "9", "--db", url]) == 2
    assert "not reachable" in capsys.readouterr().err


def test_fhir_export_validates_and_counts(db, tmp_path):
    url, st, tr, _ = db
    out = tmp_path / "b.json"
    assert main(["export", "--patient", "P1", "--from", "2026-10-21", "--to", "2026-10-21",
                 "--format", "fhir", "--out", str(out), "--db", url]) == 0
    b = json.loads(out.read_text())
    types = {}
    for e in b["entry"]:
        types[e["resource"]["resourceType"]] = types.get(e["resource"]["resourceType"], 0) + 1
    d = load(st, "P1", b_from := tr.start_utc_ms + 86_400_000, b_from + 86_400_000)
    assert types["Observation"] == d.ev_t.size + d.sm_t.size
    assert types["MedicationAdministration"] == int(((d.dose_t >= b_from) & (d.dose_t < b_from + 86_400_000)).sum())
    assert types["Device"] == 1 and types["Patient"] == 1
    ma = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "MedicationAdministration")
    assert ma["dosage"]["dose"]["code"] == "mg" and ma["medicationCodeableConcept"]["coding"][0]["code"] == "1292"
    bad = build_bundle(d, include_summaries=False)
    bad["entry"][2]["resource"]["effectivePeriod"]["start"] = "yesterday"
    with pytest.raises(Exception, match="effectivePeriod|start|datetime"):
        validate(bad)


def test_csv_export(db, tmp_path):
    url, st, tr, _ = db
    assert main(["export", "--patient", "P1", "--from", "2026-10-21", "--to", "2026-10-22",
                 "--format", "csv", "--out", str(tmp_path / "c"), "--db", url]) == 0
    lines = (tmp_path / "c" / "events.csv").read_text().splitlines()
    assert lines[0].startswith("onset_utc,onset_local,kind,duration_s")
    d = load(st, "P1", tr.start_utc_ms + 86_400_000, tr.start_utc_ms + 3 * 86_400_000)
    assert len(lines) - 1 == d.ev_t.size
    assert stat.S_IMODE(os.stat(tmp_path / "c" / "doses.csv").st_mode) == 0o600


def test_report_for_a_patient_without_data(db, tmp_path):
    url, st, *_ = db
    st.add_patient("EMPTY", "America/New_York")
    out = tmp_path / "e.html"
    assert main(["report", "--patient", "EMPTY", "--from", "2026-11-10", "--to", "2026-11-11",
                 "--out", str(out), "--db", url]) == 0
    html = out.read_text()
    assert "no synced device data in this period" in html and "America/New_York" in html
    # said at the top, not only in the notes on the last page; no rate of 0.00, no nan
    assert html.index("No device data in this period") < html.index("Summary of measurements")
    assert "not measured (no good signal)" in html and not re.search(r"\bnan\b", html, re.I)
    assert "size:Letter" in html                  # New York prints on US Letter
    for key, _, _ in FIGURES:
        assert f'id="plot-{key}"' in html
    if os.path.exists(CHROMIUM):
        total, ok, explained, errors, dom = chromium_figures(out, tmp_path)
        # every figure is drawn or says in its place why not; only the coverage bars have data
        assert total == len(FIGURES) and ok + explained == total and errors == 0
        assert ok == 1 and 'id="plot-coverage"' in dom and dom.count("Not shown:") == total - 1
