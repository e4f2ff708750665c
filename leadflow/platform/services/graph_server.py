"""Entry point of the local Bolt graph server process (run by GraphService, not by hand)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--bolt-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--database", default="neo4j")
    parser.add_argument("--heap", default="2g")
    args = parser.parse_args()

    from arcadedb_embedded.server import ArcadeDBServer

    Path(args.root).mkdir(parents=True, exist_ok=True)
    server = ArcadeDBServer(
        root_path=args.root,
        root_password=args.password,
        config={
            "host": "127.0.0.1",
            "http_port": args.http_port,
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": args.bolt_port,
        },
        jvm_kwargs={"heap_size": args.heap},
    )
    server.start()
    # A query before any database exists hangs; create it before announcing readiness.
    server.create_database(args.database)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    (Path.cwd() / "ready").write_text("ready\n")
    print(f"leadflow graph server ready: bolt://127.0.0.1:{args.bolt_port}", flush=True)
    stop.wait()
    (Path.cwd() / "ready").unlink(missing_ok=True)
    server.stop()
    print("leadflow graph server stopped", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
