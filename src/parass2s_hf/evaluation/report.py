"""The evaluation report: the paper's Table-4 layout with bootstrap confidence intervals, failure counts, Markdown,
figures, and a leaderboard over several runs.

```python
>>> from parass2s_hf.evaluation.records import ItemRecord
>>> from parass2s_hf.evaluation.report import build_report, render_markdown
>>> records = [ItemRecord(f"age-{i}", 0, "sys", "judge", "age", "age", "child", "ok", score=3 + i % 2) for i in range(6)]
>>> report = build_report(records)
>>> report["score"]["columns"]["age"]["mean"], report["score"]["columns"]["overall"]["mean"]
(3.5, None)
>>> print(render_markdown(report).splitlines()[0])
# ParaS2SBench evaluation: system

```

How the numbers are made (records are one system and one judge configuration):
- a record's value is its `score` (or `score_expected`) when its status is in `SCORED_STATUSES` (an empty response
  counts as `SCORE_MIN`); other statuses have no value. An item (record id) is the mean over its samples that have a
  value; an item with none is missing: counted, never invented.
- a subset is the mean over its items, with a percentile bootstrap interval over items (`scipy.stats.bootstrap`,
  fixed seed: the same records give the same report byte for byte).
- the synthetic average is the mean of the four synthetic subset means, the real average the mean of IEMOCAP and MELD,
  the overall the mean of the six (as in the paper), each only when all its subsets are present; their intervals
  resample every subset independently.
- a cell whose items all have the same score (within each subset, for an average) has an interval of zero width: every
  resample gives the same mean. The cell keeps its numbers and carries `"constant": true`; the Markdown shows
  `3.000 (constant)` with a note, not an interval that looks like a bug.
- failures (`system_error`, `missing`, `invalid_input`, `empty_response`) are grouped by their reason with the parts
  that differ from item to item masked (the record id, numbers, quoted values, paths), so one cause is one group; the
  five most frequent groups per status are kept, each with its count, one real reason and a few example ids.
- the objective signals (duration, silence ratio, generation time, real-time factor; speaking rate and WER with an
  ASR pass; a quality model's score) are means over responses per subset and over all responses, with the responses
  flagged past the WER or silence threshold (`evaluation.signals`).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from ..constants import STYLES
from ..stats import bootstrap_interval, markdown_table
from .plots import plot_report
from .records import (
    REAL_SUBSETS,
    SCORED_STATUSES,
    STATUS_EMPTY,
    STATUS_INVALID,
    STATUS_MISSING,
    STATUS_OK,
    STATUS_SYSTEM_ERROR,
    STATUSES,
    SUBSETS,
    SYNTHETIC_SUBSETS,
    ItemRecord,
)
from .signals import signals_markdown, signals_section

__all__ = ["LAYOUT", "build_report", "plot_report", "reason_pattern", "render_markdown", "scores_table",
           "write_report"]

REPORT_VERSION = 1
LAYOUT = ("age", "emotion", "gender", "sarcasm", "synthetic_average", "iemocap", "meld", "real_average", "overall")
"""The columns of the paper's Table 4, in its order."""
LAYOUT_LABELS = {"age": "age", "emotion": "emotion", "gender": "gender", "sarcasm": "sarcasm",
                 "synthetic_average": "synth avg", "iemocap": "IEMOCAP", "meld": "MELD", "real_average": "real avg",
                 "overall": "overall"}
AVERAGES = {"synthetic_average": SYNTHETIC_SUBSETS, "real_average": REAL_SUBSETS, "overall": SUBSETS}
METRICS = ("score", "score_expected")
METRIC_LABELS = {"score": "score", "score_expected": "expected score"}
FAILURE_COLUMNS = ((STATUS_EMPTY, "empty responses"), (STATUS_SYSTEM_ERROR, "system errors"),
                   (STATUS_INVALID, "invalid inputs"), (STATUS_MISSING, "missing scores"))
FAILURE_STATUSES = (STATUS_SYSTEM_ERROR, STATUS_MISSING, STATUS_INVALID, STATUS_EMPTY)
"""The statuses of the report's failures section, in its order: the system's errors, the judge's missing scores, the
dataset's invalid inputs, and the empty responses (scored 1, but the system's failure all the same)."""
TOP_REASONS = 5
EXAMPLE_IDS = 3
REASON_CHARS = 500  # a reason can hold a model's whole raw answer: the report keeps its start
MARKDOWN_REASON_CHARS = 160
NO_REASON = "(no reason given)"
DECIMALS = 4
DASH = "—"
CONSTANT_NOTE = ("(constant): every item had the same score (in an average, every item of each of its subsets), so "
                 "every bootstrap resample gives the same mean and the interval has no width; it says nothing about "
                 "how certain the score is. A judge that always gives the same score (e.g. a tiny random model) does "
                 "this.")
EXPECTED_NOTE = ("Expected score (`score_expected`): the expected value of the score under the judge's token "
                 "probabilities of the scores 1-5 at the token where it writes its score (sum of s * p(s), the five "
                 "probabilities renormalised), a continuous version of the integer rubric score and the RL reward. It "
                 "is absent where the judge gives no token probabilities (e.g. an API without logprobs); an empty "
                 "response counts as 1.")

# What differs from item to item inside one cause: quoted values (a word boundary keeps "don't" whole), URLs, paths,
# long hex strings (hashes), and numbers. Applied in this order: a quoted path is one quoted value, a URL one URL.
_MASKS = ((re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|\"[^\"\n]*\""), "'…'"),
          (re.compile(r"\b[A-Za-z][\w+.-]*://[^\s'\"]+"), "<url>"),
          (re.compile(r"[\w.~-]*(?:/[\w.~%-]+)+/?"), "<path>"),
          (re.compile(r"\b[0-9a-fA-F]{8,}\b"), "<hex>"),
          (re.compile(r"\d+(?:\.\d+)?"), "#"))


def _round(x):
    return None if x is None or not math.isfinite(float(x)) else round(float(x), DECIMALS)


def _mean_of_means(*samples):
    """The mean of the samples' means along their last axis (vectorised for the bootstrap)."""
    return sum(np.mean(s, axis=-1) for s in samples) / len(samples)


def _cell(samples, boot):
    """`{"mean", "ci", "n"}` of the mean of the samples' means (`n` = items in all), with `"constant": True` when the
    interval has zero width because every sample is constant.

    The interval resamples each sample on its own, from `np.random.RandomState(seed)` (the report's stream since its
    first version: the same records and seed give the same numbers); a sample of one item has none (no spread to
    resample: say so rather than print a zero-width interval)."""
    if not samples or any(len(s) == 0 for s in samples):
        return {"mean": None, "ci": None, "n": 0}
    res = bootstrap_interval(samples, _mean_of_means, legacy_stream=True, **boot)
    cell = {"mean": _round(np.mean([s.mean() for s in samples])),
            "ci": None if res.ci is None else [_round(c) for c in res.ci], "n": int(sum(len(s) for s in samples))}
    if res.constant:
        cell["constant"] = True  # only on such cells: the others keep the report's original shape
    return cell


def reason_pattern(reason: str, item_id: str | None = None) -> str:
    """The cause in a failure's reason: the reason with the parts that differ from item to item masked, so that one
    cause over many items is one group.

    Args:
        reason (`str`): a record's `reason`.
        item_id (`str`, *optional*): the record's id, masked as `<id>` wherever the reason names it.

    Returns:
        `str`: the reason with the id as `<id>`, quoted values as `'…'`, URLs as `<url>`, paths as `<path>`, long hex
        strings as `<hex>` and numbers as `#`; `"(no reason given)"` for an empty reason.

    ```python
    >>> reason_pattern("RuntimeError: boom on age-017 after 3 tries", "age-017")
    'RuntimeError: boom on <id> after # tries'
    >>> reason_pattern("no score after 3 attempt(s): no digit in 'I think so'")
    "no score after # attempt(s): no digit in '…'"

    ```
    """
    text = " ".join(str(reason or "").split())
    if not text:
        return NO_REASON
    if item_id:
        text = text.replace(str(item_id), "<id>")  # before the number mask, which would cut an id into pieces
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _failures(keyed: dict) -> dict:
    """Per failure status: how many records, and the most frequent reasons (grouped by `reason_pattern`) with their
    counts (records, and distinct `items`), one real reason (the first record's, in id order) and up to
    `EXAMPLE_IDS` ids."""
    out = {}
    for status in FAILURE_STATUSES:
        groups = {}
        records = [keyed[k] for k in sorted(keyed) if keyed[k].status == status]  # sorted: the same report always
        for r in records:
            pattern = reason_pattern(r.reason, r.id)
            group = groups.setdefault(pattern, {"reason": _clip(" ".join(str(r.reason or "").split()), REASON_CHARS)
                                                or NO_REASON, "pattern": _clip(pattern, REASON_CHARS), "count": 0,
                                                "ids": []})
            group["count"] += 1
            if r.id not in group["ids"]:
                group["ids"].append(r.id)
        ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["pattern"]))
        shown, rest = ranked[:TOP_REASONS], ranked[TOP_REASONS:]
        out[status] = {"count": len(records),
                       "reasons": [{**g, "items": len(g["ids"]), "ids": g["ids"][:EXAMPLE_IDS]} for g in shown],
                       "more_reasons": len(rest), "more_count": sum(g["count"] for g in rest)}
    return out


def _value(record: ItemRecord, metric: str):
    value = getattr(record, metric)
    return None if record.status not in SCORED_STATUSES or value is None else float(value)


def _style_order(subset: str, styles) -> list:
    known = STYLES.get(subset, STYLES["emotion"] if subset in REAL_SUBSETS else ())
    return [s for s in known if s in styles] + sorted(s for s in styles if s not in known)


def _metric_section(metric, items, boot):
    """Per-subset, average and per-style cells for one metric, or `None` when no record has it."""
    values = {}
    for item_id, recs in items.items():
        vals = [v for v in (_value(r, metric) for r in recs) if v is not None]
        values[item_id] = float(np.mean(vals)) if vals else None
    if all(v is None for v in values.values()):
        return None
    per_subset, per_style = defaultdict(list), defaultdict(list)
    for item_id in sorted(items):  # sorted: the report does not depend on the records' order
        if values[item_id] is not None:
            first = items[item_id][0]
            per_subset[first.subset].append(values[item_id])
            per_style[(first.subset, first.style)].append(values[item_id])
    arrays = {s: np.asarray(per_subset[s]) for s in SUBSETS if per_subset.get(s)}
    columns, notes = {}, []
    for key in LAYOUT:
        parts = AVERAGES.get(key, (key,))
        if all(p in arrays for p in parts):
            columns[key] = _cell([arrays[p] for p in parts], boot)
        else:
            columns[key] = {"mean": None, "ci": None, "n": 0}
        if key in AVERAGES:
            columns[key]["subsets"] = list(parts)
    absent = [s for s in SUBSETS if s not in arrays]
    if absent:
        notes.append(f"{METRIC_LABELS[metric]}: absent subsets (no scored items): {', '.join(absent)}.")
        for key, parts in AVERAGES.items():
            if columns[key]["mean"] is None:
                need = "all six subsets" if key == "overall" else " and ".join(parts)
                notes.append(f"{METRIC_LABELS[metric]}: {LAYOUT_LABELS[key]} not given: it is the mean of {need}.")
    by_style = []
    for subset in SUBSETS:
        for style in _style_order(subset, {st for (sb, st) in per_style if sb == subset}):
            by_style.append({"subset": subset, "style": style, **_cell([np.asarray(per_style[(subset, style)])], boot)})
    scored = sum(v is not None for v in values.values())
    return {"columns": columns, "by_style": by_style, "absent": absent, "items_scored": scored,
            "items_missing": len(values) - scored, "notes": notes}


def _counts(subset_items, num_samples):
    recs = [r for rs in subset_items.values() for r in rs]
    status = Counter(r.status for r in recs)
    scored = sum(any(_value(r, "score") is not None for r in rs) for rs in subset_items.values())
    return {"records": len(recs), "items": len(subset_items), "items_scored": scored,
            "items_missing": len(subset_items) - scored,
            "items_incomplete": sum(len({r.sample for r in rs}) < num_samples for rs in subset_items.values()),
            "status": {s: status.get(s, 0) for s in STATUSES}}


def build_report(records: Sequence[ItemRecord], *, num_samples: int = 1, planned: int | None = None,
                 skipped: Sequence[str] = (), confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                 method: str = "percentile", signals: Mapping[tuple, Mapping] | None = None,
                 signal_settings: Mapping | None = None) -> dict:
    """Aggregate one run's judged items into the Table-4 report.

    Args:
        records (`Sequence[ItemRecord]`): the judged (record, sample) items of one system and one judge configuration.
        num_samples (`int`, *optional*, defaults to `1`): responses per record the run meant to judge; an item with fewer
            distinct samples is counted as incomplete (its mean is over the samples it has).
        planned (`int`, *optional*): how many (id, sample) keys the run meant to evaluate.
        skipped (`Sequence[str]`, *optional*): ids not evaluated (e.g. no precomputed response); listed and counted.
        confidence (`float`, *optional*, defaults to `0.95`): confidence level of the intervals.
        n_resamples (`int`, *optional*, defaults to `2000`): bootstrap resamples.
        seed (`int`, *optional*, defaults to `0`): the bootstrap's `random_state`.
        method (`str`, *optional*, defaults to `"percentile"`): `"percentile"` or `"BCa"` (falls back to percentile
            where BCa is undefined).
        signals (`Mapping[tuple, Mapping]`, *optional*): the records' `signals.jsonl` lines by (id, sample)
            (`evaluation.signals.signal_lines`); a record without one has its signals missing (`not_computed`).
        signal_settings (`Mapping`, *optional*): the run's `evaluation.signals.signal_settings`; without them the
            report has no `signals` (`None`).

    Returns:
        `dict`: JSON-serialisable (floats rounded to 4 decimals, `None` for what is not defined). Keys: `version`,
        `layout` and `layout_labels` (Table-4 column keys and headers), `score` and `score_expected` (per metric:
        `columns` {key: {mean, ci, n}, plus `"constant": true` where every item had the same score},
        `by_style`, `absent`, `items_scored`, `items_missing`, `notes`; `score_expected` is `None` when no record has
        one), `counts` (`total` and `per_subset`), `failures` (per status in `FAILURE_STATUSES`: `count` of records,
        `reasons` (the `TOP_REASONS` most frequent: `reason` (one real reason), `pattern` (what they share, see
        [`reason_pattern`]), `count` (records), `items` (distinct ids), `ids` (up to `EXAMPLE_IDS`, in id order)),
        `more_reasons` and `more_count` (the groups left out and their records)), `skipped` ({count, ids}), `notes`,
        `bootstrap`, `num_samples`, `planned`, `system_fingerprint`, `judge_fingerprint`, `signals` (see
        `evaluation.signals.signals_section`: per subset and `all`, each signal's mean and count, the missing ones by
        reason, the flagged responses; `None` without `signal_settings`).
    """
    if method not in ("percentile", "BCa"):
        raise ValueError(f"method={method!r}: use 'percentile' or 'BCa'.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r}: use a level between 0 and 1, e.g. 0.95.")
    if n_resamples < 1:  # the report always has intervals: no silent "0 resamples" report
        raise ValueError(f"n_resamples={n_resamples!r}: use 1 or more.")
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples!r}: use 1 or more.")
    keyed = {}
    for r in records:
        if r.subset not in SUBSETS:
            raise ValueError(f"record {r.id!r} has subset {r.subset!r}; allowed: {', '.join(SUBSETS)}.")
        if r.status not in STATUSES:
            raise ValueError(f"record {r.id!r} has status {r.status!r}; allowed: {', '.join(STATUSES)}.")
        keyed[(r.id, r.sample)] = r  # a repeated (id, sample) keeps its last record
    for attr in ("system_fingerprint", "judge_fingerprint"):
        found = sorted({getattr(r, attr) for r in keyed.values()})
        if len(found) > 1:
            raise ValueError(f"records mix {attr}s {found}: build one report per system and judge configuration.")
    items = defaultdict(list)
    for key in sorted(keyed):
        items[key[0]].append(keyed[key])
    for item_id, recs in items.items():
        if len({r.subset for r in recs}) > 1:
            raise ValueError(f"record {item_id!r} appears under subsets {sorted({r.subset for r in recs})}.")
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed, "method": method}
    sections = {m: _metric_section(m, items, boot) for m in METRICS}
    per_subset = {s: _counts({i: rs for i, rs in items.items() if rs[0].subset == s}, num_samples) for s in SUBSETS}
    total = _counts(items, num_samples)
    total["duplicates"] = len(records) - len(keyed)
    total["planned"] = planned
    skipped = sorted(set(skipped))
    total["skipped"] = len(skipped)
    notes = list(sections["score"]["notes"]) if sections["score"] else ["score: no record has a score."]
    if sections["score_expected"]:
        if not sections["score"] or sections["score_expected"]["absent"] != sections["score"]["absent"]:
            notes += sections["score_expected"]["notes"]
    else:
        notes.append("expected score: no record has one (the judge gives it only where it has logits).")
    first = next(iter(keyed.values()), None)
    return {
        "version": REPORT_VERSION,
        "layout": list(LAYOUT),
        "layout_labels": dict(LAYOUT_LABELS),
        "score": sections["score"],
        "score_expected": sections["score_expected"],
        "counts": {"total": total, "per_subset": per_subset},
        "failures": _failures(keyed),
        "signals": None if signal_settings is None else signals_section(
            [keyed[k] for k in sorted(keyed)], signals or {}, signal_settings),
        "skipped": {"count": len(skipped), "ids": skipped},
        "notes": notes,
        "bootstrap": {"unit": "item", "method": method, "confidence": confidence, "n_resamples": n_resamples,
                      "seed": seed, "averages": "each subset resampled independently"},
        "num_samples": num_samples,
        "planned": planned,
        "system_fingerprint": first.system_fingerprint if first else None,
        "judge_fingerprint": first.judge_fingerprint if first else None,
    }


def _fmt(cell, decimals=3) -> str:
    if not cell or cell.get("mean") is None:
        return DASH
    text = f"{cell['mean']:.{decimals}f}"
    if cell.get("constant"):
        return text + " (constant)"  # `3.000 [3.000, 3.000]` reads like a bug; the note under the table says why
    return text + (f" [{cell['ci'][0]:.{decimals}f}, {cell['ci'][1]:.{decimals}f}]" if cell.get("ci") else "")


def _any_constant(cells) -> bool:
    return any((cell or {}).get("constant") for cell in cells)


def _label(manifest: dict | None, default: str = "system") -> str:
    manifest = manifest or {}
    return manifest.get("label") or (manifest.get("system") or {}).get("name") or default


def scores_table(report: dict, manifest: dict | None = None) -> list[str]:
    """The Table-4 rows of a report as Markdown table lines: the header, then one row per metric (score, and expected
    score where there is one), labelled with the system's label from `manifest`."""
    label, layout = _label(manifest), report["layout"]
    rows = [[label if m == "score" else f"{label} ({METRIC_LABELS[m]})"] + [_fmt(report[m]["columns"][k]) for k in layout]
            for m in METRICS if report.get(m)]
    return markdown_table(["system"] + [report["layout_labels"][k] for k in layout], rows)


def _md_cell(text: str) -> str:
    """A reason as a Markdown table cell: its whitespace collapsed and not too long (`markdown_table` escapes `|`)."""
    return _clip(" ".join(str(text).split()), MARKDOWN_REASON_CHARS)


def _failures_section(failures: dict | None) -> list:
    lines = ["", "## Failures", ""]
    if failures is None:  # a report.json from before this section existed
        return lines + ["Not in this report: rebuild it with `parass2s report RUN`."]
    if not any(failures[s]["count"] for s in FAILURE_STATUSES if s in failures):
        return lines + ["None: no system error, missing score, invalid input or empty response."]
    rows, more = [], []
    for status in FAILURE_STATUSES:
        part = failures.get(status) or {"count": 0, "reasons": [], "more_reasons": 0}
        for group in part["reasons"]:
            ids = ", ".join(group["ids"]) + (f" ... ({group['items']} ids)" if group["items"] > len(group["ids"]) else "")
            rows.append([f"`{status}`", group["count"], _md_cell(group["reason"]), ids])
        if part["more_reasons"]:
            more.append(f"- `{status}`: {part['more_reasons']} more reasons ({part['more_count']} records), not shown.")
    lines += [(f"The most frequent reasons of each failure status (top {TOP_REASONS}), most frequent first. Reasons "
               "are grouped with what differs from item to item (record ids, numbers, quoted values, paths) masked; "
               f"each row shows one real reason and up to {EXAMPLE_IDS} example ids. Every reason is in "
               "results.jsonl."), ""]
    lines += markdown_table(["status", "records", "reason (one example)", "example ids"], rows)
    return lines + ([""] + more if more else [])


def _run_section(manifest: dict) -> list:
    def compact(value):
        return "`" + json.dumps(value, sort_keys=True, default=str) + "`"

    system, judge, lines = manifest.get("system") or {}, manifest.get("judge") or {}, ["", "## Run", ""]
    entries = [("system", system.get("name")), ("system fingerprint", system.get("fingerprint")),
               ("system config", system.get("config") and compact(system["config"])),
               ("judge fingerprint", judge.get("fingerprint")),
               ("judge config", judge.get("config") and compact(judge["config"])),
               ("dataset", manifest.get("dataset") and ", ".join(f"{k}={v}" for k, v in manifest["dataset"].items())),
               ("samples per record", manifest.get("num_samples")), ("seed", manifest.get("seed")),
               ("created", manifest.get("created")),
               ("machine", manifest.get("machine") and ", ".join(f"{k}={v}" for k, v in manifest["machine"].items())),
               ("packages", manifest.get("packages") and ", ".join(f"{k} {v}" for k, v in manifest["packages"].items()))]
    return lines + [f"- {name}: {value}" for name, value in entries if value not in (None, "", {})]


def render_markdown(report: dict, manifest: dict | None = None, title: str | None = None) -> str:
    """The report as Markdown: the Table-4 row with intervals, notes, per-style scores, failure counts, the most
    frequent failure reasons, the objective signals with the flagged responses, the run.

    Args:
        report (`dict`): from [`build_report`].
        manifest (`dict`, *optional*): the run's manifest; gives the system's label (`label`, else `system.name`) and
            the "Run" section.
        title (`str`, *optional*): defaults to `"ParaS2SBench evaluation: <label>"`.

    Returns:
        `str`: the Markdown text.
    """
    label = _label(manifest)
    layout, boot = report["layout"], report["bootstrap"]
    lines = [f"# {title or 'ParaS2SBench evaluation: ' + label}", "", "## Scores (the paper's Table 4 layout, 1-5)", ""]
    lines += scores_table(report, manifest)
    lines += ["", (f"Mean over items, each item the mean over its samples (up to {report['num_samples']}); "
                   f"[{boot['confidence']:.0%} {boot['method']} bootstrap interval over items, {boot['n_resamples']} "
                   f"resamples, seed {boot['seed']}; averages resample each subset independently]. "
                   "Overall is the mean of the six subsets, as in the paper.")]
    if _any_constant(report[m]["columns"][k] for m in METRICS if report.get(m) for k in layout):
        lines += ["", CONSTANT_NOTE]
    if report.get("score_expected"):
        lines += ["", EXPECTED_NOTE]
    lines += [""] + [f"- {note}" for note in report["notes"]]
    if report.get("score"):
        lines += ["", "## By query style", ""]
        exp = {(c["subset"], c["style"]): c for c in (report["score_expected"] or {}).get("by_style", [])}
        style_rows = [[c["subset"], c["style"], c["n"], _fmt(c), _fmt(exp.get((c["subset"], c["style"])))]
                      for c in report["score"]["by_style"]]
        lines += markdown_table(["subset", "style", "items", "score", "expected score"], style_rows)
        if _any_constant([*report["score"]["by_style"], *exp.values()]):
            lines += ["", CONSTANT_NOTE]
    lines += ["", "## Counts and failures", ""]
    counts = report["counts"]
    header = ["subset", "records", "items", "items scored", "items without score", "ok"]
    header += [name for _, name in FAILURE_COLUMNS]
    count_rows = []
    for name, c in list(counts["per_subset"].items()) + [("total", counts["total"])]:
        count_rows.append([name, c["records"], c["items"], c["items_scored"], c["items_missing"], c["status"][STATUS_OK]]
                          + [c["status"][s] for s, _ in FAILURE_COLUMNS])
    lines += markdown_table(header, count_rows)
    total = counts["total"]
    planned = "not given" if total["planned"] is None else total["planned"]
    lines += ["", (f"Planned (id, sample) keys: {planned}; records: {total['records']}; items with fewer than "
                   f"{report['num_samples']} samples: {total['items_incomplete']}; repeated keys: {total['duplicates']}.")]
    skipped = report["skipped"]
    if skipped["count"]:
        shown = ", ".join(skipped["ids"][:20]) + (" ..." if skipped["count"] > 20 else "")
        lines.append(f"Skipped (not evaluated): {skipped['count']} ids: {shown}.")
    else:
        lines.append("Skipped (not evaluated): 0.")
    lines += _failures_section(report.get("failures"))
    lines += signals_markdown(report.get("signals"), absent="signals" not in report)
    if manifest:
        lines += _run_section(manifest)
    return "\n".join(lines) + "\n"


def write_report(report: dict, output_dir, manifest: dict | None = None) -> dict[str, str]:
    """Write `report.json`, `report.md` and `report.png` into `output_dir` (created if needed).

    Returns:
        `dict[str, str]`: `{"json": ..., "markdown": ..., "figure": ...}` paths.
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = {name: os.path.join(output_dir, f"report.{ext}") for name, ext in
             (("json", "json"), ("markdown", "md"), ("figure", "png"))}
    with open(paths["json"], "w", encoding="utf-8") as f:
        f.write(json.dumps(report, indent=2, allow_nan=False) + "\n")
    with open(paths["markdown"], "w", encoding="utf-8") as f:
        f.write(render_markdown(report, manifest))
    plot_report(report, paths["figure"], title=_label(manifest))
    return paths
