"""A sweep's database storage (``--storage URL``: sqlite, PostgreSQL, MySQL/MariaDB): the URL as a
user may see it (password masked), its driver, a quick connection check, and Optuna's RDBStorage.

Every failure is one `ConfigError` line naming the URL with its password masked: a driver that is
not installed (with the pip command), a database kind SQLAlchemy does not know, a server that is
down or refuses the login (within CONNECT_TIMEOUT_S, not the minutes of a TCP time-out); for a
PostgreSQL URL without a password (a sweep's record keeps none), where to give libpq one.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, first_line

CONNECT_TIMEOUT_S = 10  # a server that does not answer (a wrong host, a firewall) fails this fast
OPEN_ATTEMPTS = 5  # a database whose tables two sweep processes create at once is retried this often
MASK = "***"
OPTUNA_TABLE = "studies"  # one of the tables Optuna's RDBStorage creates on first use

# the DB-API modules SQLAlchemy's dialects import: the database, and what a user installs (the
# extras are in pyproject.toml). A URL without +DRIVER takes SQLAlchemy's default: psycopg2 for
# postgresql:// up to SQLAlchemy 2.0, psycopg (3) from 2.1; MySQLdb (mysqlclient, built from C)
# for mysql://, so the README writes the driver in every URL
DRIVERS: dict[str, tuple[str, str]] = {
    "psycopg2": ("PostgreSQL", "pip install psycopg2-binary (or the petseg-tui[postgres] extra)"),
    "psycopg": ("PostgreSQL", "pip install 'psycopg[binary]'"),
    "pymysql": ("MySQL", "pip install PyMySQL (or the petseg-tui[mysql] extra)"),
    "MySQLdb": ("MySQL", "pip install mysqlclient (needs a C compiler and MySQL's headers)"),
}
# what to write instead of a bare URL whose default driver is missing
EXPLICIT = {"PostgreSQL": "postgresql+psycopg2://USER:PASS@HOST/DB with pip install psycopg2-binary "
                          "(the petseg-tui[postgres] extra)",
            "MySQL": "mysql+pymysql://USER:PASS@HOST/DB with pip install PyMySQL (the petseg-tui[mysql] extra)"}
# drivers whose connect() takes connect_timeout in seconds; libpq's covers the whole login, the
# MySQL drivers' only the TCP connect (a server that accepts and then says nothing hangs the
# handshake's read forever), so the check's connection also gets a read_timeout there
TIMEOUT_DRIVERS = ("psycopg2", "psycopg", "pymysql", "mysqldb")
READ_TIMEOUT_DRIVERS = ("pymysql", "mysqldb")


def masked(url: str) -> str:
    """``url`` with its password (``user:PASSWORD@`` or a ``password=`` query value) as ***."""
    text = re.sub(r"(://[^/:@]*:)[^/@]*@", rf"\g<1>{MASK}@", url)
    return re.sub(r"(?i)([?&](?:password|passwd)=)[^&]*", rf"\g<1>{MASK}", text)


def without_password(url: str) -> str:
    """``url`` with its password left out (``user@host``; no ``password=`` query value): what may
    be written to disk. A PostgreSQL login then takes PGPASSWORD or ~/.pgpass, as the README's
    password-free URL does."""
    text = re.sub(r"(://[^/:@]*):[^/]*@", r"\g<1>@", url)  # up to the last @ of the authority
    text = re.sub(r"(?i)([?&])(?:password|passwd)=[^&]*&?", r"\g<1>", text)
    return text.rstrip("?&")


def scrubbed(text: str, url: str) -> str:
    """``text`` (a driver's message) with the URL's password, wherever it appears, as ***; and
    the URL itself masked."""
    for secret in _passwords(url):
        text = text.replace(secret, MASK)
    return masked(text)


def _passwords(url: str) -> list[str]:
    found = re.findall(r"://[^/:@]*:([^/@]*)@", url) + re.findall(r"(?i)[?&](?:password|passwd)=([^&]*)", url)
    out = []
    for s in found:
        from urllib.parse import unquote

        out += [s, unquote(s)]
    return [s for s in out if s]


def engine_kwargs(url: Any) -> dict[str, Any]:
    """SQLAlchemy engine options for a parsed URL: a connect time-out where the driver takes one
    (unless the URL sets its own), and a liveness check of pooled connections on a server (a
    sweep's connection sits idle through a trial's epochs; a server or proxy may close it)."""
    if url.get_backend_name() == "sqlite":
        return {}
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_driver_name() in TIMEOUT_DRIVERS and "connect_timeout" not in url.query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def missing_driver(exc: BaseException, drivername: str) -> str:
    """What to install for the ImportError SQLAlchemy raised loading the driver of a URL whose
    scheme is ``drivername`` (``postgresql+psycopg2``, or a bare ``postgresql``)."""
    module = _missing_module(exc)
    if module is None:
        return f"its database driver cannot be imported ({first_line(exc)})"
    if module not in DRIVERS:
        return f"its database driver (the Python module {module}) is not installed; pip install the package that has it"
    kind, install = DRIVERS[module]
    line = f"the {kind} driver {module} is not installed: {install}"
    if "+" not in drivername and (module, kind) not in (("psycopg2", "PostgreSQL"), ("pymysql", "MySQL")):
        line = (f"a bare {drivername}:// means the {module} driver, which is not installed: {install}; "
                f"or write {EXPLICIT[kind]}")
    return line


def _missing_module(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        name = getattr(seen, "name", None)
        if isinstance(seen, ImportError) and name:
            return name.split(".")[0]
        seen = seen.__cause__ or seen.__context__
    return None


def open_rdb(url: str, create: bool = True) -> Any:
    """Optuna's RDBStorage on ``url`` after checking that its driver imports and the server takes
    a connection; ConfigError (one line, password masked) if not. With ``create`` False (to read a
    sweep, never to start one) a database Optuna has not set up is that error too, and nothing is
    made: no sqlite file (connecting would create it), no Optuna tables in an empty database."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = masked(url)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"--storage {shown}: not a database URL ({scrubbed(first_line(exc), url)})") from None
    try:
        kwargs = engine_kwargs(parsed)  # a bare scheme's default driver: loads the dialect
        sqlalchemy.create_engine(parsed, **kwargs).dispose()  # imports the driver
    except NoSuchModuleError:
        raise ConfigError(f"--storage {shown}: SQLAlchemy knows no database {parsed.drivername!r} (give "
                          "sqlite:///FILE, postgresql+psycopg2://USER:PASS@HOST/DB or "
                          "mysql+pymysql://USER:PASS@HOST/DB)") from None
    except ImportError as exc:
        raise ConfigError(f"--storage {shown}: {missing_driver(exc, parsed.drivername)}") from None
    if not create and parsed.get_backend_name() == "sqlite":
        from pathlib import Path

        file = parsed.database or ""
        if file not in ("", ":memory:") and not file.startswith("file:") and not Path(file).is_file():
            raise ConfigError(f"--storage {shown}: no such database file ({file})")
    check = sqlalchemy.create_engine(parsed, **check_kwargs(parsed, kwargs))
    try:
        with check.connect() as connection:
            if not create and not sqlalchemy.inspect(connection).has_table(OPTUNA_TABLE):
                raise ConfigError(f"--storage {shown}: no sweep has used this database (it has no Optuna tables)")
    except ConfigError:
        raise
    except Exception as exc:  # down, refused, wrong password, no such database: the driver says which
        hint = no_password_hint(parsed)
        raise ConfigError(f"--storage {shown}: cannot connect ({scrubbed(_driver_line(exc), url)})"
                          + (f"; {hint}" if hint else "")) from None
    finally:
        check.dispose()
    return _rdb_storage(url, shown, kwargs)


def no_password_hint(url: Any) -> str:
    """What to do about a PostgreSQL URL (parsed) that carries no password, as a sweep's record
    keeps it (`engine.sweep.where`: a resume, the dashboard's R, --show read it), when neither
    PGPASSWORD nor a password file (~/.pgpass, or $PGPASSFILE) gives libpq one: where to put it.
    "" for another database, a URL with its password, or a password libpq finds."""
    if url.get_backend_name() != "postgresql" or url.password or url.query.get("password"):
        return ""
    if os.environ.get("PGPASSWORD") or Path(os.environ.get("PGPASSFILE") or "~/.pgpass").expanduser().is_file():
        return ""
    return ("the URL has no password (a sweep records none) and neither PGPASSWORD nor ~/.pgpass gives one: "
            "set PGPASSWORD or add a ~/.pgpass line for this server")


def check_kwargs(url: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The engine options of the first connection: the storage's, and a read time-out where the
    driver's connect time-out does not cover the login. Only for it: the sweep's own queries may
    wait longer on a lock held by another sweep process (InnoDB waits 50 s by default)."""
    if url.get_driver_name() not in READ_TIMEOUT_DRIVERS or "read_timeout" in url.query:
        return kwargs
    timeout = kwargs.get("connect_args", {}).get("connect_timeout", CONNECT_TIMEOUT_S)
    return {**kwargs, "connect_args": {**kwargs.get("connect_args", {}), "read_timeout": timeout}}


def _rdb_storage(url: str, shown: str, kwargs: dict[str, Any]) -> Any:
    from optuna.exceptions import StorageInternalError
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(OPEN_ATTEMPTS):
        try:
            return RDBStorage(url, engine_kwargs=dict(kwargs))
        except (SQLAlchemyError, StorageInternalError) as exc:
            # the server answered a moment ago: this is two sweep processes creating the tables of
            # an empty database at once, and one lost the race (sqlite: "UNIQUE constraint failed:
            # alembic_version"); the tables are there a moment later
            if attempt + 1 < OPEN_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise ConfigError(f"--storage {shown}: cannot set up Optuna's tables "
                              f"({scrubbed(_driver_line(exc), url)})") from None
        except Exception as exc:  # e.g. tables of a newer Optuna's schema
            raise ConfigError(f"--storage {shown}: {scrubbed(first_line(exc), url)}") from None
    raise AssertionError("unreachable")


def lost_line(exc: BaseException, url: str) -> str | None:
    """The one line for a database error while the sweep runs (the server stopped, the network
    went): Optuna says "invalid data in the commit, e.g. exceeding max length" for any of them,
    so the line gives the driver's own words; None for an error that is not the database's."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if not any(isinstance(e, (StorageInternalError, SQLAlchemyError)) for e in chain):
        return None
    driver = next((e for e in chain if getattr(e, "orig", None) is not None), exc)
    return (f"--storage {masked(url)}: the database failed during the sweep "
            f"({scrubbed(_driver_line(driver), url)}); its trials already started train on: run the same "
            "command again once the database is back, and it follows them")


def _driver_line(exc: BaseException) -> str:
    """The driver's own first line (SQLAlchemy wraps it with the SQL and a link to its docs)."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return first_line(exc)
    args = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"{first_line(Exception(args[1]))} [{args[0]}]"  # MySQL's (code, message), not its tuple
    return first_line(orig)
