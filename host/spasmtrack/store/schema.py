"""Table definitions of the spasmtrack store (SQLAlchemy Core, portable SQL).

Conventions (units are in the column names):
- ``*_utc_ms``: UTC instant as integer milliseconds since 1970-01-01 (BigInteger; never a
  local time). NULL when it cannot be placed yet (a boot without a time anchor).
- Device time is ``(boot, ms)``: the boot counter and milliseconds since that boot, counted
  from samples by the firmware. Record field names follow ``firmware/core/records.py`` FIELDS.
- Every table that a person edits (doses, pump programs) is append-only in effect: a
  correction inserts a new row that ``supersedes_id`` the old one, flips the old row's
  ``status`` and writes an ``audit_log`` entry; no content column is updated in place.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Float, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, SmallInteger, String, Table, Text, UniqueConstraint, text)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_utc_ms", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
)

patients = Table(
    "patients", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),   # pseudonymous identifier
    Column("display_name", String(200)),
    Column("tz", String(64), nullable=False),                   # IANA zone, e.g. Europe/Berlin
    Column("created_utc_ms", BigInteger, nullable=False),
)

devices = Table(
    "devices", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),     # BLE address or serial
    Column("patient_id", Integer, ForeignKey("patients.id")),
    Column("board", String(64)),
    Column("label", String(200)),
    Column("created_utc_ms", BigInteger, nullable=False),
)

# The bond ids under which this store's hosts synced a device (schema v5): the device's
# status characteristic tells each bonded host its id; an ACK record naming any other id
# means a host this store does not know acknowledged (and so deleted) records.
host_bonds = Table(
    "host_bonds", metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("peer_id", Integer, nullable=False),          # the device's id for the bond, 1..65535
    Column("first_utc_ms", BigInteger, nullable=False),  # first sync under this bond
    Column("last_utc_ms", BigInteger, nullable=False),   # latest sync under this bond
    UniqueConstraint("device_id", "peer_id", name="uq_host_bonds_device_peer"),
)

# Who wore which device when (schema v2): device data in [from, to) belongs to the patient.
device_assignments = Table(
    "device_assignments", metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("from_utc_ms", BigInteger, nullable=False),
    Column("to_utc_ms", BigInteger),                    # NULL: still worn
    Column("who", String(64), nullable=False),
    Column("at_utc_ms", BigInteger, nullable=False),
    Index("ix_assign_device", "device_id", "from_utc_ms"),
)

def _device_seq_table(name: str, uq_prefix: str, *items: Column | Index) -> Table:
    """A table of rows each derived from one device record: id, device_id, seq (unique per
    device, so a re-synced frame is never stored twice), then ``items``."""
    cols = [i for i in items if isinstance(i, Column)]
    rest = [i for i in items if not isinstance(i, Column)]
    return Table(
        name, metadata,
        Column("id", Integer, primary_key=True),
        Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
        Column("seq", BigInteger, nullable=False),
        *cols,
        UniqueConstraint("device_id", "seq", name=f"uq_{uq_prefix}_device_seq"),
        *rest,
    )


# Every frame received from a device, verbatim, one row per (device, seq): the exact
# accounting of what was synced. Typed tables below are derived from these frames.
records = _device_seq_table(
    "records", "records",
    Column("rtype", SmallInteger, nullable=False),
    Column("frame", LargeBinary, nullable=False),
    Column("received_utc_ms", BigInteger, nullable=False),
)

boots = _device_seq_table(
    "boots", "boots",
    Column("boot", Integer, nullable=False),
    Column("reset_cause", SmallInteger),
    Column("fw_version", Integer),
    Column("config_version", Integer),
    Column("board_hash", Integer),
)

time_anchors = _device_seq_table(
    "time_anchors", "anchors",
    Column("boot", Integer, nullable=False),
    Column("ms", BigInteger, nullable=False),          # device ms since boot
    Column("unix_s", BigInteger, nullable=False),      # UTC seconds written by the host
    Column("tz_quarter_h", SmallInteger),               # informational offset, quarter hours
    Column("source", SmallInteger),                     # 1 host CTS, 2 manual
    Column("used", SmallInteger, nullable=False, default=1),   # 0: rejected as a clock jump
)

events = _device_seq_table(
    "events", "events",
    Column("boot", Integer, nullable=False),
    Column("onset_ms", BigInteger, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),       # 1 spasm, 2 clonus, 3 spasm with clonus
    Column("channel", SmallInteger),
    Column("flags", Integer, nullable=False, default=0),
    Column("peak_cuv", BigInteger),                     # 0.01 uV
    Column("mean_cuv", BigInteger),                     # 0.01 uV
    Column("area", BigInteger),                         # units per firmware/core/records.py
    Column("clonus_chz", Integer),                      # 0.01 Hz
    Column("gyro_peak_ddps", Integer),                  # 0.1 deg/s
    Column("acc_peak_mg", Integer),                     # mg
    Column("mvc_pm", Integer),                          # per mille MVC, 65535 uncalibrated
    Column("config_version", Integer),
    Column("onset_utc_ms", BigInteger),
    Column("fields_json", Text),                        # every decoded field, by record name
    Index("ix_events_device_utc", "device_id", "onset_utc_ms"),
)

summaries = _device_seq_table(
    "summaries", "summaries",
    Column("boot", Integer, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("n_spasm", Integer, nullable=False, default=0),
    Column("n_clonus", Integer, nullable=False, default=0),
    Column("spasm_ds", Integer, nullable=False, default=0),      # 0.1 s
    Column("clonus_ds", Integer, nullable=False, default=0),     # 0.1 s
    Column("covered_ds", Integer, nullable=False, default=0),    # 0.1 s of good signal
    Column("lost_ds", Integer, nullable=False, default=0),       # 0.1 s lead-off/flat/railed
    Column("not_worn_ds", Integer),                              # 0.1 s, if the firmware says
    Column("dropped_samples", BigInteger, default=0),
    Column("n_motion_rejected", Integer, default=0),
    Column("jitter_us", Integer),
    Column("battery_pct", SmallInteger),
    Column("config_version", Integer),
    Column("start_utc_ms", BigInteger),
    Column("fields_json", Text),
    # covered_ds too: the clinic overview sums good-signal time from the index alone (v4)
    Index("ix_summaries_device_utc_cov", "device_id", "start_utc_ms", "covered_ds"),
)

markers = _device_seq_table(
    "markers", "markers",
    Column("boot", Integer, nullable=False),
    Column("ms", BigInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),       # 1 dose taken, 2 felt spasm
    Column("utc_ms", BigInteger),
)

losses = _device_seq_table(
    "losses", "losses",
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
)

doses = Table(
    "doses", metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("drug", String(64), nullable=False),
    Column("amount", Float, nullable=False),            # as entered, in `unit`
    Column("unit", String(16), nullable=False),
    Column("amount_ug", Float, nullable=False),         # normalised, micrograms
    Column("route", String(32), nullable=False),        # oral | intrathecal_bolus
    Column("taken_utc_ms", BigInteger, nullable=False),
    Column("entered_tz", String(64), nullable=False),   # zone or offset the time was given in
    Column("note", Text),
    Column("source", String(32), nullable=False),       # cli | import | button
    Column("source_ref", String(300)),                  # file:row, marker id, ...
    Column("entered_by", String(64), nullable=False),
    Column("entered_utc_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),       # active | superseded | retracted
    Column("supersedes_id", Integer, ForeignKey("doses.id")),
    Column("reason", Text),                             # why a correction was made
    Column("fingerprint", String(64), nullable=False),  # patient, drug, route, time, amount
    # 0, or n for the n-th deliberate repeat of an active dose (schema v4)
    Column("occurrence", Integer, nullable=False, server_default="0"),
    Index("ix_doses_patient_time", "patient_id", "taken_utc_ms"),
)

# The database, not a check before the insert, keeps a dose from being stored twice: one
# active row per (fingerprint, occurrence). Partial index, same on SQLite and PostgreSQL.
ACTIVE_DOSE = text("status = 'active'")
ix_doses_active_fingerprint = Index(
    "uq_doses_active_fingerprint", doses.c.fingerprint, doses.c.occurrence, unique=True,
    sqlite_where=ACTIVE_DOSE, postgresql_where=ACTIVE_DOSE)

pump_programs = Table(
    "pump_programs", metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patients.id"), nullable=False),
    Column("drug", String(64), nullable=False),
    Column("valid_from_utc_ms", BigInteger, nullable=False),
    Column("valid_to_utc_ms", BigInteger),              # NULL: until replaced
    Column("tz", String(64), nullable=False),           # zone the schedule's clock times use
    Column("steps_json", Text, nullable=False),         # [["HH:MM", rate_ug_per_day], ...]
    Column("note", Text),
    Column("source", String(32), nullable=False),
    Column("entered_by", String(64), nullable=False),
    Column("entered_utc_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("supersedes_id", Integer, ForeignKey("pump_programs.id")),
    Column("reason", Text),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("table_name", String(64), nullable=False),
    Column("row_id", Integer, nullable=False),
    Column("action", String(32), nullable=False),       # insert | correct | retract | link
    Column("who", String(64), nullable=False),
    Column("at_utc_ms", BigInteger, nullable=False),
    Column("detail_json", Text, nullable=False),
)
