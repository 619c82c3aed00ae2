"""Crash-safe files of a run folder: append-only JSONL logs and atomically written files.

A run can be killed at any moment (`kill -9` included). Each finished item is one JSON line, written with a single
`write` and flushed to disk before the next item starts; a line cut short by a crash is the only damage possible, and
it is dropped (and the file cut back to its last whole line) when the log is opened again. Audio and JSON files are
written to a temporary name and renamed into place, so a file that exists is whole.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

logger = logging.getLogger(__name__)


class JsonlLog:
    """An append-only JSONL file of records, tolerant of a torn last line."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._repair()

    def _repair(self) -> None:
        """Cut a trailing partial line (a write interrupted by a crash)."""
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if not data or data.endswith(b"\n"):
                return
            keep = data.rfind(b"\n") + 1
            logger.warning("%s: dropping a partial last line (%d bytes) left by an interrupted run", self.path,
                           len(data) - keep)
            f.truncate(keep)

    def __iter__(self) -> Iterator[dict]:
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{self.path}, line {number}: not valid JSON ({e}); the run folder is damaged: "
                                     f"delete that line or start again with --overwrite.") from None

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: readers never see a partial file."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, obj) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode())
