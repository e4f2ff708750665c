"""`leadflow dbt docs --serve`: the site served on localhost (no dbt, no database here)."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from leadflow.cli.dbt import docs_server
from leadflow.cli.main import main


def test_docs_server_serves_the_site_directory(tmp_path: Path):
    (tmp_path / "static_index.html").write_text("<html>dbt docs</html>", encoding="utf-8")
    server = docs_server(tmp_path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static_index.html") as response:
            assert response.status == 200
            assert response.read() == b"<html>dbt docs</html>"
    finally:
        server.shutdown()
        server.server_close()


def test_docs_options_are_checked_before_any_work():
    runner = CliRunner()
    result = runner.invoke(main, ["dbt", "docs", "--serve", "--json"])
    assert result.exit_code == 2 and "choose one" in result.stderr
    result = runner.invoke(main, ["dbt", "docs", "--port", "70000"])
    assert result.exit_code == 2
