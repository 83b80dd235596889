"""Bulk writes for large batches (dose imports, benchmark ingest), inside a transaction.

SQLAlchemy's per-row parameter handling costs more than the database itself once a
batch has tens of thousands of rows, so these go to the driver directly: SQLite's
``executemany`` (one prepared statement) and PostgreSQL's ``COPY ... FROM STDIN`` through
psycopg 3. Both run on the caller's connection, inside its transaction. Table and
column names come from :mod:`.schema`, never from input.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import Connection, Table, text

__all__ = ["copy_rows", "insert_new", "update_by_id"]


def _driver(c: Connection) -> Any:
    """The DBAPI connection under ``c`` (sqlite3's or psycopg's)."""
    raw = c.connection.driver_connection
    if raw is None:
        raise RuntimeError("the connection has no driver connection (invalidated)")
    return raw


def _names(table: Table, columns: Sequence[str]) -> str:
    for c in columns:
        if c not in table.c:
            raise KeyError(f"{table.name} has no column {c!r}")
    return ", ".join(columns)


def copy_rows(c: Connection, table: Table, columns: Sequence[str],
              rows: Iterable[Sequence]) -> int:
    """Append ``rows`` (tuples in ``columns`` order) to ``table``; returns the row count."""
    cols = _names(table, columns)
    raw = _driver(c)
    n = 0
    if c.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
                n += 1
        return n
    rows = list(rows)
    cur = raw.cursor()
    try:
        cur.executemany(f"INSERT INTO {table.name} ({cols}) VALUES "
                        f"({', '.join('?' * len(columns))})", rows)
    finally:
        cur.close()
    return len(rows)


def insert_new(c: Connection, table: Table, columns: Sequence[str], rows: list[Sequence],
               conflict: Sequence[str], where: str, returning: Sequence[str]) -> list[tuple]:
    """Insert ``rows`` except those a unique index on ``conflict`` (partial: ``where``)
    already holds, also from a concurrent transaction; returns ``returning`` of the rows
    this call inserted.

    PostgreSQL: COPY into a temporary table, then one ``INSERT ... SELECT ... ON CONFLICT
    DO NOTHING RETURNING``. SQLite: ``executemany`` of ``INSERT ... ON CONFLICT DO
    NOTHING``; the caller's write transaction (``BEGIN IMMEDIATE``) excludes every other
    writer, so the rows with ids above the highest id before are this call's.
    """
    cols = _names(table, columns)
    ret = _names(table, returning)
    on_conflict = f"ON CONFLICT ({_names(table, conflict)}) WHERE {where} DO NOTHING"
    if not rows:
        return []
    if c.dialect.name == "postgresql":
        tmp = f"_new_{table.name}"
        c.execute(text(f"CREATE TEMPORARY TABLE {tmp} ON COMMIT DROP AS "
                       f"SELECT {cols} FROM {table.name} WITH NO DATA"))
        raw = _driver(c)
        with raw.cursor() as cur:
            with cur.copy(f"COPY {tmp} ({cols}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {tmp} "
                        f"{on_conflict} RETURNING {ret}")
            out = [tuple(r) for r in cur.fetchall()]
        c.execute(text(f"DROP TABLE {tmp}"))
        return out
    before = c.execute(text(f"SELECT coalesce(max(id), 0) FROM {table.name}")).scalar()
    raw = _driver(c)
    cur = raw.cursor()
    try:
        cur.executemany(f"INSERT INTO {table.name} ({cols}) VALUES "
                        f"({', '.join('?' * len(columns))}) {on_conflict}", rows)
    finally:
        cur.close()
    return [tuple(r) for r in c.execute(text(
        f"SELECT {ret} FROM {table.name} WHERE id > :b ORDER BY id"), {"b": before})]


def update_by_id(c: Connection, table: Table, column: str, pairs: list[tuple[int, object]]) -> None:
    """Set ``column`` of the rows with the given ids: ``pairs`` of (id, value)."""
    if not pairs:
        return
    col = _names(table, (column,))
    raw = _driver(c)
    if c.dialect.name == "postgresql":
        tmp = f"_upd_{table.name}"
        c.execute(text(f"CREATE TEMPORARY TABLE {tmp} ON COMMIT DROP AS "
                       f"SELECT id, {col} FROM {table.name} WITH NO DATA"))
        with raw.cursor() as cur:
            with cur.copy(f"COPY {tmp} (id, {col}) FROM STDIN") as cp:
                for r in pairs:
                    cp.write_row(r)
            cur.execute(f"UPDATE {table.name} AS t SET {col} = u.{col} FROM {tmp} AS u "
                        f"WHERE t.id = u.id")
        c.execute(text(f"DROP TABLE {tmp}"))
        return
    cur = raw.cursor()
    try:
        cur.executemany(f"UPDATE {table.name} SET {col} = ? WHERE id = ?",
                        [(v, i) for i, v in pairs])
    finally:
        cur.close()
