"""A PostgreSQL set up the way managed services hand it over: Debian's `postgresql-NN` package
(a second major version beside the embedded 18), password authentication only, and leadflow's
database owned by a role that is neither superuser nor allowed to create roles or databases.

The tests run the deployment commands (`migrate`, `seed`, `import`, `run`, `report`, `demo`)
and the hostile-tenant tests against it as that owner; a separate superuser plays the DBA who
creates databases and, when asked, the roles `leadflow db roles --sql` prints. It is not one of
`leadflow local up`'s servers: nothing in the product knows about it.
"""

from __future__ import annotations

import glob
import os
import secrets
from pathlib import Path

import psycopg
from psycopg import sql

from leadflow import settings
from leadflow.platform.services.base import LOOPBACK, ServiceError
from leadflow.platform.services.postgres import PostgresService

SUPERUSER = "postgres"
OWNER = "leadflow_owner"
#: the major versions leadflow supports; the newest installed one is used
SUPPORTED = (14, 15, 16, 17, 18)


def installed_bin_dir() -> Path | None:
    """bin/ of Debian's newest installed postgresql-NN (LEADFLOW_MANAGED_PG_BIN overrides)."""
    explicit = settings.current().managed_pg_bin
    if explicit:
        return explicit if (explicit / "postgres").exists() else None
    found = [
        Path(path).parent
        for path in glob.glob("/usr/lib/postgresql/*/bin/postgres")
        if Path(path).parent.parent.name.isdigit()
        and int(Path(path).parent.parent.name) in SUPPORTED
    ]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


class ManagedPostgresService(PostgresService):
    """The system PostgreSQL as a managed service's customer sees it (see the module doc)."""

    name = "managed_postgres"
    external_env = ("LEADFLOW_MANAGED_PG_URL",)
    port_env = "LEADFLOW_MANAGED_PG_PORT"
    preferred_port = 55433

    @property
    def database(self) -> str:
        return "leadflow"

    @property
    def _secrets_file(self) -> Path:
        return self.home / "passwords"

    def passwords(self) -> dict[str, str]:
        """The superuser's and the owner's passwords (made on first start, kept beside the
        data: a local test server's, never a deployment's)."""
        if not self._secrets_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            values = {SUPERUSER: secrets.token_hex(16), OWNER: secrets.token_hex(16)}
            fd = os.open(self._secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write("\n".join(f"{k}={v}" for k, v in values.items()) + "\n")
        pairs = (line.split("=", 1) for line in self._secrets_file.read_text().splitlines())
        return {key: value for key, value in pairs}

    def bin_dir(self) -> Path:
        found = installed_bin_dir()
        if found is None:
            raise ServiceError(
                "managed_postgres: no Debian postgresql-NN server found under /usr/lib/postgresql"
                " (`make test` installs postgresql-15 with apt-get as root)"
            )
        return found

    def _url(self, state: dict) -> str:
        return self.url_for(state, OWNER, self.database)

    def url_for(self, state: dict, user: str, database: str) -> str:
        password = self.passwords()[user]
        return psycopg.conninfo.make_conninfo(
            host=LOOPBACK, port=state["port"], user=user, password=password, dbname=database
        )

    def admin_url(self, database: str = "postgres") -> str:
        """The superuser (the DBA) on `database`; the server must be running."""
        state = self.running_state()
        if state is None:
            raise ServiceError("managed_postgres is not running")
        return self.url_for(state, SUPERUSER, database)

    def _initdb_options(self) -> list[str]:
        return ["--auth=scram-sha-256", f"--pwfile={self._pwfile()}", "-U", SUPERUSER]

    def _pwfile(self) -> Path:
        """The superuser's password for initdb, readable by the server's OS user."""
        pwfile = self.home / "pwfile"
        pwfile.write_text(self.passwords()[SUPERUSER] + "\n")
        self._chown(pwfile)
        return pwfile

    def _server_options(self) -> dict[str, str]:
        return {
            "shared_buffers": "256MB",
            "max_wal_size": "2GB",
            "password_encryption": "scram-sha-256",
        }

    def _admin_url(self, state: dict) -> str:
        return self.url_for(state, SUPERUSER, "postgres")

    def _start(self, port: int) -> dict:
        try:
            return super()._start(port)
        finally:
            (self.home / "pwfile").unlink(missing_ok=True)

    def _prepare_database(self, admin: psycopg.Connection) -> None:
        """The owner (no superuser, no CREATEROLE, no CREATEDB) and its database."""
        if not admin.execute("select 1 from pg_roles where rolname = %s", (OWNER,)).fetchone():
            admin.execute(
                sql.SQL(
                    "create role {} login password {} nosuperuser nocreaterole nocreatedb"
                    " nobypassrls"
                ).format(sql.Identifier(OWNER), sql.Literal(self.passwords()[OWNER]))
            )
        if not admin.execute(
            "select 1 from pg_database where datname = %s", (self.database,)
        ).fetchone():
            self.create_database(admin, self.database)

    @staticmethod
    def create_database(admin: psycopg.Connection, name: str) -> None:
        """A database owned by the non-superuser owner, as a managed service creates it."""
        admin.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(name), sql.Identifier(OWNER)
            )
        )

    def _chown(self, path: Path) -> None:
        user = self._os_user()
        if user:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
