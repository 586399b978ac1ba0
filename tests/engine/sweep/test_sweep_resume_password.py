"""A sweep kept in a database records its storage URL without the password (`engine.sweep.where`),
so a resume (``petseg sweep --resume``, the dashboard's R) or ``--show`` of one on PostgreSQL logs
in with what libpq finds: PGPASSWORD, or a ~/.pgpass line. Without either, the one line that says
the server could not be reached (or refused the login) also says where the password goes (MySQL
has no such place: the line says to give the URL with it). Through the real drivers without a
database server: a port where nothing listens, and a stand-in server that asks for a password."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli import main
from engine.sweep.where import record_storage

HINT = ("the URL has no password (a sweep records none) and neither PGPASSWORD nor ~/.pgpass gives one: set "
        "PGPASSWORD or add a ~/.pgpass line for this server")
SECRET = "s3cret-Pw"


@pytest.fixture
def no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Neither PGPASSWORD nor a password file (libpq reads $PGPASSFILE instead of ~/.pgpass)."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no.pgpass"))
    return tmp_path / "no.pgpass"


@pytest.fixture
def asks_password() -> Iterator[int]:
    """A local port where a stand-in PostgreSQL server declines SSL and asks every client for a
    password (AuthenticationCleartextPassword), as a server with password logins does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def packet(conn: socket.socket) -> bytes:
        size = struct.unpack("!I", conn.recv(4))[0]
        return conn.recv(size - 4)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                body = packet(conn)
                while struct.unpack("!I", body[:4])[0] in (80877103, 80877104):  # SSL / GSS encryption: no
                    conn.sendall(b"N")
                    body = packet(conn)
                conn.sendall(b"R" + struct.pack("!II", 8, 3))
                conn.recv(1024)  # the password, if the client has one; then the server goes

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _resume_line(runs: Path, port: int, capsys: pytest.CaptureFixture[str], scheme: str = "postgresql+psycopg2") -> str:
    """``petseg sweep --resume pg`` of a sweep that recorded its PostgreSQL storage on ``port``
    (typed with a password, recorded without): its one line on stderr."""
    pytest.importorskip("pymysql" if scheme.startswith("mysql") else "psycopg2")
    record_storage(runs, "pg", f"{scheme}://petseg:{SECRET}@127.0.0.1:{port}/petseg")
    assert main(["sweep", "--runs", str(runs), "--resume", "pg"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and SECRET not in err, err
    return err.strip()


def test_a_resume_from_a_server_that_is_down_says_where_the_password_goes(
        no_password: Path, closed_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _resume_line(tmp_path / "runs", closed_port, capsys)
    assert line.startswith(f"petseg: error: sweep pg cannot be resumed from here: --storage "
                           f"postgresql+psycopg2://petseg@127.0.0.1:{closed_port}/petseg: cannot connect ("), line
    assert "Connection refused" in line and line.endswith(f"); {HINT}"), line


def test_a_resume_the_server_asks_a_password_of_says_where_it_goes(
        no_password: Path, asks_password: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What the user met: "fe_sendauth: no password supplied" and, from the dashboard's R or
    --resume, no word of PGPASSWORD or ~/.pgpass (--resume said "set PGPASSWORD" alone)."""
    line = _resume_line(tmp_path / "runs", asks_password, capsys)
    assert "fe_sendauth: no password supplied" in line and line.endswith(f"); {HINT}"), line


def test_show_says_it_too(no_password: Path, closed_port: int, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg2")
    record_storage(tmp_path / "runs", "pg", f"postgresql+psycopg2://petseg@127.0.0.1:{closed_port}/petseg")
    assert main(["sweep", "--runs", str(tmp_path / "runs"), "--show", "pg"]) == 1
    assert capsys.readouterr().err.strip().endswith(HINT)


@pytest.mark.parametrize("given", ["PGPASSWORD", "a password file"])
def test_no_such_words_once_libpq_has_a_password(given: str, no_password: Path, asks_password: int, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The login then fails for another reason (here the stand-in server goes), said alone."""
    if given == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", "wrong")
    else:
        no_password.write_text(f"127.0.0.1:{asks_password}:*:petseg:wrong\n")
        no_password.chmod(0o600)
    line = _resume_line(tmp_path / "runs", asks_password, capsys)
    assert "cannot connect (" in line and "PGPASSWORD" not in line and ".pgpass" not in line, line


def test_a_resume_of_a_mysql_sweep_says_to_give_the_url_with_its_password(
        no_password: Path, closed_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It said "or set PGPASSWORD", which no MySQL driver reads."""
    line = _resume_line(tmp_path / "runs", closed_port, capsys, scheme="mysql+pymysql")
    assert "PGPASSWORD" not in line and line.endswith(
        "(its record keeps no password: petseg sweep --resume pg --storage URL, with it, resumes it)"), line
