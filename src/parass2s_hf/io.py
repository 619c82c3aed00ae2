"""The one I/O module: JSONL files read with errors that name the line (`iter_jsonl`), crash-safe JSONL logs
(`JsonlLog`, with `repair`), atomic writes, content hashes of files (cached by modification time), paths that must stay
inside their folder, JSON and YAML files read with errors that name them, and the exclusive lock of a folder that one
process works in.

A run can be killed at any moment (`kill -9` included). Each finished item is one JSON line, written with a single
`write` and flushed to disk before the next item starts; a line cut short by a crash is the only damage a crash can
do, and it is dropped (and the file cut back to its last whole line) when the log is opened again. A damaged line
elsewhere (a disk fault, a hand edit) is an error naming the file and the line, unless the log is opened with
`repair=True`: the damaged lines then move to `<file>.rejected` and their items are redone.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence

logger = logging.getLogger(__name__)

REPAIR_ADVICE = "rerun with --repair to move the damaged line(s) to {rejected} and redo their items"


def parse_record(line: str) -> tuple[dict | None, str]:
    """One JSONL line as `(record, "")`, or `(None, why)` when it is not a JSON object."""
    try:
        record = json.loads(line)
    except ValueError as e:
        return None, f"not valid JSON: {e}"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not an object"
    return record, ""


def _numbered_records(lines: Iterable[str]) -> Iterator[tuple[int, str, dict | None, str]]:
    """`(line number, line, record, problem)` of each non-blank line (numbered from 1, blank lines counted), as
    `parse_record` reads it."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, line, *parse_record(line)


def _missing(record: dict, required: Sequence[str]) -> list[str]:
    """The `required` fields of `record` that are absent, `None` or a blank string."""
    return [name for name in required
            if record.get(name) is None or (isinstance(record[name], str) and not record[name].strip())]


def iter_jsonl(path: str | os.PathLike, what: str = "file", required: Sequence[str] = (), *,
               skip_damaged: bool = False) -> Iterator[tuple[int, dict]]:
    """`(line number, record)` of each record of a JSONL file (one JSON object a line), checked: the one reader of
    JSONL files that the program does not append to itself (for those, see `JsonlLog`).

    Records come one at a time, so a caller's own checks of a record run before the next line is read: of several
    problems, the one on the first line is named. Blank lines are skipped; line numbers count them, so a number is the
    line an editor shows. A leading byte-order mark is dropped. The file is never changed.

    Args:
        path (`str` or `os.PathLike`): the file.
        what (`str`, *optional*, defaults to `"file"`): what the file is, in messages (e.g. `"ratings file"`).
        required (`Sequence[str]`, *optional*, defaults to `()`): fields every record must have, neither `None` nor
            a blank string.
        skip_damaged (`bool`, *optional*, defaults to `False`): skip a line that is not a JSON object or lacks a
            `required` field instead of raising (and read bytes that are not UTF-8 as U+FFFD): for a cache, where
            such a line (e.g. one torn by a crash) only costs recomputing its value.

    Raises:
        `ValueError`: a missing file, one that is not UTF-8 text, a line that is not a JSON object, or a record
            without a `required` field; naming the file and, for a line, its number.

    Example:

    ```python
    >>> for line, row in iter_jsonl("metadata.jsonl", "metadata file", required=("id", "file_name")):
    ...     print(line, row)
    1 {'id': 'emotion-test-0001-happy', 'file_name': 'clips/emotion-test-0001-happy.wav'}
    ```
    """
    path = os.fspath(path)
    skipped = 0
    lines = _read_text(path, what, errors="replace" if skip_damaged else "strict").split("\n")
    for number, line, record, problem in _numbered_records(lines):
        if record is None and not problem.startswith("not valid JSON"):
            problem = f"expected a JSON object, got {type(json.loads(line)).__name__}"
        if not problem and (missing := _missing(record, required)):
            named = "" if "id" in missing or record.get("id") is None else f" (id {record['id']!r})"
            problem = f"missing or empty field(s) {missing}{named}; every line of the {what} needs {list(required)}"
        if not problem:
            yield number, record
        elif skip_damaged:
            skipped += 1
        else:
            raise ValueError(f"{path}, line {number}: {problem}.")
    if skipped:
        logger.debug("%s: skipped %d damaged line(s) of the %s", path, skipped, what)


def read_jsonl(path: str | os.PathLike, what: str = "file", required: Sequence[str] = (), *,
               skip_damaged: bool = False) -> list[dict]:
    """The records of a JSONL file, read whole: `iter_jsonl` (see there for the arguments) without line numbers."""
    return [record for _, record in iter_jsonl(path, what, required, skip_damaged=skip_damaged)]


class JsonlLog:
    """An append-only JSONL file of records, tolerant of a torn last line.

    Args:
        path (`str`): the file (need not exist).
        repair (`bool`, *optional*, defaults to `False`): move lines that are not valid JSON to `<path>.rejected`
            (their items are then redone) instead of raising.
    """

    def __init__(self, path: str | os.PathLike, repair: bool = False):
        self.path = os.fspath(path)
        self.repair = repair
        self.rejected_path = self.path + ".rejected"
        self._cut_torn_line()

    def _cut_torn_line(self) -> None:
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

    def _move_damaged(self, bad: list[tuple[int, str]]) -> None:
        with open(self.path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        numbers = {n for n, _ in bad}
        with open(self.rejected_path, "a", encoding="utf-8") as f:
            f.writelines(json.dumps({"line": number, "text": line.rstrip("\n")}) + "\n" for number, line in bad)
        write_atomic(self.path, "".join(line for n, line in enumerate(lines, 1) if n not in numbers).encode())
        logger.warning("%s: moved %d damaged line(s) to %s; their items will be redone", self.path, len(bad),
                       self.rejected_path)

    def __iter__(self) -> Iterator[dict]:
        if not os.path.exists(self.path):
            return
        records, bad = [], []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for number, line, record, problem in _numbered_records(f):
                if not problem:
                    records.append(record)
                elif self.repair:
                    bad.append((number, line))
                else:
                    raise ValueError(f"{self.path}, line {number}: not a valid record ({problem}); "
                                     + REPAIR_ADVICE.format(rejected=self.rejected_path) + ".")
        if bad:
            self._move_damaged(bad)
        yield from records

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
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, obj) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode())


def _read_text(path: str, what: str, errors: str = "strict") -> str:
    """The content of `path` as UTF-8 text (a leading byte-order mark dropped, any line end read as a newline); a missing
    file, or bytes that are not UTF-8, raise `ValueError` naming the file and `what` it is."""
    try:
        with open(path, encoding="utf-8-sig", errors=errors) as f:
            return f.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such {what}.") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e}); the {what} is damaged, or was saved in another "
                         f"encoding: save it as UTF-8.") from None


def read_json(path: str | os.PathLike, what: str = "file"):
    """A JSON file's content; `ValueError` naming the file (and `what` it is) when it is missing or damaged."""
    return _read_document(os.fspath(path), what, "JSON")


def read_yaml(path: str | os.PathLike, what: str = "file"):
    """A YAML file's content; `ValueError` naming the file (and the line) when it is missing or not valid YAML."""
    return _read_document(os.fspath(path), what, "YAML")


def _read_document(path: str, what: str, kind: str):
    import yaml

    text = _read_text(path, what)
    try:
        return json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except json.JSONDecodeError as e:  # the program's own files: damage, not a typo
        raise ValueError(f"{path}: the {what} is damaged, not valid JSON ({e}).") from None
    except yaml.YAMLError as e:  # written by hand: the line to fix
        mark = getattr(e, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{path}{at}: the {what} is not valid YAML ({problem}).") from None


# ---- paths ----

def resolve_inside(root: str | os.PathLike, relative: str, what: str = "file_name") -> str:
    """`root/relative` as an absolute path, refusing anything that leaves `root` (an absolute path, `..`, a symlink
    pointing out): a metadata file must not make the program read or copy files from elsewhere.

    Raises:
        `ValueError`: naming `what`, the value and the folder.
    """
    root = os.path.realpath(os.fspath(root))
    if not isinstance(relative, str) or not relative.strip():
        raise ValueError(f"{what} {relative!r} is empty; expected a path relative to {root}.")
    if os.path.isabs(relative):
        raise ValueError(f"{what} {relative!r} is an absolute path; expected a path relative to {root} that stays "
                         f"inside it.")
    full = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, full]) != root:
        raise ValueError(f"{what} {relative!r} leads outside {root}; expected a path that stays inside it.")
    return full


# ---- content hashes ----

_HASHES: dict | None = None
_HASH_LOCK = threading.Lock()
HASH_CHUNK = 1 << 20


def hash_cache_file() -> str:
    """Where file hashes are remembered between runs: `$PARASS2S_HASH_CACHE`, else under `$HF_HOME/parass2s_hf`."""
    explicit = os.environ.get("PARASS2S_HASH_CACHE")
    if explicit:
        return explicit
    from huggingface_hub import constants

    return os.path.join(constants.HF_HOME, "parass2s_hf", "file_hashes.jsonl")


def _hash_cache() -> dict:
    global _HASHES
    if _HASHES is None:
        _HASHES = {}
        path = hash_cache_file()
        if os.path.isfile(path):
            # A torn or foreign line is skipped: that file is hashed again.
            for entry in read_jsonl(path, "hash cache", required=("path", "size", "mtime_ns", "sha256"),
                                    skip_damaged=True):
                with contextlib.suppress(TypeError):  # a value that cannot be a key (a list): hashed again too
                    _HASHES[(entry["path"], entry["size"], entry["mtime_ns"])] = entry["sha256"]
    return _HASHES


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, read in chunks; remembered by (path, size, modification time), so a rerun does not
    hash unchanged files again and any change of content (even at the same size) gives a new hash."""
    path = os.path.realpath(os.fspath(path))
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        known = _hash_cache().get(key)
    if known:
        return known
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(HASH_CHUNK), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _hash_cache()[key] = value
        try:
            cache = hash_cache_file()
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            with open(cache, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": value})
                        + "\n")
        except OSError as e:  # a read-only cache folder costs speed, never correctness
            logger.debug("cannot remember the hash of %s (%s)", path, e)
    return value


def files_fingerprint(paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> str:
    """One hash of several files' contents and names (relative to `root` when given), order-independent."""
    digest = hashlib.sha256()
    entries = []
    for path in paths:
        name = os.path.relpath(os.fspath(path), os.fspath(root)) if root else os.fspath(path)
        entries.append((name, file_hash(path)))
    for name, value in sorted(entries):
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()[:16]


def folder_signature(root: str | os.PathLike) -> str:
    """One hash of every file under `root`: its relative path, size and modification time (what `datasets` keys its
    cache of local data files on). Cheap (a walk and a `stat` per file, no reading), and it changes when a file is
    edited, replaced, added or removed, so a cache keyed on it never outlives its inputs."""
    root = os.fspath(root)
    digest = hashlib.sha256()
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            entries.append(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()[:16]


# ---- the lock of a folder ----

class FolderLockedError(RuntimeError):
    """Another process holds the folder's lock; the message says who and how to clear a stale lock."""


class FolderLock:
    """An exclusive lock on a folder, held while one process works in it (`with FolderLock(folder): ...`).

    The lock is an `flock` on `<folder>/.lock`, which the system releases when the process ends, however it ends; the
    file records who holds it (pid, host, since when) for the message a second process gets.

    Args:
        folder (`str`): the folder (created when missing).
        what (`str`, *optional*, defaults to `"folder"`): what the folder is, in messages (e.g. `"run folder"`).
    """

    FILE = ".lock"

    def __init__(self, folder: str | os.PathLike, what: str = "folder", name: str | None = None):
        self.folder, self.what = os.path.abspath(os.fspath(folder)), what
        self.path = os.path.join(self.folder, name or self.FILE)
        self._file = None

    def acquire(self) -> FolderLock:
        import fcntl

        os.makedirs(self.folder, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            try:
                info = json.loads(holder)
                who = f"process {info['pid']} on {info['host']} since {info['since']}"
            except (ValueError, KeyError, TypeError):
                who = "another process"
            raise FolderLockedError(
                f"{self.folder} is in use: {who} holds its lock ({self.path}). Wait for it to finish, or use another "
                f"folder. If that process is gone (a lock on a network file system can outlive it), delete "
                f"{self.path} and start again.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            import fcntl

            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
