"""Tables of the clinic web app (``spasmtrack serve``), added by migration 3.

- ``web_users``: clinic users; ``password_hash`` is an Argon2id PHC string (never a
  password); ``role`` is ``clinician`` (may enter and correct doses) or ``viewer``
  (read only); a disabled user keeps its row (the audit log names it).
- ``web_sessions``: server-side sign-in sessions; the browser holds a random token, the
  table only its SHA-256, so a copy of the database does not let anyone sign in.
- ``web_audit``: who viewed or changed what through the web app, and refused attempts
  (bad password, forged form, a viewer trying to write). Dose changes are also written to
  the store's ``audit_log`` by the dose code itself.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, SmallInteger, String, Table, Text

from .schema import metadata

WEB_TABLES = ("web_users", "web_sessions", "web_audit")

web_users = Table(
    "web_users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),          # clinician | viewer
    Column("password_hash", String(255), nullable=False),
    Column("disabled", SmallInteger, nullable=False, default=0),
    Column("created_by", String(64), nullable=False),
    Column("created_utc_ms", BigInteger, nullable=False),
    Column("changed_utc_ms", BigInteger, nullable=False),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id", Integer, primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("web_users.id"), nullable=False),
    Column("created_utc_ms", BigInteger, nullable=False),
    Column("last_seen_utc_ms", BigInteger, nullable=False),
    Column("ended_utc_ms", BigInteger),                  # sign-out, expiry or user disabled
    Index("ix_web_sessions_user", "user_id"),
)

web_audit = Table(
    "web_audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at_utc_ms", BigInteger, nullable=False),
    Column("user_name", String(64)),                     # NULL: not signed in
    Column("action", String(32), nullable=False),        # sign_in, view_patient, dose_add, ...
    Column("patient_code", String(64)),
    Column("detail_json", Text, nullable=False),
    Column("remote_addr", String(64)),
    Index("ix_web_audit_time", "at_utc_ms"),
    Index("ix_web_audit_user_action", "user_name", "action", "at_utc_ms"),
)
