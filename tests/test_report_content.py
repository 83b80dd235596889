"""What the clinician report says (issue 13): hidden figures take their numbers with them,
Emax intervals stay inside each parameter's range, no 'return' time inside the band, one
grouping of event kinds, every dose with amount and local time (other drugs listed, never
modelled), readable time axes, PDF paper size, patient ID and page numbers on every page."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from spasmtrack.analysis import Params, analyse, load
from spasmtrack.synth.multiweek import generate
from spasmtrack.analysis.tzutil import local_midnight_utc_ms
from spasmtrack.cli import main
from spasmtrack.doses import DoseInput, DoseLog
from spasmtrack.report import plots
from spasmtrack.report.html import paper_for_zone, render
from spasmtrack.store import open_store

DAY = 86_400_000
D0 = int(np.datetime64("2026-10-20", "D").astype(np.int64))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("content")
    url = f"sqlite:///{tmp}/c.sqlite"
    st = open_store(url)
    generate(st, days=6, start_day="2026-10-20", seed=11)
    # a drug other than baclofen, logged like any dose
    DoseLog(st).add("P1", DoseInput.parse("tizanidine", "4 mg", None, "oral", "2026-10-21 09:30",
                                          default_zone="Europe/Berlin"))
    # a patient whose spasms do not respond to the drug at all
    generate(st, patient="FLAT", device="AA:BB:CC:00:00:02", days=6, start_day="2026-10-20",
             seed=12, imax=0.0)
    return url, st, tmp


_CACHE: dict = {}


def analysis(st, patient="P1", days=6):
    """The analysis of the first ``days`` days (computed once per module)."""
    key = (id(st), patient, days)
    if key not in _CACHE:
        f = local_midnight_utc_ms(D0, "Europe/Berlin")
        _CACHE[key] = analyse(load(st, patient, f, f + days * DAY), Params(n_boot=150))
    return _CACHE[key]


def rendered(st, patient="P1", days=6) -> str:
    key = ("html", id(st), patient, days)
    if key not in _CACHE:
        _CACHE[key] = render(analysis(st, patient, days), st)
    return _CACHE[key]


def summary_value(html: str, measure: str) -> str:
    m = re.search(r"<tr><td>" + re.escape(measure) + r"</td><td>(.*?)</td>", html)
    assert m, measure
    return m.group(1)


def test_a_hidden_figure_takes_its_numbers_with_it(store):
    url, st, _ = store
    a = analysis(st, days=1)
    html = rendered(st, days=1)
    figs = plots.render_all(a)
    svg, why = figs["peridose"]
    assert svg is None and "2 h of good signal" in why and "days of recording" in why
    assert 'data-plot="peridose" data-missing="1"' in html and "Not shown:</strong>" in html
    for measure in ("lowest rate after a dose", "spasms return (see note)"):
        assert summary_value(html, measure).startswith("not shown")
    # a table under a figure that is not drawn is left out with it
    if figs["tolerance"][0] is None:
        assert "rate reduction after dose (95% CI)" not in html


@pytest.mark.parametrize("days", [1, 6])
def test_emax_intervals_respect_each_parameters_range(store, days):
    url, st, _ = store
    a = analysis(st, days=days)
    cr = a.cr
    assert cr["ok"]
    e0, imax, ic50 = cr["e0_per_h"], cr["imax"], cr["ic50"]
    assert 0 < e0[1] <= e0[0] <= e0[2]
    assert 0 <= imax[1] <= imax[0] <= imax[2] <= 1
    assert 0 < ic50[1] <= ic50[0] <= ic50[2]
    assert np.all(cr["fit_lo"] >= 0) and np.all(cr["fit_lo"] <= cr["fit_hi"])
    html = rendered(st, days=days)
    labelled = html.count("poorly determined: the data do not pin this value down")
    assert labelled == len(cr["poorly_determined"])
    if days == 1:        # one day cannot pin down a three-parameter curve
        assert "ic50" in cr["poorly_determined"] and labelled >= 1
    for w, v, lo, hi, _ in cr["weekly_ic50"]:
        assert 0 < lo <= v <= hi


def test_no_return_time_when_the_dip_is_inside_the_band(store):
    url, st, _ = store
    flat = analysis(st, patient="FLAT")
    assert not flat.dip_outside_band and not np.isfinite(flat.return_h[0])
    html = rendered(st, patient="FLAT")
    assert summary_value(html, "spasms return (see note)").startswith("not reported")
    assert "spasms return (estimate)" not in html          # no line in the figure either
    responding = analysis(st)
    assert responding.dip_outside_band and np.isfinite(responding.return_h[0])
    assert responding.dip_lo > 0


def test_one_grouping_of_kinds_everywhere(store):
    url, st, _ = store
    a = analysis(st, days=2)
    html = rendered(st, days=2)
    n = {name: int(np.isin(a.data.ev_kind, ks).sum()) for name, ks in plots.KIND_GROUPS}
    text = summary_value(html, "events recorded")
    assert f"{n['spasm']} spasm, {n['clonus']} clonus, {n['spasm with clonus']} spasm with clonus" in text
    for name in n:                                      # the duration chart's legend
        assert a.scats[name]["n"] == n[name]
        assert f"{name} (n={n[name]})" in html
    assert not re.search(r"\bug\b|\bug/", html)                # micrograms are µg
    assert "µg/L" in html


def test_dose_table_lists_amounts_local_times_and_other_drugs(store, tmp_path):
    url, st, _ = store
    a = analysis(st, days=2)
    html = rendered(st, days=2)
    table = html[html.index("Every dose in the period"):]
    assert "2026-10-21 09:30 CEST</td><td>tizanidine</td><td>4 mg</td><td>oral" in table
    assert "no: the model describes baclofen only" in table
    assert re.search(r"2026-10-20 \d\d:\d\d CEST</td><td>baclofen</td><td>20 mg</td><td>oral</td>"
                     r"<td>import</td><td>yes</td>", table)
    assert a.data.dose_t.size and all(u == 20_000 for u in a.data.dose_ug)   # tizanidine not modelled
    # exported too, not silently dropped
    assert main(["export", "--patient", "P1", "--from", "2026-10-21", "--to", "2026-10-21",
                 "--format", "csv", "--out", str(tmp_path / "c"), "--db", url]) == 0
    rows = list(csv.DictReader(open(tmp_path / "c" / "doses.csv")))
    assert [r["drug"] for r in rows].count("tizanidine") == 1 and len(rows) == 5
    assert main(["export", "--patient", "P1", "--from", "2026-10-21", "--to", "2026-10-21",
                 "--format", "fhir", "--out", str(tmp_path / "b.json"), "--db", url]) == 0
    meds = [e["resource"]["medicationCodeableConcept"] for e in json.loads((tmp_path / "b.json").read_text())["entry"]
            if e["resource"]["resourceType"] == "MedicationAdministration"]
    assert {"text": "tizanidine"} in meds and len(meds) == 5


def _tick_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]+)</text>", svg)


def test_time_axes_are_readable_at_every_length(store):
    url, st, _ = store
    one = plots.timeline(analysis(st, days=1))   # the drawn figure, as in the report
    hours = [t for t in _tick_texts(one) if re.fullmatch(r"\d\d:\d\d", t)]
    assert len(hours) >= 6 and len(set(hours)) == len(hours)      # hour ticks, none repeated
    six = analysis(st, days=6)
    days = [t for t in _tick_texts(plots.coverage(six)) if re.search(r"\d\d [A-Z][a-z]{2}", t)]
    assert len(days) == 6 and len(set(days)) == 6                 # one distinct label per day


def test_paper_size_by_zone():
    assert paper_for_zone("Europe/Berlin") == "A4" and paper_for_zone("America/New_York") == "Letter"
    assert paper_for_zone("America/Sao_Paulo") == "A4" and paper_for_zone("Asia/Tokyo") == "A4"


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("pdftotext")),
                    reason="chromium / poppler-utils not installed (make setup)")
def test_pdf_has_patient_id_and_page_numbers_on_every_page(store, tmp_path):
    url, st, _ = store
    out = tmp_path / "r.html"
    assert main(["report", "--patient", "P1", "--from", "2026-10-20", "--to", "2026-10-21",
                 "--out", str(out), "--pdf", "--bootstrap", "100", "--db", url]) == 0
    pdf = out.with_suffix(".pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert "(A4)" in info and pages >= 3
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    per_page = text.split("\f")[:pages]
    for i, page in enumerate(per_page, 1):
        assert "patient P1" in page and f"page {i} of {pages}" in page, i
    # the thresholds come last, after the methods
    assert text.index("Methods") < text.index("Appendix: detector thresholds")
    os.remove(pdf)
