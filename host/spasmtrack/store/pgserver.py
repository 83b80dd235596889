"""A throwaway PostgreSQL server for tests and benchmarks.

Runs Debian's own server binaries (``/usr/lib/postgresql/<major>/bin``) on a fresh cluster
in a temporary folder: ``initdb`` then ``pg_ctl start``, listening on a unix socket only
(no TCP port, nothing reachable from the network), trust authentication for the local
socket owner. PostgreSQL refuses to run as root, so under root the cluster belongs to
Debian's ``postgres`` user and is started through ``runuser``. :meth:`stop` removes it.

This is not how a clinic runs its database; it exists so the store's tests and the scale
benchmark run against a real server without any setup by hand.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PgServer", "PgUnavailable", "find_bindir"]


class PgUnavailable(RuntimeError):
    """The PostgreSQL server binaries (Debian package ``postgresql``) are not installed."""


def find_bindir() -> Path:
    """Folder with ``initdb``/``pg_ctl``/``postgres``, newest major version first."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                    reverse=True):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    raise PgUnavailable("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                        "(install the Debian package `postgresql`; `make test` does)")


class PgServer:
    """One throwaway cluster. ``settings`` are extra ``postgres -c`` options.

    ``durable=False`` turns off fsync and synchronous commit: for tests only, where a
    crash loses nothing of value; the benchmark keeps the server's defaults.
    """

    def __init__(self, *, durable: bool = True, settings: dict[str, str] | None = None,
                 base: str | None = None):
        self.bindir = find_bindir()
        self.durable = durable
        self.settings = dict(settings or {})
        self.root = Path(tempfile.mkdtemp(prefix="spasmtrack-pg-", dir=base))
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self.logfile = self.root / "server.log"
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root but there is no `postgres` user to own "
                                    "the cluster (install the Debian package `postgresql`)") from None
        self.user = self._owner.pw_name if self._owner else pwd.getpwuid(os.geteuid()).pw_name
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._owner is not None:
            cmd = ["runuser", "-u", self._owner.pw_name, "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed ({res.returncode}): "
                               f"{res.stderr.strip() or res.stdout.strip()}\n{log}")

    def start(self) -> "PgServer":
        self.sockdir.mkdir()
        os.chmod(self.root, 0o700)
        if self._owner is not None:
            for p in (self.root, self.sockdir):
                os.chown(p, self._owner.pw_uid, self._owner.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.user,
                  "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions")
        opts = {"listen_addresses": "''", "unix_socket_directories": f"'{self.sockdir}'",
                **({} if self.durable else {"fsync": "off", "synchronous_commit": "off",
                                            "full_page_writes": "off"}),
                **self.settings}
        o = " ".join(f"-c {k}={v}" for k, v in opts.items())
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                  "-o", o, "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster."""
        if self.started:
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast",
                          "-w", "stop")
            finally:
                self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases
    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of database ``dbname`` over the unix socket."""
        return f"postgresql+psycopg://{self.user}@/{dbname}?host={self.sockdir}"

    def create_database(self, dbname: str) -> str:
        """Create an empty database; returns its URL."""
        import psycopg
        if not dbname.replace("_", "").isalnum():
            raise ValueError(f"database name {dbname!r}: letters, digits and _ only")
        with psycopg.connect(host=str(self.sockdir), user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)
