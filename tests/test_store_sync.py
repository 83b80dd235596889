"""Store: sync API (last_seq/insert_records), idempotency, conflicts, time placement."""
from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select, text

from spasmtrack import records as r
from spasmtrack.errors import UserError
from spasmtrack.store import SyncConflict, open_store
from spasmtrack.store import schema as s
from spasmtrack.store.migrations import LATEST, MIGRATIONS, current_version

T0 = 1_790_000_000  # unix s


def ev(seq, boot, onset, dur=1500, kind=1):
    return r.encode("EVENT", seq, boot=boot, onset_ms=onset, duration_ms=dur, kind=kind, channel=0,
                    flags=0, peak_cuv=5000, mean_cuv=2000, area_uvms=300, clonus_chz=0,
                    gyro_peak_ddps=0, acc_peak_mg=0, mvc_pm=0xFFFF, config_version=3)


def anchor(seq, boot, ms, unix_s):
    return r.encode("TIME_ANCHOR", seq, boot=boot, ms=ms, unix_s=unix_s, tz_quarter_h=4, source=1)


@pytest.fixture
def store(db_url):
    """A fresh store, once on SQLite and once on PostgreSQL (tests/dbbackends.py)."""
    return open_store(db_url)


def utc_of(store, seq):
    with store.engine.connect() as c:
        return c.execute(select(s.events.c.onset_utc_ms).where(s.events.c.seq == seq)).scalar()


def test_file_is_owner_only_and_schema_versioned(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/db/st.sqlite")
    mode = stat.S_IMODE(os.stat(tmp_path / "db" / "st.sqlite").st_mode)
    assert mode == 0o600
    with store.engine.connect() as c:
        assert current_version(c) == LATEST
    # reopening applies nothing again
    assert open_store(f"sqlite:///{tmp_path}/db/st.sqlite").migrations_applied == []


def test_foreign_keys_enforced(store):
    from sqlalchemy.exc import IntegrityError
    with pytest.raises(IntegrityError):
        with store.engine.begin() as c:
            c.execute(s.events.insert().values(device_id=999, seq=1, boot=1, onset_ms=0,
                                               duration_ms=1, kind=1, flags=0))


def test_insert_is_idempotent_and_last_seq_resumes(store):
    frames = [anchor(1, 1, 0, T0)] + [ev(i, 1, i * 1000) for i in range(2, 12)]
    assert store.last_seq("dev") == 0
    res = store.insert_records("dev", frames[:6])
    assert (res.inserted, res.duplicates, res.last_seq) == (6, 0, 6)
    res = store.insert_records("dev", frames)          # overlap: resent frames
    assert (res.inserted, res.duplicates, res.last_seq) == (5, 6, 11)
    assert store.last_seq("dev") == 11
    with store.engine.connect() as c:
        assert c.execute(text("select count(*) from events")).scalar() == 10
        assert c.execute(text("select count(*) from records")).scalar() == 11
    acc = store.sync_accounting("dev")
    assert acc["missing_seqs"] == [] and acc["records"] == 11


def test_conflicting_frame_for_same_seq_is_refused(store):
    store.insert_records("dev", [ev(1, 1, 1000)])
    with pytest.raises(SyncConflict, match="seq 1 already stored"):
        store.insert_records("dev", [ev(2, 1, 2000), ev(1, 1, 9999)])
    assert store.last_seq("dev") == 1      # the whole batch rolled back


def test_corrupt_frame_names_index_and_nothing_is_stored(store):
    bad = bytearray(ev(3, 1, 3000))
    bad[10] ^= 0xFF
    with pytest.raises(UserError, match=r"frame #1 .*CRC mismatch"):
        store.insert_records("dev", [ev(2, 1, 2000), bytes(bad)])
    assert store.last_seq("dev") == 0


def test_events_before_the_anchor_are_placed_when_it_arrives(store):
    store.insert_records("dev", [ev(1, 1, 60_000)])
    assert utc_of(store, 1) is None
    assert store.sync_accounting("dev")["unplaced_events"] == 1
    store.insert_records("dev", [anchor(2, 1, 3_600_000, T0)])
    assert utc_of(store, 1) == (T0 - 3600 + 60) * 1000


def test_reboot_uses_its_own_anchor_and_unanchored_boot_stays_unplaced(store):
    frames = [anchor(1, 1, 1000, T0), ev(2, 1, 11_000),
              ev(3, 2, 5_000),                       # boot 2 never got an anchor
              anchor(4, 3, 2_000, T0 + 7200), ev(5, 3, 4_000)]
    store.insert_records("dev", frames)
    assert utc_of(store, 2) == (T0 + 10) * 1000
    assert utc_of(store, 3) is None
    assert utc_of(store, 5) == (T0 + 7202) * 1000


def test_drift_is_interpolated_and_clock_jump_rejected(store):
    day = 86_400_000
    # device clock runs 50 ppm slow: true elapsed = ms * (1 + 50e-6)
    frames = []
    seq = 1
    for k in range(5):
        ms = k * day
        unix_ms = T0 * 1000 + round(ms * (1 + 50e-6))
        frames.append(anchor(seq, 1, ms, unix_ms // 1000)); seq += 1
    # a sync from a host whose clock was one hour off
    frames.append(anchor(seq, 1, int(2.5 * day), T0 + int(2.5 * 86400) + 3600)); seq += 1
    frames.append(ev(seq, 1, int(2.5 * day)))
    store.insert_records("dev", frames)
    expected = T0 * 1000 + round(2.5 * day * (1 + 50e-6))
    assert abs(utc_of(store, seq) - expected) <= 1000      # anchors have 1 s resolution
    with store.engine.connect() as c:
        used = dict(c.execute(select(s.time_anchors.c.seq, s.time_anchors.c.used)).all())
    assert used[6] == 0 and sum(used.values()) == 5


def test_loss_records_explain_gaps_in_accounting(store):
    loss = r.encode("LOSS", 20, first_seq=5, last_seq=9, reason=1)
    store.insert_records("dev", [ev(1, 1, 0), ev(2, 1, 1), loss, ev(21, 1, 5)])
    acc = store.sync_accounting("dev")
    assert acc["lost_seqs_reported"] == 5
    assert acc["missing_seqs"] == [3, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]


def test_schema_compiles_for_postgresql():
    """The same tables must be valid PostgreSQL DDL (portable types, named constraints)."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable
    dialect = postgresql.dialect()
    ddl = []
    for t in s.metadata.sorted_tables:
        ddl.append(str(CreateTable(t).compile(dialect=dialect)))
        ddl += [str(CreateIndex(ix).compile(dialect=dialect)) for ix in t.indexes]
    text_ = "\n".join(ddl)
    assert "BYTEA" in text_ and "BIGINT" in text_
    assert "CONSTRAINT uq_records_device_seq UNIQUE (device_id, seq)" in text_
    assert "FOREIGN KEY(device_id) REFERENCES devices (id)" in text_


def test_migration_from_v1_keeps_device_links(db_url):
    from sqlalchemy import create_engine
    from spasmtrack.store import normalise_url
    from spasmtrack.store.migrations import migrate
    eng = create_engine(normalise_url(db_url))
    assert migrate(eng, target=1) == [1]
    with eng.begin() as c:
        c.execute(s.patients.insert().values(id=1, code="P1", tz="UTC", created_utc_ms=0))
        c.execute(s.devices.insert().values(id=1, key="dev", patient_id=1, created_utc_ms=0))
    eng.dispose()
    st = open_store(db_url)
    assert st.migrations_applied == [v for v, _, _ in MIGRATIONS if v >= 2]
    assert st.migrations_applied == list(range(2, LATEST + 1))
    assert st.device_windows("P1") == [(1, "dev", 0, 2**62)]


def test_migration_4_numbers_repeated_doses_and_then_refuses_duplicates(db_url):
    """A v2 database as an older spasmtrack left it (no occurrence column, no unique index,
    the same dose stored twice) gets the index; the database then refuses a third copy."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import IntegrityError
    from spasmtrack.store import normalise_url
    from spasmtrack.store.migrations import migrate
    eng = create_engine(normalise_url(db_url))
    assert migrate(eng, target=2) == [1, 2]
    dose = dict(patient_id=1, drug="baclofen", amount=10.0, unit="mg", amount_ug=10000.0,
                route="oral", taken_utc_ms=T0 * 1000, entered_tz="UTC", source="cli",
                entered_by="t", entered_utc_ms=0, status="active", fingerprint="fp1")
    with eng.begin() as c:
        c.execute(text("DROP INDEX uq_doses_active_fingerprint"))
        c.execute(text("ALTER TABLE doses DROP COLUMN occurrence"))
        c.execute(s.patients.insert().values(id=1, code="P1", tz="UTC", created_utc_ms=0))
        for _ in range(2):
            c.execute(text("INSERT INTO doses (patient_id, drug, amount, unit, amount_ug, route, "
                           "taken_utc_ms, entered_tz, source, entered_by, entered_utc_ms, status, "
                           "fingerprint) VALUES (:patient_id, :drug, :amount, :unit, :amount_ug, "
                           ":route, :taken_utc_ms, :entered_tz, :source, :entered_by, "
                           ":entered_utc_ms, :status, :fingerprint)"), dose)
    eng.dispose()
    st = open_store(db_url)
    assert st.migrations_applied == [v for v, _, _ in MIGRATIONS if v >= 3] and 4 in st.migrations_applied
    with st.engine.connect() as c:
        assert c.execute(select(s.doses.c.occurrence).order_by(s.doses.c.id)).scalars().all() == [0, 1]
    with pytest.raises(IntegrityError):
        with st.engine.begin() as c:
            c.execute(s.doses.insert().values(**dose, occurrence=1))
    with st.engine.begin() as c:     # a superseded copy does not count
        c.execute(s.doses.insert().values(**{**dose, "status": "superseded"}, occurrence=1))


def test_database_at_4_without_3_gets_the_web_tables(db_url):
    """A database migrated to 4 before the web app's migration 3 existed (branch i14db
    numbered its dose migration 4 while 3 was taken elsewhere) gets 3 on opening."""
    from sqlalchemy import create_engine, inspect
    from spasmtrack.store import normalise_url
    from spasmtrack.store import webschema as ws
    from spasmtrack.store.migrations import MIGRATIONS, migrate
    eng = create_engine(normalise_url(db_url))
    assert migrate(eng, target=2) == [1, 2]
    v4 = next(m for m in MIGRATIONS if m[0] == 4)
    with eng.begin() as c:
        v4[2](c)
        c.execute(s.schema_version.insert().values(version=4, applied_utc_ms=0, description=v4[1]))
    assert not set(ws.WEB_TABLES) & set(inspect(eng).get_table_names())
    eng.dispose()
    st = open_store(db_url)
    assert st.migrations_applied == [3, 5]       # 3 filled in, then the ones after 4
    assert set(ws.WEB_TABLES) <= set(inspect(st.engine).get_table_names())
    with st.engine.connect() as c:
        assert current_version(c) == LATEST
    assert open_store(db_url).migrations_applied == []


def test_reassigned_device_splits_data_between_patients(store):
    from spasmtrack.analysis import load
    store.add_patient("P1", "UTC")
    store.add_patient("P2", "UTC")
    store.assign_device("dev", "P1")
    store.insert_records("dev", [anchor(1, 1, 0, T0), ev(2, 1, 60_000), ev(3, 1, 7_200_000)])
    store.assign_device("dev", "P2", since_utc_ms=(T0 + 3600) * 1000)
    d1 = load(store, "P1", (T0 - 10) * 1000, (T0 + 86400) * 1000)
    d2 = load(store, "P2", (T0 - 10) * 1000, (T0 + 86400) * 1000)
    assert d1.ev_t.tolist() == [(T0 + 60) * 1000] and d2.ev_t.tolist() == [(T0 + 7200) * 1000]
    with pytest.raises(UserError, match="must start after"):
        store.assign_device("dev", "P1", since_utc_ms=(T0 + 60) * 1000)
    assert [a["action"] for a in store.audit_trail("devices")] == ["assign", "assign"]


def test_database_url_problems_are_one_line_errors(tmp_path, capsys):
    from spasmtrack.cli import main
    from spasmtrack.store import normalise_url
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("~/x.sqlite").startswith("sqlite:////")
    # a PostgreSQL server that is not there (no socket in an empty folder)
    assert main(["patient", "list", "--db", f"postgresql://nobody:secret@/clinic?host={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "cannot open database postgresql+psycopg://nobody:***@/clinic" in err
    assert "secret" not in err and "Traceback" not in err and err.count("\n") == 1
    assert main(["patient", "list", "--db", "mysql://u@h/db"]) == 2
    err = capsys.readouterr().err       # the CLI checks the scheme before opening anything
    assert "mysql:// databases are not supported" in err and err.count("\n") == 1
    with pytest.raises(UserError, match="unsupported database URL 'mysql://u@h/db'"):
        open_store("mysql://u@h/db")    # the store refuses it too (callers other than the CLI)
