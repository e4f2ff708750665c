"""Chunked on-disk hand-off between ingestion stages.

Stages pass lists of records through pickle files of chunks, so a million-row file moves from
stage to stage without ever being held in memory whole, and the Dagster IO manager only carries
small manifests.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class SpoolWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()/__exit__

    def write(self, chunk: list[Any]) -> None:
        if chunk:
            pickle.dump(chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self.count += len(chunk)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_chunks(path: Path) -> Iterator[list[Any]]:
    with open(path, "rb") as handle:
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


def read_items(path: Path) -> Iterator[Any]:
    for chunk in read_chunks(path):
        yield from chunk


def write_items(path: Path, items: Iterable[Any], chunk_size: int = 50_000) -> int:
    with SpoolWriter(path) as writer:
        chunk: list[Any] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= chunk_size:
                writer.write(chunk)
                chunk = []
        writer.write(chunk)
        return writer.count
