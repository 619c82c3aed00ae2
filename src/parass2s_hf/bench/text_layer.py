"""The ParaS2SBench text layer: one record per text, shipped as `data/text_layer.jsonl`.

A record (docs/architecture.md, "Text layer record") holds the neutral query text, the two contrasting styles and, for
each style, the requirement note the judge reads and a reference reply with its speaking style. The builder
renders each record into two benchmark rows, one per style.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources

from ..constants import DIMENSIONS
from ..io import read_jsonl
from .text_lint import check_record

TEXT_LAYER_FILE = "text_layer.jsonl"
EXPECTED_COUNTS = {**{("test", d): 300 for d in DIMENSIONS}, **{("train", d): 100 for d in DIMENSIONS}}
"""Size of the full text layer: 300 test texts and 100 train texts per dimension."""


def text_layer_path() -> str:
    """Path of the shipped text layer file."""
    return str(resources.files(__package__).joinpath("data", TEXT_LAYER_FILE))


def read_text_layer(path: str | os.PathLike | None = None) -> list[dict]:
    """Read and check a text layer file (the shipped one by default).

    Raises:
        `ValueError`: a record that fails `text_lint.check_record`, naming the record and the problem.
    """
    path = os.fspath(path) if path is not None else text_layer_path()
    records = read_jsonl(path)
    problems = [p for rec in records for p in check_record(rec)]
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ValueError(f"Invalid text layer {path}: " + "; ".join(problems[:5]) + more)
    return records


def text_layer_hash(path: str | os.PathLike | None = None) -> str:
    """SHA-256 of the text layer file, part of the builder's cache key."""
    with open(os.fspath(path) if path is not None else text_layer_path(), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def record_rows(record: Mapping) -> Iterator[dict]:
    """The benchmark rows (without audio, voice and source) of a text layer record, one per style."""
    for style in record["styles"]:
        entry = record["per_style"][style]
        yield {
            "id": f"{record['pair_id']}-{style}",
            "pair_id": record["pair_id"],
            "split": record["split"],
            "dimension": record["dimension"],
            "style": style,
            "text": record["text"],
            "topic": record["topic"],
            "scenario": record["scenario"],
            "requirement": entry["requirement"],
            "reference_reply": entry["reference_reply"],
            "reference_reply_style": entry["reference_reply_style"],
        }


def select(records: Sequence[Mapping], dimensions: Sequence[str], split: str) -> list[Mapping]:
    return [r for r in records if r["dimension"] in dimensions and r["split"] == split]
