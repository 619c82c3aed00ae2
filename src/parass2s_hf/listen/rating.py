"""What a rater rates and where each rating goes: the (run, id, sample) items of evaluation runs, and the rater's file.

An item is one judged response of a run (`results.jsonl`), with its query from the run's own benchmark config. The
items of all runs are pooled, capped per (system, dimension), and shuffled with a seed per rater, so two raters see the
same items in different orders and nothing in the order tells the systems apart. The page shows neither the system
nor the judge's score.

Each rating is one JSON line appended to `<output>/<rater>.jsonl` the moment it is given, in the format
`parass2s validate-judge --ratings <output>` reads: `id`, `sample`, `system`, `run`, `dimension`, `human_score`,
`rater`, `comment`, `time`. Undo rewrites the file without its last line (atomically), so every line is a live rating
and a reopened page resumes after the last one.
"""

from __future__ import annotations

import os
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from ..io import iter_jsonl, read_json, write_atomic

RATER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A rater's name is the name of their file: letters, digits, `-` and `_`."""
RATED_STATUSES = ("ok", "empty_response")
"""Items with a response to listen to (a system error or unusable audio has none)."""


def check_rater(rater: str) -> str:
    """`rater`, or `ValueError` when it is not a usable name (it names the rater's file)."""
    if not isinstance(rater, str) or not RATER_NAME.fullmatch(rater):
        raise ValueError(f"--rater {rater!r}: a rater's name is required, 1-64 letters, digits, '-' or '_' (it names "
                         f"the rater's ratings file).")
    return rater


def run_items(run_dir: str) -> list[dict]:
    """The ratable items of one evaluation run folder: its finished results with a response file inside the folder.

    Raises:
        `ValueError`: the folder is not a finished evaluation run (no `run.json` or `results.jsonl`).
    """
    from ..validation.ratings import run_name

    run_dir = os.path.abspath(run_dir)
    for name in ("run.json", "results.jsonl"):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise ValueError(f"--run {run_dir}: no {name}; expected a folder written by `parass2s evaluate`.")
    run = read_json(os.path.join(run_dir, "run.json"), "run file")
    manifest_path = os.path.join(run_dir, "manifest.json")
    manifest = read_json(manifest_path, "manifest") if os.path.isfile(manifest_path) else {}
    system = run_name(run_dir, manifest)
    fingerprints = (run.get("system_fingerprint"), run.get("judge_fingerprint"))
    items = {}
    for _, record in iter_jsonl(os.path.join(run_dir, "results.jsonl"), "results file"):
        if (record.get("system_fingerprint"), record.get("judge_fingerprint")) != fingerprints:
            continue  # lines of other settings, which the run's report ignores too
        if record.get("status") not in RATED_STATUSES or not record.get("response_path"):
            continue
        path = os.path.realpath(os.path.join(run_dir, record["response_path"]))
        if os.path.commonpath([path, os.path.realpath(run_dir)]) != os.path.realpath(run_dir):
            continue  # a response must lie inside its run: the page serves nothing else
        items[(record["id"], int(record["sample"]))] = {
            "run": run_dir, "system": system, "id": record["id"], "sample": int(record["sample"]),
            "dimension": record.get("subset") or record.get("dimension"), "style": record.get("style"),
            "response": path, "dataset": run.get("dataset") or {}}
    return list(items.values())


def select_items(runs: Sequence[str], rater: str, per_group: int | None = None, seed: int = 0) -> list[dict]:
    """The items a rater rates: every run's items, at most `per_group` per (system, dimension) (the same ones for
    every rater: drawn with `seed`), in an order shuffled with `seed` and the rater's name.

    Raises:
        `ValueError`: no run, a folder that is not an evaluation run, or runs with nothing to rate.
    """
    check_rater(rater)
    if not runs:
        raise ValueError("give at least one --run folder to rate.")
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for run_dir in runs:
        for item in run_items(run_dir):
            groups[(item["system"], item["dimension"])].append(item)
    chosen = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda i: (i["id"], i["sample"]))
        if per_group is not None and len(group) > per_group:
            group = random.Random(f"{seed}:{key}").sample(group, per_group)
        chosen += group
    if not chosen:
        raise ValueError(f"nothing to rate in {list(runs)}: no finished item with a response.")
    chosen.sort(key=lambda i: (i["system"], i["id"], i["sample"]))
    random.Random(f"{seed}:{rater}").shuffle(chosen)
    return chosen


class RatingLog:
    """A rater's ratings file, `<folder>/<rater>.jsonl`: one rating a line, appended at once.

    Args:
        folder (`str`): the ratings folder (created when missing).
        rater (`str`): the rater's name.
    """

    def __init__(self, folder: str, rater: str):
        self.rater = check_rater(rater)
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"{rater}.jsonl")

    def ratings(self) -> list[dict]:
        """The live ratings, oldest first."""
        if not os.path.isfile(self.path):
            return []
        return [record for _, record in iter_jsonl(self.path, "ratings file")]

    def rated_keys(self) -> set[tuple]:
        """(system, id, sample) of every rated item: a reopened page skips them."""
        return {(r["system"], r["id"], int(r["sample"])) for r in self.ratings()}

    def add(self, item: dict, score: int, comment: str = "") -> dict:
        """Append one rating of `item` (1-5) and return it."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ValueError(f"a rating is a whole number from 1 to 5, got {score!r}.")
        import json

        rating = {"id": item["id"], "sample": item["sample"], "system": item["system"], "run": item["run"],
                  "dimension": item["dimension"], "human_score": score, "rater": self.rater,
                  "comment": (comment or "").strip(), "time": datetime.now(UTC).isoformat(timespec="seconds")}
        with open(self.path, "a", encoding="utf-8") as f:  # one line, flushed: a closed tab loses nothing
            f.write(json.dumps(rating, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return rating

    def undo(self) -> dict | None:
        """Remove the last rating (the file rewritten atomically without it); returns it, or `None` when empty."""
        import json

        ratings = self.ratings()
        if not ratings:
            return None
        last = ratings.pop()
        write_atomic(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ratings).encode("utf-8"))
        return last
