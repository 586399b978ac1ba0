"""``--storage URL`` failures a user meets without any database server: a driver not installed, an
unknown database, a server that refuses or never answers; each one line naming the URL with its
password masked. (The sweeps on real PostgreSQL / MySQL servers are in test_sweep_processes.py.)"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator

import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.sweep import storage
from engine.sweep.storage import masked, open_rdb, scrubbed

SECRET = "s3cret-Pw"
SWEEP = ["sweep", "--name", "db", "--param", "learning_rate=log:1e-3:1e-2", "--trials", "1"]


def _error_line(capsys: pytest.CaptureFixture[str], tmp_path, url: str) -> str:
    assert main([*SWEEP, "--runs", str(tmp_path / "runs"), "--storage", url]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert SECRET not in err, err
    return err.strip()


@pytest.mark.parametrize("url, shown", [
    (f"postgresql+psycopg2://petseg:{SECRET}@db.example:5432/sweeps", "postgresql+psycopg2://petseg:***@db.example:5432/sweeps"),
    (f"mysql+pymysql://me:{SECRET}@127.0.0.1/db?charset=utf8mb4", "mysql+pymysql://me:***@127.0.0.1/db?charset=utf8mb4"),
    (f"postgresql://me@host/db?password={SECRET}&sslmode=require", "postgresql://me@host/db?password=***&sslmode=require"),
    ("postgresql://me@host:5432/db", "postgresql://me@host:5432/db"),  # no password: nothing to mask
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_the_password_of_a_url_is_masked(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_a_driver_message_that_echoes_the_password_is_scrubbed() -> None:
    url = "postgresql+psycopg2://me:p%40ss%2Fword@host/db"  # p@ss/word, percent-encoded as URLs need
    said = scrubbed("auth failed for me with p@ss/word (p%40ss%2Fword)", url)
    assert "p@ss" not in said and "p%40" not in said and said.count("***") == 2


@pytest.mark.parametrize("url, module, words", [
    ("postgresql+psycopg2://petseg:{pw}@127.0.0.1/db", "psycopg2",
     ["the PostgreSQL driver psycopg2 is not installed", "pip install psycopg2-binary", "petseg-tui[postgres]"]),
    ("mysql+pymysql://petseg:{pw}@127.0.0.1/db", "pymysql",
     ["the MySQL driver pymysql is not installed", "pip install PyMySQL", "petseg-tui[mysql]"]),
    # SQLAlchemy's default driver for a bare mysql:// needs a C build: the line says what to write instead
    ("mysql://petseg:{pw}@127.0.0.1/db", "MySQLdb",
     ["a bare mysql:// means the MySQLdb driver", "write mysql+pymysql://USER:PASS@HOST/DB"]),
], ids=["postgresql+psycopg2", "mysql+pymysql", "mysql"])
def test_a_missing_driver_is_one_line_with_the_pip_command(url: str, module: str, words: list[str], tmp_path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import MODULE` fails, installed or not
    line = _error_line(capsys, tmp_path, url.format(pw=SECRET))
    assert line.startswith(f"petseg: error: --storage {masked(url.format(pw=SECRET))}: "), line
    assert all(w in line for w in words), line


def test_a_bare_postgresql_url_names_the_driver_this_sqlalchemy_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy 2.0 takes psycopg2 for postgresql://, 2.1 psycopg (3): the line names the one it
    tried and the explicit URL that the extra serves."""
    for module in ("psycopg", "psycopg2"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError) as caught:
        open_rdb(f"postgresql://petseg:{SECRET}@127.0.0.1/db")
    line = str(caught.value)
    assert SECRET not in line and "driver" in line and "postgresql+psycopg2://" in line, line


def test_an_unknown_database_kind_is_one_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, tmp_path, f"postgres+nosuch://u:{SECRET}@h/d")
    assert "SQLAlchemy knows no database 'postgres+nosuch'" in line and "u:***@h" in line, line


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local port that accepts connections and never says a word (a hung or firewalled server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_a_server_that_is_down_is_one_line_at_once(closed_port: int, tmp_path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pymysql")
    start = time.monotonic()
    line = _error_line(capsys, tmp_path, f"mysql+pymysql://petseg:{SECRET}@127.0.0.1:{closed_port}/db")
    assert time.monotonic() - start < 5  # no retries on a refused connection
    assert f"mysql+pymysql://petseg:***@127.0.0.1:{closed_port}/db: cannot connect (" in line, line
    assert "Connection refused" in line and "[2003]" in line, line


@pytest.mark.timeout(30)  # the bug this guards against is a hang
@pytest.mark.parametrize("scheme, module", [("mysql+pymysql", "pymysql"), ("postgresql+psycopg2", "psycopg2")])
def test_a_server_that_never_answers_times_out(scheme: str, module: str, silent_server: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """PyMySQL's connect_timeout covers only the TCP connect: without a read time-out it waited
    for a silent server's greeting forever (found here). libpq times out the whole login, at 2 s
    at the least."""
    pytest.importorskip(module)
    monkeypatch.setattr(storage, "CONNECT_TIMEOUT_S", 2)
    start = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        open_rdb(f"{scheme}://petseg:{SECRET}@127.0.0.1:{silent_server}/db")
    assert time.monotonic() - start < 6
    line = str(caught.value)
    assert "cannot connect" in line and SECRET not in line, line


def test_a_url_that_sets_its_own_connect_timeout_keeps_it() -> None:
    from sqlalchemy.engine import make_url

    from engine.sweep.storage import engine_kwargs

    assert engine_kwargs(make_url("mysql+pymysql://u@h/d?connect_timeout=30")) == {"pool_pre_ping": True}
    assert engine_kwargs(make_url("postgresql+psycopg2://u@h/d"))["connect_args"] == {"connect_timeout": 10}
    assert engine_kwargs(make_url("sqlite:///x.db")) == {}


def test_a_database_lost_mid_sweep_is_one_line_in_the_drivers_words(tmp_path, capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna turns any failed commit into "invalid data in the commit, e.g. exceeding max length"
    (what a stopped PostgreSQL server gave, seen here); the line gives the driver's words instead
    and says that a re-run follows the trials still training."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import OperationalError

    from engine.sweep.scheduler import Scheduler

    def server_gone(self: Scheduler) -> None:
        try:
            raise OperationalError("UPDATE trials ...", {}, Exception("server closed the connection unexpectedly\n\tThis "
                                                                       "probably means ..."))
        except OperationalError as exc:
            raise StorageInternalError("An exception is raised during the commit. This typically happens due to "
                                       "invalid data in the commit, e.g. exceeding max length.") from exc

    monkeypatch.setattr(Scheduler, "run", server_gone)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert main([*SWEEP, "--runs", str(tmp_path / "runs"), "--storage", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"petseg: error: --storage {url}: the database failed during the sweep (server closed the "
                   "connection unexpectedly); its trials already started train on: run the same command again "
                   "once the database is back, and it follows them"), err


@pytest.mark.parametrize("kind", ["sqlite", "empty-sqlite", "journal"])
def test_show_never_creates_a_storage(kind: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """--show on a storage that holds no sweep is one line, and leaves no file (nor Optuna's
    tables in an empty database) behind: a typo in the path must not make a new empty storage."""
    where = tmp_path / "elsewhere"
    if kind == "journal":
        path, flag = where / "nosuch.journal", str(where / "nosuch.journal")
    else:
        path = where / "nosuch.db"
        flag = f"sqlite:///{path}"
        where.mkdir()
        if kind == "empty-sqlite":
            path.touch()
    assert main(["sweep", "--runs", str(tmp_path / "runs"), "--show", "tomlsw", "--storage", flag]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"petseg: error: --storage {flag}: ") and "\n" not in err, err
    if kind == "empty-sqlite":
        assert path.stat().st_size == 0
    else:
        assert not path.exists() and (kind != "journal" or not where.exists())
    assert not (tmp_path / "runs").exists()
