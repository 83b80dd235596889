"""Concurrency on both databases: parallel syncs, parallel dose imports, reports during an
import, and a database held busy. Every writer is a separate process with its own
connection (as two `spasmtrack` commands or two home hubs would be); the tests count
what was stored and assert nothing is lost or doubled."""
from __future__ import annotations

import multiprocessing as mp
import time
import traceback

import pytest
from sqlalchemy import func, select, text

from spasmtrack import records as r
from spasmtrack.analysis import load
from spasmtrack.doses import DoseInput, DoseLog
from spasmtrack.store import StoreBusy, open_store
from spasmtrack.store import schema as s

T0 = 1_790_000_000           # unix s
NOW = 1_795_000_000_000      # UTC ms, after every dose below
FORK = mp.get_context("fork")


def ev(seq, onset):
    return r.encode("EVENT", seq, boot=1, onset_ms=onset, duration_ms=1500, kind=1, channel=0,
                    flags=0, peak_cuv=5000, mean_cuv=2000, area_uvms=300, clonus_chz=0,
                    gyro_peak_ddps=0, acc_peak_mg=0, mvc_pm=0xFFFF, config_version=3)


def device_frames(n: int) -> list[bytes]:
    """A time anchor then ``n`` events, seq 1..n+1."""
    return [r.encode("TIME_ANCHOR", 1, boot=1, ms=0, unix_s=T0, tz_quarter_h=0, source=1)] + \
        [ev(q, q * 1000) for q in range(2, n + 2)]


def _in_processes(jobs: list[tuple]) -> list:
    """Run ``fn(*args)`` for each (fn, *args) in its own process, all released at once by
    a barrier; returns their results (an exception in a child fails the test with its
    traceback)."""
    barrier = FORK.Barrier(len(jobs))
    out = FORK.Queue()

    def child(i, fn, args):
        try:
            barrier.wait(30)
            out.put((i, "ok", fn(*args)))
        except BaseException:      # noqa: BLE001 - reported to the parent verbatim
            out.put((i, "error", traceback.format_exc()))

    procs = [FORK.Process(target=child, args=(i, j[0], j[1:])) for i, j in enumerate(jobs)]
    for p in procs:
        p.start()
    results = dict((i, (kind, v)) for i, kind, v in (out.get(timeout=120) for _ in procs))
    for p in procs:
        p.join(30)
    errors = [v for kind, v in results.values() if kind == "error"]
    assert not errors, "a concurrent writer failed:\n" + "\n".join(errors)
    return [results[i][1] for i in range(len(jobs))]


def _sync(url: str, key: str, frames: list[bytes], batch: int, overlap: int) -> int:
    """Send ``frames`` in batches, each resending ``overlap`` frames of the one before (as
    a sync resumed after a dropped link does); returns the number inserted."""
    st = open_store(url)
    inserted, i = 0, 0
    while i < len(frames):
        inserted += st.insert_records(key, frames[max(0, i - overlap):i + batch]).inserted
        i += batch
    st.engine.dispose()
    return inserted


def test_parallel_syncs_of_several_devices_lose_and_double_nothing(db_url):
    open_store(db_url).engine.dispose()          # schema in place before the race
    n = 150
    frames = device_frames(n)
    # three devices, and device A synced by two hubs at once
    jobs = [(_sync, db_url, "A", frames, 20, 5), (_sync, db_url, "A", frames, 30, 7),
            (_sync, db_url, "B", frames, 25, 3), (_sync, db_url, "C", frames, 40, 0)]
    inserted = _in_processes(jobs)
    assert inserted[0] + inserted[1] == n + 1 and inserted[2] == inserted[3] == n + 1
    st = open_store(db_url)
    with st.engine.connect() as c:
        for table, per_device in ((s.records, n + 1), (s.events, n), (s.time_anchors, 1)):
            got = dict(c.execute(select(s.devices.c.key, func.count()).join(
                table, table.c.device_id == s.devices.c.id).group_by(s.devices.c.key)).all())
            assert got == {"A": per_device, "B": per_device, "C": per_device}, table.name
        assert c.execute(select(func.count()).select_from(s.devices)).scalar() == 3
        unplaced = c.execute(select(func.count()).select_from(s.events).where(
            s.events.c.onset_utc_ms.is_(None))).scalar()
    assert unplaced == 0
    for key in "ABC":
        acc = st.sync_accounting(key)
        assert acc["missing_seqs"] == [] and acc["last_seq"] == n + 1


def _write_doses_csv(path, rows: int, start_h: int = 0) -> None:
    lines = ["time,drug,amount,unit,route"]
    for i in range(rows):
        # distinct amounts (half a mg apart, below the 5 g refused as an entry error) make
        # each row a distinct dose even where the clock times repeat
        lines.append(f"2026-10-01T00:00Z,baclofen,{10 + i / 2:g},mg,oral".replace(
            "00:00Z", f"{(start_h + i) % 24:02d}:{(start_h + i) // 24 % 60:02d}Z"))
    path.write_text("\n".join(lines) + "\n")


def _import(url: str, path) -> tuple[int, int]:
    st = open_store(url)
    rep = DoseLog(st, who="proc").import_csv("P1", path, now=NOW)
    st.engine.dispose()
    return len(rep.inserted), rep.skipped


def test_parallel_imports_of_the_same_and_of_different_files(db_url, tmp_path):
    st = open_store(db_url)
    st.add_patient("P1", "UTC")
    same, other = tmp_path / "same.csv", tmp_path / "other.csv"
    _write_doses_csv(same, 300)
    _write_doses_csv(other, 200, start_h=1000)    # other times: 200 further doses
    res = _in_processes([(_import, db_url, same)] * 3 + [(_import, db_url, other)])
    assert sum(ins for ins, _ in res[:3]) == 300               # each dose of `same` once
    assert all(ins + skip == 300 for ins, skip in res[:3])     # the rest reported as skipped
    assert res[3] == (200, 0)
    with st.engine.connect() as c:
        fps = c.execute(select(s.doses.c.fingerprint).where(s.doses.c.status == "active")).scalars().all()
        audits = c.execute(select(func.count()).select_from(s.audit_log).where(
            s.audit_log.c.table_name == "doses")).scalar()
    assert len(fps) == len(set(fps)) == 500 and audits == 500
    # the same dose typed twice at once: one is stored, the other told it exists
    dose = DoseInput.parse("baclofen", "12 mg", None, "oral", "2026-10-03T08:00Z", now=NOW)
    res = _in_processes([(_add_or_error, db_url, dose)] * 2)
    assert sorted(res) == ["already stored", "stored"]


def _add_or_error(url: str, dose: DoseInput) -> str:
    from spasmtrack.doses import DoseInputError
    st = open_store(url)
    try:
        DoseLog(st, who="proc").add("P1", dose)
        return "stored"
    except DoseInputError as exc:
        assert "already stored" in str(exc)
        return "already stored"
    finally:
        st.engine.dispose()


def _reports_until(url: str, want: int) -> list[int]:
    """Load the patient's doses again and again (what a report does first) until ``want``
    of them are there (at most 60 s): the counts seen."""
    st = open_store(url)
    seen: list[int] = []
    end = time.monotonic() + 60
    while (not seen or seen[-1] != want) and time.monotonic() < end:
        seen.append(int(load(st, "P1", 1_700_000_000_000, NOW).dose_t.size))
    st.engine.dispose()
    return seen


def test_reports_during_an_import_see_all_or_nothing_and_never_fail(db_url, tmp_path):
    st = open_store(db_url)
    st.add_patient("P1", "UTC")
    big = tmp_path / "big.csv"
    _write_doses_csv(big, 8_000)
    res = _in_processes([(_import, db_url, big), (_reports_until, db_url, 8_000)])
    assert res[0] == (8_000, 0)
    seen = res[1]
    assert seen[0] == 0 and seen[-1] == 8_000        # reports ran before and after it committed
    assert set(seen) == {0, 8_000}                   # each a snapshot, never half an import


def _hold_write_lock(url: str, seconds: float) -> None:
    st = open_store(url)
    with st.engine.connect() as c:
        if st.backend == "sqlite":
            c.exec_driver_sql("COMMIT")     # end the implicit BEGIN, take the write lock
            c.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            c.execute(text("LOCK TABLE doses IN EXCLUSIVE MODE"))
        time.sleep(seconds)
        c.rollback()


def test_busy_database_waits_then_gives_a_clear_error_and_stores_nothing(db_url):
    st = open_store(db_url, busy_timeout_s=0.5)
    st.add_patient("P1", "UTC")
    dose = DoseInput.parse("baclofen", "10 mg", None, "oral", "2026-10-02T08:00Z", now=NOW)
    holder = FORK.Process(target=_hold_write_lock, args=(db_url, 2.5))
    holder.start()
    time.sleep(0.8)                                   # the lock is held by now
    try:
        with pytest.raises(StoreBusy, match=r"database .* stayed busy for 0.5 s while adding a "
                                            r"dose for P1; nothing of it was stored"):
            DoseLog(st).add("P1", dose)
    finally:
        holder.join(30)
    assert DoseLog(st).list("P1") == []
    # once the lock is released, a store that waits long enough succeeds
    DoseLog(open_store(db_url)).add("P1", dose)
    assert len(DoseLog(st).list("P1")) == 1
