"""Benchmark: the clinic web app's own pages (``spasmtrack serve``), in process.

Data: 10 patients with 8 weeks each from the event-level generator (through the real sync
path), the number of weeks the patient list reads per patient. Requests go through the
whole Flask app (session check, CSRF, templates) with its test client, so the figures are
server time without the network or a browser.
``serve_patient_list_10p_s``: the patient list (last sync, 7-day coverage, 8 weekly rates,
flags for every patient). ``serve_patient_page_s``: one patient page without the report
(the report itself is ``report_90d_s`` of the analysis benchmark). ``serve_sign_in_s``: one
sign-in, dominated by the Argon2id verification (argon2-cffi's RFC 9106 low-memory profile).
Each is the fastest of 5 runs; the median and the runs are kept beside it.
"""
from __future__ import annotations

import datetime as dt
import re
import statistics
import tempfile
import time

from . import BenchFigure

PATIENTS = 10
DAYS = 56
PASSWORD = "benchmark password"


def _timed(fn, n: int = 5) -> list[float]:
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return runs


def run() -> list[BenchFigure]:
    from ..synth.multiweek import generate
    from ..serve import create_app
    from ..serve.users import Users
    from ..store import open_store

    with tempfile.TemporaryDirectory(prefix="spasmtrack-bench-serve-") as tmp:
        st = open_store(f"sqlite:///{tmp}/clinic.sqlite")
        start = (dt.date.today() - dt.timedelta(days=DAYS)).isoformat()
        t0 = time.perf_counter()
        for i in range(PATIENTS):
            generate(st, patient=f"P{i:02d}", start_day=start, days=DAYS, seed=100 + i,
                     device=f"AA:BB:CC:00:01:{i:02X}")
        gen_s = time.perf_counter() - t0
        Users(st).add("bench", "clinician", PASSWORD, created_by="bench")
        app = create_app(st)
        client = app.test_client()

        def sign_in() -> None:            # a new browser each time
            nonlocal client
            client = app.test_client()
            m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/signin").text)
            assert m is not None, "no CSRF token on the sign-in page"
            token = m.group(1)
            r = client.post("/signin", data={"csrf_token": token, "name": "bench", "password": PASSWORD})
            assert r.status_code == 302, r.status_code

        def get(path: str) -> None:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code)

        sign = _timed(sign_in)
        lst = _timed(lambda: get("/"))
        page = _timed(lambda: get("/patients/P00"))
    data = dict(patients=PATIENTS, days_each=DAYS, generate_and_store_s=round(gen_s, 1))

    def fig(name: str, runs: list[float], note: str) -> BenchFigure:
        return BenchFigure(name, min(runs), "s", "", note,
                           {**data, "median_s": round(statistics.median(runs), 4),
                            "runs_s": [round(x, 4) for x in runs]})
    return [
        fig("serve_patient_list_10p_s", lst, "fastest of 5: GET / with 10 patients x 8 weeks"),
        fig("serve_patient_page_s", page, "fastest of 5: GET /patients/P00 (report loads separately)"),
        fig("serve_sign_in_s", sign, "fastest of 5: GET /signin + POST (Argon2id verify)"),
    ]
