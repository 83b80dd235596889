"""One place that turns failures from below the CLI (database, files, text decoding) into
the one-line messages a user can act on. :func:`spasmtrack.cli.main` calls
:func:`message_for`; anything it does not know is a bug and keeps its traceback."""
from __future__ import annotations


def _db_text(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def message_for(exc: BaseException, db_url: str | None) -> str | None:
    """A one-line message for ``exc`` (None: not a known user-facing failure)."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from .store.migrations import SchemaTooNew
    where = f"database {db_url}" if db_url else "the database"
    if isinstance(exc, SchemaTooNew):
        return f"{where}: {exc}; nothing was changed"
    if isinstance(exc, (NoSuchModuleError, ArgumentError)):
        return (f"{where}: not a database URL spasmtrack can use ({_db_text(exc)}); give "
                "sqlite:///path or postgresql://user@host/db")
    if isinstance(exc, DBAPIError):
        text = _db_text(exc)
        low = text.lower()
        if "locked" in low or "busy" in low:
            return (f"{where} is busy (another spasmtrack command is writing to it, e.g. an "
                    "import); nothing was written: run the command again when it has finished")
        if "readonly" in low or "read-only" in low:
            return (f"{where} is read-only for this user; nothing was written (reading works; "
                    "to write, use a copy you may change or ask its owner)")
        if "not a database" in low or "malformed" in low or "file is encrypted" in low:
            return (f"{where} is not a spasmtrack/SQLite database or is damaged ({text}); "
                    "nothing was changed: check the path or restore it from a backup")
        if "unable to open" in low:
            return f"{where} cannot be opened ({text}): check the path and its permissions"
        return f"{where}: {text}; nothing was written"
    if isinstance(exc, UnicodeDecodeError):
        return (f"input is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
                "re-save the file as UTF-8 (CSV UTF-8 in Excel)")
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}; nothing was written there"
    return None
