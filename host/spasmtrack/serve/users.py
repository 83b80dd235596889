"""Clinic users and their sign-in sessions (tables in :mod:`spasmtrack.store.webschema`).

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 low-memory profile) and never
stored or logged; a session is a random 256-bit token held by the browser, of which the
store keeps only the SHA-256. Sessions end on sign-out, after :data:`IDLE_TIMEOUT_MS` without
a request, after :data:`MAX_AGE_MS`, and when the user is disabled.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update

from ..errors import UserError
from ..store import Store, now_ms
from ..store import webschema as ws

ROLES = ("clinician", "viewer")
MIN_PASSWORD_LEN = 12
IDLE_TIMEOUT_MS = 30 * 60_000          # a session unused for 30 min ends
MAX_AGE_MS = 12 * 3_600_000            # and every session ends 12 h after sign-in
_NAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,31}")

_hasher = PasswordHasher()
# Verified against when the user name is unknown, so a wrong name costs as long as a wrong
# password and response time does not tell which user names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool

    @property
    def may_write(self) -> bool:
        """Only clinicians enter or correct doses."""
        return self.role == "clinician" and not self.disabled


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name or ""):
        raise UserError(f"user name {name!r} must be 2-32 characters: lower-case letters, digits, "
                        "'.', '_' or '-', starting with a letter")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LEN:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LEN} characters")
    if password.strip() != password:
        raise UserError("the password must not start or end with white space")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class Users:
    """User and session operations on one store."""

    def __init__(self, store: Store):
        self.store = store

    # ----------------------------------------------------------------- users
    def add(self, name: str, role: str, password: str, created_by: str) -> int:
        check_name(name)
        if role not in ROLES:
            raise UserError(f"unknown role {role!r} (use {' or '.join(ROLES)})")
        check_password(password)
        u = ws.web_users
        t = now_ms()
        with self.store.engine.begin() as c:
            if c.execute(select(u.c.id).where(u.c.name == name)).first():
                raise UserError(f"user {name!r} already exists")
            key = c.execute(u.insert().values(
                name=name, role=role, password_hash=_hasher.hash(password), disabled=0,
                created_by=created_by, created_utc_ms=t, changed_utc_ms=t)).inserted_primary_key
            assert key is not None
            return int(key[0])

    def list(self) -> list[dict]:
        u = ws.web_users
        with self.store.engine.connect() as c:
            return [dict(r) for r in c.execute(select(
                u.c.id, u.c.name, u.c.role, u.c.disabled, u.c.created_by, u.c.created_utc_ms,
                u.c.changed_utc_ms).order_by(u.c.name)).mappings()]

    def exists(self, name: str) -> bool:
        u = ws.web_users
        with self.store.engine.connect() as c:
            return c.execute(select(u.c.id).where(u.c.name == name)).first() is not None

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        """Disable (or re-enable) a user; disabling ends the user's open sessions."""
        u, se = ws.web_users, ws.web_sessions
        t = now_ms()
        with self.store.engine.begin() as c:
            uid = c.execute(select(u.c.id).where(u.c.name == name)).scalar()
            if uid is None:
                raise UserError(f"no user {name!r}")
            c.execute(update(u).where(u.c.id == uid).values(disabled=int(disabled), changed_utc_ms=t))
            if disabled:
                c.execute(update(se).where(se.c.user_id == uid, se.c.ended_utc_ms.is_(None))
                          .values(ended_utc_ms=t))

    def set_password(self, name: str, password: str) -> None:
        """New password; ends the user's open sessions."""
        check_password(password)
        u, se = ws.web_users, ws.web_sessions
        t = now_ms()
        with self.store.engine.begin() as c:
            uid = c.execute(select(u.c.id).where(u.c.name == name)).scalar()
            if uid is None:
                raise UserError(f"no user {name!r}")
            c.execute(update(u).where(u.c.id == uid).values(
                password_hash=_hasher.hash(password), changed_utc_ms=t))
            c.execute(update(se).where(se.c.user_id == uid, se.c.ended_utc_ms.is_(None))
                      .values(ended_utc_ms=t))

    def authenticate(self, name: str, password: str) -> User | None:
        """The enabled user with this name and password, else None (same cost either way)."""
        u = ws.web_users
        with self.store.engine.connect() as c:
            row = c.execute(select(u).where(u.c.name == name)).mappings().first()
        try:
            _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        if _hasher.check_needs_rehash(row["password_hash"]):
            with self.store.engine.begin() as c:
                c.execute(update(u).where(u.c.id == row["id"]).values(
                    password_hash=_hasher.hash(password)))
        return User(int(row["id"]), row["name"], row["role"], bool(row["disabled"]))

    # ----------------------------------------------------------------- sessions
    def start_session(self, user: User) -> str:
        """A new session token for ``user`` (give it to the browser; only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        t = now_ms()
        with self.store.engine.begin() as c:
            c.execute(ws.web_sessions.insert().values(
                token_sha256=_token_hash(token), user_id=user.id, created_utc_ms=t,
                last_seen_utc_ms=t, ended_utc_ms=None))
        return token

    def session_user(self, token: str | None, now: int | None = None) -> User | None:
        """The user of a live session (and mark it used), or None if it ended or expired."""
        if not token:
            return None
        se, u = ws.web_sessions, ws.web_users
        now = now if now is not None else now_ms()
        with self.store.engine.begin() as c:
            row = c.execute(select(se.c.id, se.c.created_utc_ms, se.c.last_seen_utc_ms,
                                   se.c.ended_utc_ms, u.c.id.label("uid"), u.c.name, u.c.role,
                                   u.c.disabled).join(u, u.c.id == se.c.user_id).where(
                se.c.token_sha256 == _token_hash(token))).mappings().first()
            if row is None or row["ended_utc_ms"] is not None:
                return None
            if (row["disabled"] or now - row["last_seen_utc_ms"] > IDLE_TIMEOUT_MS
                    or now - row["created_utc_ms"] > MAX_AGE_MS):
                c.execute(update(se).where(se.c.id == row["id"]).values(ended_utc_ms=now))
                return None
            c.execute(update(se).where(se.c.id == row["id"]).values(last_seen_utc_ms=now))
        return User(int(row["uid"]), row["name"], row["role"], bool(row["disabled"]))

    def end_session(self, token: str | None) -> None:
        if not token:
            return
        se = ws.web_sessions
        with self.store.engine.begin() as c:
            c.execute(update(se).where(se.c.token_sha256 == _token_hash(token),
                                       se.c.ended_utc_ms.is_(None)).values(ended_utc_ms=now_ms()))
