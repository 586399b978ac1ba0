"""Database servers for the sweep tests that share a study through ``--storage URL``: each test
gets an empty database of its own on the server named by an environment variable, or is skipped
with the variable to set. No server runs in CI; docs/RELIABILITY.md says how to start them here.

An empty database per test (CREATE DATABASE needs the user's right to create one; without it the
test shares the named database under a study name of its own) means reruns never collide, and two
sweep processes starting at once race to create Optuna's tables, as they would on a new server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# kind: (variable, example URL, what it names, the driver module it needs)
SERVERS: dict[str, tuple[str, str, str, str]] = {
    "postgres": ("PETSEG_TEST_POSTGRES_URL", "postgresql+psycopg2://USER:PASS@127.0.0.1/DB", "a PostgreSQL server",
                 "psycopg2"),
    "mysql": ("PETSEG_TEST_MYSQL_URL", "mysql+pymysql://USER:PASS@127.0.0.1/DB", "a MySQL or MariaDB server",
              "pymysql"),
}


def server_url(kind: str) -> str:
    """The URL of the server for ``kind``, or skip the test saying which variable to set."""
    var, example, what, module = SERVERS[kind]
    url = os.environ.get(var)
    if not url:
        pytest.skip(f"set {var}={example} to run against {what}")
    try:
        __import__(module)
    except ImportError:  # asked for by name: a skip here would hide that the server was never used
        pytest.fail(f"{var} is set but its driver {module} is not installed: pip install -e '.[{kind}]'")
    return url


@contextmanager
def fresh_database(url: str) -> Iterator[tuple[str, str]]:
    """(URL of an empty database on the server, a suffix for study names), dropped afterwards."""
    import sqlalchemy

    base = sqlalchemy.engine.make_url(url)
    suffix = uuid.uuid4().hex[:8]
    name = f"{base.database}_{suffix}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        try:
            _execute(admin, f"CREATE DATABASE {name}")
        except sqlalchemy.exc.SQLAlchemyError:  # no right to create one: the named database, own study names
            yield url, suffix
            return
        try:
            yield base.set(database=name).render_as_string(hide_password=False), suffix
        finally:
            force = " WITH (FORCE)" if base.get_backend_name() == "postgresql" else ""
            _execute(admin, f"DROP DATABASE {name}{force}")
    finally:
        admin.dispose()


def _execute(engine: Any, sql: str) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql(sql)
