"""`compare_runs`: one leaderboard (table and figure) over several evaluation runs, in the Table-4 layout."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import numpy as np

from ..stats import markdown_table
from .plots import plot_leaderboard
from .records import SUBSETS
from .report import DASH, LAYOUT, LAYOUT_LABELS, _fmt, _round


def _sort_key(rows):
    for key in ("overall", "synthetic_average"):
        if all(r["columns"][key]["mean"] is not None for r in rows):
            return LAYOUT_LABELS[key], lambda r, key=key: r["columns"][key]["mean"]

    def present_mean(r):
        means = [r["columns"][s]["mean"] for s in SUBSETS if r["columns"][s]["mean"] is not None]
        return float(np.mean(means)) if means else -math.inf

    return "mean of present subsets (runs may cover different subsets)", present_mean


def _distinct_labels(rows: list[dict]) -> None:
    """Rows whose labels clash (three runs of one system type are all "cascade") are labelled by their folder name,
    or by their path where folder names clash too."""
    for name in ("label", "folder"):
        seen: dict[str, int] = {}
        for r in rows:
            seen[r["label"]] = seen.get(r["label"], 0) + 1
        if all(n == 1 for n in seen.values()):
            return
        for r in rows:
            if seen[r["label"]] > 1:
                r["label"] = (os.path.basename(os.path.normpath(r["run_dir"])) if name == "label"
                              else os.path.normpath(r["run_dir"]))


def _items(row: dict, most: int | None) -> str:
    """Items scored (of planned), starred when fewer than the largest run's."""
    if row["items"] is None:
        return "?"
    text = str(row["items"]) if row["planned"] in (None, row["items"]) else f"{row['items']} of {row['planned']}"
    return text + (" *" if most is not None and row["items"] < most else "")


def compare_runs(run_dirs: Sequence, output_dir=None) -> dict:
    """Leaderboard over evaluation runs, one row per run, in the Table-4 layout (the `score` metric, with intervals).

    Args:
        run_dirs (`Sequence[str | os.PathLike]`): run folders, each holding `report.json` (and `manifest.json`
            if present).
        output_dir (`str` or `os.PathLike`, *optional*): where to write `leaderboard.md`, `leaderboard.json` and
            `leaderboard.png`.

    Returns:
        `dict`: `markdown`, `rows` (label, run_dir, system, judge_fingerprint, columns, sort_value; best first),
        `sorted_by`, `comparable` (`False` when judge fingerprints differ) and `paths` (empty without `output_dir`).

    Raises:
        `ValueError`: no run folders, or one without `report.json`.
    """
    if not run_dirs:
        raise ValueError("compare_runs needs at least one run folder.")
    rows = []
    for run_dir in run_dirs:
        run_dir = os.fspath(run_dir)
        path = os.path.join(run_dir, "report.json")
        if not os.path.isfile(path):
            raise ValueError(f"run folder {run_dir!r} has no report.json: it is not an evaluation run, or its run "
                             f"has not finished (rerun `parass2s evaluate` with the same arguments to finish it, or "
                             f"`parass2s report {run_dir}` to rebuild the report of a finished one).")
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        manifest = {}
        if os.path.isfile(os.path.join(run_dir, "manifest.json")):
            with open(os.path.join(run_dir, "manifest.json"), encoding="utf-8") as f:
                manifest = json.load(f)
        empty = {k: {"mean": None, "ci": None, "n": 0} for k in LAYOUT}
        total = (report.get("counts") or {}).get("total") or {}
        rows.append({"label": manifest.get("label") or os.path.basename(os.path.normpath(run_dir)), "run_dir": run_dir,
                     "items": total.get("items_scored"), "planned": total.get("planned"),
                     "dataset_version": (manifest.get("dataset") or {}).get("version"),
                     "system": (manifest.get("system") or {}).get("name"),
                     "judge_fingerprint": (manifest.get("judge") or {}).get("fingerprint")
                     or report.get("judge_fingerprint"),
                     "columns": {**empty, **((report.get("score") or {}).get("columns") or {})}})
    _distinct_labels(rows)
    sorted_by, key = _sort_key(rows)
    for r in rows:
        r["sort_value"] = _round(key(r))
    rows.sort(key=lambda r: (-key(r), r["label"]))
    fingerprints = sorted({r["judge_fingerprint"] for r in rows if r["judge_fingerprint"]})
    comparable = len(fingerprints) <= 1
    lines = ["# ParaS2SBench leaderboard", ""]
    if not comparable:
        lines += [(f"> **WARNING: NOT COMPARABLE.** The runs were scored by different judge configurations "
                   f"(fingerprints {', '.join(fingerprints)}): their scores are not comparable."), ""]
    unknown = [r["label"] for r in rows if not r["judge_fingerprint"]]
    if unknown:
        lines += [f"> Judge fingerprint unknown for {', '.join(unknown)}: comparability not checked for them.", ""]
    versions = sorted({r["dataset_version"] or "unknown" for r in rows})
    if len(versions) > 1:
        by_version = "; ".join(f"{v}: {', '.join(r['label'] for r in rows if (r['dataset_version'] or 'unknown') == v)}"
                               for v in versions)
        lines += [(f"> **Different ParaS2SBench versions** ({by_version}): the texts or voices of the benchmark "
                   f"changed between them, so the runs did not answer the same questions."), ""]
    sizes = sorted({r["items"] for r in rows if r["items"] is not None})
    if len(sizes) > 1:
        counts = ", ".join(f"{r['label']}: {r['items']}" for r in rows)
        lines += [(f"> **Runs of different size** ({counts} items "
                   f"scored): a smaller run ranks on fewer items (a wider interval) and, where it covers other items, "
                   f"on other questions; compare runs of the same plan. Marked * below."), ""]
    lines += [f"Sorted by {sorted_by}, best first. Cells: mean score [95% bootstrap interval]; {DASH}: absent.", ""]
    header = ["rank", "system"] + [LAYOUT_LABELS[k] for k in LAYOUT] + ["items", "judge"]
    most = sizes[-1] if sizes else None
    lines += markdown_table(header, [[i + 1, r["label"]] + [_fmt(r["columns"][k]) for k in LAYOUT]
                                     + [_items(r, most), (r["judge_fingerprint"] or "?")[:12]]
                                     for i, r in enumerate(rows)])
    lines += ["", "Run folders (report.md, results.jsonl, the responses): "
              + "; ".join(f"{r['label']}: `{r['run_dir']}`" for r in rows) + "."]
    markdown = "\n".join(lines) + "\n"
    paths = {}
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        paths = {name: os.path.join(output_dir, f"leaderboard.{ext}")
                 for name, ext in (("json", "json"), ("markdown", "md"), ("figure", "png"))}
        with open(paths["json"], "w", encoding="utf-8") as f:
            f.write(json.dumps({"sorted_by": sorted_by, "comparable": comparable, "layout": list(LAYOUT),
                                "rows": rows}, indent=2, allow_nan=False) + "\n")
        with open(paths["markdown"], "w", encoding="utf-8") as f:
            f.write(markdown)
        plot_leaderboard(rows, paths["figure"], layout=LAYOUT, labels=LAYOUT_LABELS)
    return {"markdown": markdown, "rows": rows, "sorted_by": sorted_by, "comparable": comparable, "paths": paths}
