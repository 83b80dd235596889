"""Benchmark: a clinic on PostgreSQL (200 patients x 90 days of a heavy patient by default).

Size: ``--patients`` (default 200) x ``--days`` (default 90) of the heavy patient the
analysis benchmark uses (~340 events and ~280 summary windows a day, 5 doses a day), i.e.
about 6 million events and 5 million summary windows at full size. For a quick run:
``python -m spasmtrack.bench.clinic --patients 20 --days 30`` (the size is recorded with
the figures in build/bench.json).

Server: a throwaway PostgreSQL cluster (:mod:`spasmtrack.store.pgserver`) with the
server's default settings (fsync on), on a unix socket; removed afterwards.

Figures:
- ``ingest_events_per_s``: events stored per second of wall time through the real sync
  path (``Store.insert_records`` with record frames, in sync-sized batches of
  ``SYNC_BATCH`` frames; bulk COPY inside), over the first ``--ingest-patients`` patients,
  each with its own device (records, summaries, anchors and marks are written too).
  The other patients' rows are then copied inside the server (INSERT ... SELECT, same
  rows for new devices and patients, doses with their own fingerprints) to reach the
  clinic size; that copy is not part of the figure. Then ``VACUUM ANALYZE`` (what
  autovacuum would do by itself).
- ``report_90d_pg_s``: one patient's report (load + every analysis + plots + HTML
  written), fastest of 3, with the whole clinic in the database.
- ``overview_200_s``: :func:`spasmtrack.store.overview.clinic_overview` (every patient's
  last 7 days), fastest of 5.
- ``fhir_90d_s``: one patient's FHIR export of the whole period (load, build, validate,
  write), fastest of 2.

The report and FHIR figures keep the CPU seconds of this process and the load average
beside the wall time: on a shared machine the wall time includes waiting for a core.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import BenchFigure

SYNC_BATCH = 2_000          # frames per insert_records call (a few days of backlog)
ENV = "SPASMTRACK_BENCH_CLINIC"   # "patients,days,ingest_patients" for `make bench`


def _sizes() -> tuple[int, int, int]:
    raw = os.environ.get(ENV, "")
    if raw:
        p, d, k = (int(x) for x in raw.split(","))
        return p, d, k
    return 200, 90, 10


def _load() -> float:
    """The machine's 1-minute load average (2 cores here): figures are wall time."""
    return round(os.getloadavg()[0], 1)


def _heavy_patient(tmp: Path, days: int):
    """Generate the heavy patient once into SQLite; its frames, doses and period."""
    from ..synth.multiweek import generate
    from ..store import open_store
    st = open_store(f"sqlite:///{tmp}/source.sqlite")
    tr = generate(st, days=days, start_day="2026-08-01", seed=11, e0_per_h=32.0,
                  dose_hours=(6, 10, 14, 18, 22), dose_mg=16.0)
    st.engine.dispose()
    con = sqlite3.connect(f"{tmp}/source.sqlite")
    frames = [bytes(f) for f, in con.execute("SELECT frame FROM records ORDER BY seq")]
    cols = ("drug", "amount", "unit", "amount_ug", "route", "taken_utc_ms", "entered_tz",
            "note", "source", "source_ref")
    doses = con.execute(f"SELECT {', '.join(cols)} FROM doses WHERE status = 'active' "
                        "ORDER BY taken_utc_ms").fetchall()
    tz = con.execute("SELECT tz FROM patients").fetchone()[0]
    con.close()
    return tr, frames, doses, tz


def _clone(st, src_code: str, codes: list[str], tz: str) -> float:
    """Copy patient ``src_code``'s device rows and doses to new patients ``codes`` inside
    the server; returns the seconds it took."""
    from sqlalchemy import text

    from ..store import schema as s
    t0 = time.perf_counter()
    with st.engine.begin() as c:
        c.execute(text("CREATE TEMPORARY TABLE clone_map (code text, pid int, did int) ON COMMIT DROP"))
        for code in codes:
            pid = c.execute(s.patients.insert().values(code=code, tz=tz, created_utc_ms=0)).inserted_primary_key[0]
            did = c.execute(s.devices.insert().values(key=f"dev-{code}", patient_id=pid,
                                                      created_utc_ms=0)).inserted_primary_key[0]
            c.execute(s.device_assignments.insert().values(device_id=did, patient_id=pid, from_utc_ms=0,
                                                           who="bench", at_utc_ms=0))
            c.execute(text("INSERT INTO clone_map VALUES (:c, :p, :d)"), {"c": code, "p": pid, "d": did})
        src_pid, src_did = c.execute(text(
            "SELECT p.id, d.id FROM patients p JOIN devices d ON d.patient_id = p.id "
            "WHERE p.code = :c"), {"c": src_code}).one()
        for table in (s.records, s.boots, s.time_anchors, s.events, s.summaries, s.markers, s.losses):
            cols = [col.name for col in table.columns if col.name not in ("id", "device_id")]
            sel = ", ".join(f"t.{x}" for x in cols)
            c.execute(text(f"INSERT INTO {table.name} (device_id, {', '.join(cols)}) "
                           f"SELECT m.did, {sel} FROM {table.name} t CROSS JOIN clone_map m "
                           "WHERE t.device_id = :src"), {"src": src_did})
        dcols = [col.name for col in s.doses.columns
                 if col.name not in ("id", "patient_id", "fingerprint", "supersedes_id")]
        sel = ", ".join(f"t.{x}" for x in dcols)
        c.execute(text(f"INSERT INTO doses (patient_id, fingerprint, {', '.join(dcols)}) "
                       f"SELECT m.pid, md5(m.pid || '|' || t.fingerprint), {sel} "
                       "FROM doses t CROSS JOIN clone_map m WHERE t.patient_id = :src"),
                  {"src": src_pid})
    # What autovacuum does to a clinic database between syncs: planner statistics and the
    # visibility map (index-only scans), done here at once instead of waiting for it.
    with st.engine.connect() as c:
        c = c.execution_options(isolation_level="AUTOCOMMIT")
        c.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - t0


def run() -> list[BenchFigure]:
    from sqlalchemy import func, select, text

    from ..analysis import Params, load
    from ..commands.report import build
    from ..doses import DoseInput, DoseLog
    from ..export import write_fhir
    from ..report import write_private
    from ..store import open_store
    from ..store import schema as s
    from ..store.overview import clinic_overview
    from ..store.pgserver import PgServer

    n_pat, days, n_ingest = _sizes()
    n_ingest = max(1, min(n_ingest, n_pat))
    codes = [f"P{i:03d}" for i in range(1, n_pat + 1)]
    with tempfile.TemporaryDirectory(prefix="spasmtrack-bench-clinic-") as tmp, PgServer() as pg:
        tmpd = Path(tmp)
        t0 = time.perf_counter()
        tr, frames, doses, tz = _heavy_patient(tmpd, days)
        gen_s = time.perf_counter() - t0
        st = open_store(pg.create_database("clinic"))
        dose_inputs = [DoseInput(*row) for row in doses]
        log = DoseLog(st, who="bench")
        ingest_s = 0.0
        for code in codes[:n_ingest]:
            st.add_patient(code, tz)
            st.assign_device(f"dev-{code}", code)
            t0 = time.perf_counter()
            for i in range(0, len(frames), SYNC_BATCH):
                st.insert_records(f"dev-{code}", frames[i:i + SYNC_BATCH])
            log.add_many(code, dose_inputs)
            ingest_s += time.perf_counter() - t0
        clone_s = _clone(st, codes[0], codes[n_ingest:], tz) if n_pat > n_ingest else 0.0
        with st.engine.connect() as c:
            n_events = c.execute(select(func.count()).select_from(s.events)).scalar_one()
            n_summaries = c.execute(select(func.count()).select_from(s.summaries)).scalar_one()
            n_records = c.execute(select(func.count()).select_from(s.records)).scalar_one()
            db_bytes = int(c.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        f, t = tr.start_utc_ms, tr.end_utc_ms
        rep, rep_cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            html = build(st, codes[0], f, t, Params())
            write_private(tmpd / "report.html", html.encode())
            rep.append(time.perf_counter() - t0)
            rep_cpu.append(time.process_time() - c0)
        ov, rows = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            rows = clinic_overview(st, t, days=7)
            ov.append(time.perf_counter() - t0)
        fh, fh_cpu, n_res = [], [], 0
        for _ in range(2):
            t0, c0 = time.perf_counter(), time.process_time()
            n_res = write_fhir(load(st, codes[-1], f, t), tmpd / "bundle.json")
            fh.append(time.perf_counter() - t0)
            fh_cpu.append(time.process_time() - c0)
        fhir_bytes = (tmpd / "bundle.json").stat().st_size
        st.engine.dispose()
    size = {"patients": n_pat, "days": days, "ingest_patients": n_ingest,
            "events_total": n_events, "summaries_total": n_summaries, "records_total": n_records,
            "db_bytes": db_bytes, "events_per_patient": tr.n_events}
    ingested_events = tr.n_events * n_ingest
    busy = [r.code for r in rows if r.events == 0]
    return [
        BenchFigure("ingest_events_per_s", ingested_events / ingest_s, "events/s", "",
                    f"sync path (insert_records, {SYNC_BATCH}-frame batches) into PostgreSQL, "
                    f"{n_ingest} patient(s) x {days} d",
                    {**size, "ingest_s": round(ingest_s, 2),
                     "records_per_s": round(len(frames) * n_ingest / ingest_s),
                     "clone_other_patients_s": round(clone_s, 1), "generate_s": round(gen_s, 1)}),
        BenchFigure("report_90d_pg_s", min(rep), "s", "<= 5",
                    f"fastest of 3: one patient's {days}-day report on PostgreSQL "
                    f"with {n_pat} patients stored",
                    {**size, "runs_s": [round(x, 3) for x in rep],
                     "runs_cpu_s": [round(x, 3) for x in rep_cpu],
                     "median_s": round(statistics.median(rep), 3), "load_avg_1min": _load()}),
        BenchFigure("overview_200_s", min(ov), "s", "<= 1",
                    f"fastest of 5: clinic_overview, last 7 days of {n_pat} patients",
                    {**size, "runs_s": [round(x, 3) for x in ov], "rows": len(rows),
                     "patients_without_events": len(busy)}),
        BenchFigure("fhir_90d_s", min(fh), "s", "<= 10",
                    f"fastest of 2: FHIR export of one patient's {days} days from PostgreSQL "
                    "(load, build, validate, write)",
                    {**size, "runs_s": [round(x, 2) for x in fh],
                     "runs_cpu_s": [round(x, 2) for x in fh_cpu], "resources": n_res,
                     "bundle_bytes": fhir_bytes, "load_avg_1min": _load()}),
    ]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m spasmtrack.bench.clinic",
                                 description="clinic-scale benchmark on PostgreSQL")
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--ingest-patients", type=int, default=10,
                    help="patients stored through the sync path (the rest copied in the server)")
    a = ap.parse_args(argv)
    if a.patients < 1 or a.days < 2 or a.ingest_patients < 1:
        ap.error("--patients and --ingest-patients must be >= 1, --days >= 2")
    os.environ[ENV] = f"{a.patients},{a.days},{a.ingest_patients}"
    from .__main__ import main as bench_main
    return bench_main(["clinic"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
