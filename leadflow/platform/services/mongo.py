"""Local MongoDB-wire server: `nx-27017` (MongoDB wire protocol over SQLite).

CRUD, indexes and `find` with filters, sorts and datetime ranges work with pymongo; `aggregate`
with a `$match` on datetimes does not, so the pipeline extracts with `find` only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from leadflow.platform.services.base import (
    LOOPBACK,
    LocalService,
    ServiceError,
    missing_local_extra,
    port_accepts,
    wait_for,
)


def _server_binary() -> str:
    local = Path(sys.executable).parent / "nx-27017"
    if local.exists():
        return str(local)
    found = shutil.which("nx-27017")
    if not found:
        raise missing_local_extra("nx-27017")
    return found


class MongoService(LocalService):
    name = "mongo"
    external_env = ("MONGO_URL",)
    port_env = "LEADFLOW_MONGO_PORT"
    preferred_port = 57017

    def _url(self, state: dict) -> str:
        return f"mongodb://{LOOPBACK}:{state['port']}/"

    def _start(self, port: int) -> dict:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        cmd = [
            _server_binary(),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--log-file",
            str(self.log_file),
            "--pid-file",
            str(self.home / "nx-27017.pid"),
        ]
        with open(self.home / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                start_new_session=True,
            )

        def ready() -> bool:
            if proc.poll() is not None:
                raise ServiceError(
                    f"nx-27017 exited with {proc.returncode} while starting; see {self.log_file}"
                )
            return port_accepts(port)

        wait_for(ready, 60, "the MongoDB-wire server to listen")
        return {"pid": proc.pid, "port": port}

    def _stop(self, state: dict) -> None:
        super()._stop(state)
        wait_for(lambda: not port_accepts(state["port"]), 20, "the MongoDB port to close")
