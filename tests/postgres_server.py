"""A throwaway PostgreSQL server for the tests and the benchmarks.

Debian's server binaries (``/usr/lib/postgresql/<version>/bin``, package ``postgresql``; the
Makefile installs it when missing and apt is usable) run a new cluster in a temporary folder,
listening on 127.0.0.1 at a free port, with trust authentication and no fsync, until stopped.
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user.

Example::

    with PostgresServer() as url:  # "postgresql+psycopg2://postgres@127.0.0.1:PORT/postgres"
        optuna.create_study(storage=url)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


class PostgresUnavailable(RuntimeError):
    """No server could be started here; the message says why."""


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's newest version, else the PATH."""
    folders = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
    )
    on_path = shutil.which("pg_ctl")
    for folder in [*reversed(folders), *([str(Path(on_path).parent)] if on_path else [])]:
        if all(os.access(Path(folder) / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


class PostgresServer:
    """Start with ``start()`` (returns the SQLAlchemy URL), stop with ``stop()``; or ``with``."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self._as_owner: list[str] = []
        self._pg_ctl: Path | None = None

    def start(self) -> str:
        try:
            import psycopg2  # noqa: F401
        except ImportError as error:
            raise PostgresUnavailable(
                f"no PostgreSQL driver ({error}): pip install psycopg2-binary (dev extras)"
            ) from None
        binaries = server_binaries()
        if binaries is None:
            raise PostgresUnavailable(
                "no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql "
                "package (make test does so as root where apt works)"
            )
        self._pg_ctl = binaries / "pg_ctl"
        self.folder = Path(tempfile.mkdtemp(prefix="lightning-carbon-pg-"))
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                self.stop()
                raise PostgresUnavailable(
                    "running as root and there is no 'postgres' user to own the server"
                ) from None
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        port = _free_port()
        options = (
            f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        data = self.folder / "data"
        self._run(
            binaries / "initdb",
            *("-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"),
            "--no-sync",
        )
        self._run(self._pg_ctl, "-D", data, "-l", self.folder / "log", "-w", "-t", "60", "-o",
                  options, "start")  # fmt: skip
        return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self.folder is None:
            return
        if self._pg_ctl is not None and (self.folder / "data" / "postmaster.pid").exists():
            subprocess.run(
                [*self._as_owner, self._pg_ctl, "-D", self.folder / "data", "-m", "immediate",
                 "-w", "stop"],
                capture_output=True,
                check=False,
            )  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, *command: object) -> None:
        try:
            done = subprocess.run(
                [*self._as_owner, *map(str, command)], capture_output=True, text=True, check=False
            )
        except OSError as error:
            self.stop()
            raise PostgresUnavailable(f"cannot run {command[0]}: {error}") from None
        if done.returncode != 0:
            log = self.folder / "log" if self.folder else None
            detail = (done.stderr or done.stdout).strip()[-500:]
            if log is not None and log.exists():
                detail += " | log: " + log.read_text()[-500:]
            self.stop()
            raise PostgresUnavailable(
                f"{Path(str(command[0])).name} failed (exit {done.returncode}): {detail}"
            )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server for the whole session, or a skip that says why there is none."""
    server = PostgresServer()
    try:
        url = server.start()
    except PostgresUnavailable as reason:
        pytest.skip(f"PostgreSQL server unavailable: {reason}")
    try:
        yield url
    finally:
        server.stop()
