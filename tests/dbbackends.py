"""Database backends for the store, dose, sync, analysis and report tests (pytest plugin).

``db_url`` (per test) and ``module_db_url`` (per module) are parametrised over
``sqlite`` and ``postgresql``: each gives the URL of a fresh, empty database. The
PostgreSQL one lives in a throwaway cluster (:class:`spasmtrack.store.pgserver.PgServer`)
started once per pytest session, i.e. once per xdist worker, on a unix socket in a
temporary folder, and stopped at the end. Without the server binaries the PostgreSQL
cases are skipped with a loud reason, unless ``SPASMTRACK_REQUIRE_PG=1`` (set by
``make test``, which installs them): then they fail.
"""
from __future__ import annotations

import itertools
import os

import pytest

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    """The session's throwaway PostgreSQL server (skips, or fails under make test, if absent)."""
    from spasmtrack.store.pgserver import PgServer, PgUnavailable
    try:
        srv = PgServer(durable=False)
    except PgUnavailable as exc:
        if os.environ.get("SPASMTRACK_REQUIRE_PG") == "1":
            pytest.fail(f"SPASMTRACK_REQUIRE_PG=1 but {exc}")
        pytest.skip(f"POSTGRESQL TESTS SKIPPED: {exc}")
    srv.start()
    yield srv
    srv.stop()


def fresh_url(request, backend: str, tmp_dir) -> str:
    """URL of a new empty database of ``backend`` (a file in ``tmp_dir`` for SQLite)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir}/db-{next(_counter)}.sqlite"
    srv = request.getfixturevalue("pg_server")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return srv.create_database(f"t_{worker}_{os.getpid()}_{next(_counter)}")


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh database per test, once on SQLite and once on PostgreSQL."""
    return fresh_url(request, request.param, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(request, tmp_path_factory):
    """A fresh database shared by a module's tests, once per backend."""
    return fresh_url(request, request.param, tmp_path_factory.mktemp("db"))
