"""
A throw-away PostgreSQL server for tests: `PostgresServer` uses the server a URL names
(``EXECFSM_TEST_POSTGRES``) or starts a private cluster (``initdb`` into a temporary
directory, trust authentication, 127.0.0.1 on a free port, fsync on), and hands out a fresh
database per test (``CREATE DATABASE … TEMPLATE``, fast).

As root (``initdb`` refuses root) the cluster runs as the ``postgres`` user, in a directory
it owns.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import psycopg

__all__ = ["PostgresServer", "ServerUnavailable"]

ENV_URL = "EXECFSM_TEST_POSTGRES"
"""A URL of a server the tests may create databases on (its user needs CREATEDB)."""

_BIN_DIRS = tuple(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started; the message says why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in _BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    raise ServerUnavailable(f"no {name} binary (install PostgreSQL, or set {ENV_URL})")


class PostgresServer:
    """
    A server to make test databases on: the one `ENV_URL` names, else a private cluster
    started now (and stopped by `stop`).

    Raises:
        ServerUnavailable: Neither works; the message says why.
    """

    def __init__(self, url: str | None = None) -> None:
        self._dir: Path | None = None
        self._counter = itertools.count(1)
        url = url if url is not None else os.environ.get(ENV_URL)
        self.url = url if url else self._start_cluster()
        """The URL of the server's maintenance database."""
        self._admin = self._connect(self.url)

    @staticmethod
    def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            why = " ".join(str(exc).split())  # one line
            raise ServerUnavailable(f"cannot connect to the test server: {why}") from None

    def _start_cluster(self) -> str:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        as_root = os.geteuid() == 0
        # As root the cluster runs as postgres, which must reach its folder: under /tmp, not a
        # TMPDIR inside a home only root may enter.
        self._dir = Path(tempfile.mkdtemp(prefix="execfsm-pg-", dir="/tmp" if as_root else None))  # noqa: S108 - mkdtemp: private
        data = self._dir / "data"
        port = _free_port()
        runner: list[str] = []
        if as_root:
            runner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self._dir, "postgres", "postgres")
            self._dir.chmod(0o700)
        try:
            subprocess.run(  # noqa: S603 - fixed binaries and arguments
                [*runner, initdb, "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "UTF8"],
                check=True,
                capture_output=True,
                timeout=120,
            )
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={port} "
                f"-c unix_socket_directories={self._dir} -c fsync=on -c max_connections=200"
            )
            subprocess.run(  # noqa: S603
                [
                    *runner,
                    pg_ctl,
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(self._dir / "log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                check=True,
                capture_output=True,
                timeout=90,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            self._remove_dir()
            raise ServerUnavailable(
                f"cannot start a private PostgreSQL cluster: {exc} "
                f"{detail.decode(errors='replace').strip()[-300:]}"
            ) from None
        self._runner = runner
        self._pg_ctl = pg_ctl
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def database(self, prefix: str = "t") -> str:
        """
        A new empty database (owned by the server's user); its URL.
        """
        name = f"execfsm_{prefix}_{os.getpid()}_{next(self._counter)}"
        self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(path="/" + name))

    def drop(self, url: str) -> None:
        """
        Drop the database `url` names (its connections are ended first).
        """
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        with contextlib.suppress(psycopg.Error):
            self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """
        Close the admin connection; stop and remove a private cluster.
        """
        with contextlib.suppress(psycopg.Error):
            self._admin.close()
        if self._dir is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(  # noqa: S603
                [
                    *self._runner,
                    self._pg_ctl,
                    "-D",
                    str(self._dir / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
                timeout=60,
            )
        self._remove_dir()

    def restart(self) -> None:
        """
        Restart a private cluster (fast shutdown: every connection is ended).
        """
        if self._dir is None:
            raise ServerUnavailable("only a private cluster is restarted by the tests")
        with contextlib.suppress(psycopg.Error):
            self._admin.close()
        subprocess.run(  # noqa: S603
            [
                *self._runner,
                self._pg_ctl,
                "-D",
                str(self._dir / "data"),
                "-m",
                "fast",
                "-l",
                str(self._dir / "log"),
                "-w",
                "restart",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self._admin = self._connect(self.url)
                return
            except ServerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _remove_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
