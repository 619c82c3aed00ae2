"""Reading a `data_dir`: `metadata.jsonl` plus audio files (the dataset card, "The `data_dir` layout").

Each line of `metadata.jsonl` holds a benchmark row's fields except `audio`, plus `file_name`, a path relative
to `data_dir` that must stay inside it. The same folder loads with `load_dataset("audiofolder")`. Everything
wrong is an error naming the line or the file: nothing is silently skipped.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence

from ..constants import DIMENSIONS, SPLITS, STYLES
from ..io import iter_jsonl
from .features import ROW_FIELDS

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.jsonl"
REQUIRED_FIELDS = ("id", "split", "dimension", "style", "text", "file_name")


class DataDirError(ValueError):
    """A `data_dir` that does not follow the layout; the message names the file and line."""


def read_metadata(data_dir: str | os.PathLike, dimensions: Sequence[str] = DIMENSIONS,
                  require_pairs: bool = True) -> list[dict]:
    """Read and check `data_dir/metadata.jsonl`, keeping the rows of `dimensions`.

    Args:
        data_dir (`str` or `os.PathLike`): the folder.
        dimensions (`Sequence[str]`, *optional*): dimensions to keep; rows of other known dimensions belong to
            other configs and are left out (that is the config's filter, not a skip).
        require_pairs (`bool`, *optional*, defaults to `True`): every `pair_id` must have exactly its two styles
            (benchmark configs); the construction pipeline drops whole pairs, so a half pair is an error.

    Returns:
        `list[dict]`: rows with every `ROW_FIELDS` field except `audio` (missing optional fields are `""`), plus
        `audio_path`, the checked absolute path of the audio file.

    Raises:
        `DataDirError`: a missing folder or metadata file, invalid JSON, a missing field, an unknown split,
            dimension or style, a `file_name` that escapes `data_dir`, a missing audio file, duplicate ids,
            incomplete pairs, or no rows at all for `dimensions`.
    """
    root = os.path.realpath(os.fspath(data_dir))
    if not os.path.isdir(root):
        raise DataDirError(f"data_dir {os.fspath(data_dir)!r} does not exist or is not a folder.")
    meta_path = os.path.join(root, METADATA_FILE)
    if not os.path.isfile(meta_path):
        raise DataDirError(
            f"data_dir {root!r} has no {METADATA_FILE}: expected one JSON object per line with the row fields "
            f"and a 'file_name' relative to data_dir (see the dataset card, 'data_dir layout')."
        )
    rows, extra_fields = [], set()
    for n, raw in _metadata_lines(meta_path):
        row = _check_row(raw, f"{meta_path}, line {n}", root)
        extra_fields |= set(raw) - set(ROW_FIELDS) - {"file_name"}
        if row["dimension"] in dimensions:
            rows.append(row)
    if extra_fields:
        logger.info("%s: fields not in the benchmark row are ignored: %s", meta_path, sorted(extra_fields))
    if not rows:
        raise DataDirError(f"{meta_path} has no rows for the dimension(s) {list(dimensions)}.")

    seen = {}
    for row in rows:
        if row["id"] in seen:
            raise DataDirError(f"{meta_path}: duplicate id {row['id']!r} ({seen[row['id']]} and {row['file_name']}).")
        seen[row["id"]] = row["file_name"]
    if require_pairs:
        _check_pairs(rows, meta_path)
    return rows


def _metadata_lines(meta_path: str):
    """`(line number, record)` of each line, read as it is checked (the first bad line is the one named); the reader's
    errors as `DataDirError`. The fields are checked by `_check_row`, which also checks their types."""
    try:
        yield from iter_jsonl(meta_path, "metadata file")
    except ValueError as e:
        raise DataDirError(str(e)) from None


def _check_row(raw: dict, where: str, root: str) -> dict:
    missing = [f for f in REQUIRED_FIELDS if not isinstance(raw.get(f), str) or not raw[f]]
    if missing:
        raise DataDirError(f"{where}: missing or empty field(s) {missing} (row id {raw.get('id')!r}).")
    rid = raw["id"]
    if raw["split"] not in SPLITS:
        raise DataDirError(f"{where}: row {rid!r} has split {raw['split']!r}; expected one of {list(SPLITS)}.")
    dim = raw["dimension"]
    if dim not in DIMENSIONS:
        raise DataDirError(f"{where}: row {rid!r} has unknown dimension {dim!r}; expected one of {list(DIMENSIONS)}.")
    if raw["style"] not in STYLES[dim]:
        raise DataDirError(
            f"{where}: row {rid!r} has style {raw['style']!r}, which is not a {dim} style {list(STYLES[dim])}."
        )
    file_name = raw["file_name"]
    path = os.path.realpath(os.path.join(root, file_name))
    if os.path.isabs(file_name) or os.path.commonpath([root, path]) != root:
        raise DataDirError(
            f"{where}: row {rid!r} has file_name {file_name!r}, which is not inside data_dir {root!r}; "
            f"file names must be relative paths inside data_dir."
        )
    if not os.path.isfile(path):
        raise DataDirError(f"{where}: row {rid!r}: audio file {file_name!r} not found in {root!r}.")
    row = {f: str(raw.get(f) or "") for f in ROW_FIELDS if f != "audio"}
    row["file_name"] = file_name
    row["audio_path"] = path
    return row


def _check_pairs(rows: list[dict], meta_path: str) -> None:
    pairs = defaultdict(list)
    for row in rows:
        if row["pair_id"]:
            pairs[(row["split"], row["pair_id"])].append(row)
    for (split, pair_id), members in pairs.items():
        styles = sorted(r["style"] for r in members)
        if len(members) != 2 or len(set(styles)) != 2:
            raise DataDirError(
                f"{meta_path}: pair {pair_id!r} ({split}) has the style(s) {styles}; a benchmark pair needs exactly "
                f"two different styles (rows {[r['id'] for r in members]})."
            )
        if len({r["text"] for r in members}) != 1:
            raise DataDirError(f"{meta_path}: the two rows of pair {pair_id!r} have different texts.")
