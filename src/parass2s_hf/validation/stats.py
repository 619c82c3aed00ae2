"""Judge-human agreement: the paper's Table 2 (correlation per dimension) and Table 3 (system ranking).

```python
>>> from parass2s_hf.validation import correlation
>>> correlation([1, 2, 3, 4, 5], [1.5, 2, 3.5, 3, 5])["value"]
0.9238
>>> correlation([4, 2], [5, 1])
{'value': None, 'ci': None, 'n': 2, 'reason': 'n=2: too few pairs', 'ci_reason': None}
```

How the numbers are made (`scipy.stats`; `krippendorff` for the agreement between raters):
- a cell is Pearson (`pearsonr`), Spearman (`spearmanr`) or Kendall's tau-b (`kendalltau`) over the pairs that have
  both a human and a judge score, with a bootstrap interval over pairs (`scipy.stats.bootstrap`, fixed seed; percentile
  by default as in the evaluation report, or BCa, which falls back to percentile where it is undefined): a resample
  draws whole pairs, so human and judge stay paired;
- a cell with fewer than 3 pairs, or with constant human or judge scores, has no value: it says why, and is `None` in
  JSON (never computed from nothing); where some resamples have no value (constant scores: likely with few pairs),
  the interval is the percentile interval over the others when they are at least 95% of all (`ci_note` says so),
  else `None` with its reason (`ci_reason`);
- `overall` pools every pair; `average` is the mean of the per-column values (the paper's "avg"), its interval
  resampling each column's pairs independently;
- system level (Table 3): per system the mean judge and mean human score over its paired items, their ranks (1 = best),
  Spearman and Kendall between the two rankings with a percentile bootstrap interval over items resampled within each
  system (when there are 3 or more systems), and the pairs of systems the judge orders the other way round;
- inter-rater agreement: Krippendorff's alpha (`krippendorff.alpha`, ordinal and interval) over the human ratings of
  the units (system, id, sample) that 2 or more named raters rated, with a percentile bootstrap interval over units
  (whole units resampled, each with all its ratings); fewer than 2 raters or no shared unit give no value, and say so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from ..evaluation.records import SUBSETS
from ..stats import METHODS, bootstrap_interval

KINDS = ("pearson", "spearman", "kendall")
"""The correlation coefficients reported in every cell."""
KIND_LABELS = {"pearson": "Pearson", "spearman": "Spearman", "kendall": "Kendall"}
LAYOUT = (*SUBSETS, "overall", "average")
"""Table 2's columns: the six subsets in the report's order, the pooled value, and the mean of the columns."""
LAYOUT_LABELS = {"age": "age", "emotion": "emotion", "gender": "gender", "sarcasm": "sarcasm", "iemocap": "IEMOCAP",
                 "meld": "MELD", "overall": "overall", "average": "avg"}
MIN_PAIRS = 3
"""Fewest pairs (or systems) a correlation is computed from."""
MAX_UNDEFINED = 0.05
"""Largest share of undefined resamples (constant scores) an interval may leave out (and says so)."""
DECIMALS = 4
VERSION = 1
ALPHA_LEVELS = ("ordinal", "interval")
"""The levels of measurement Krippendorff's alpha is reported at: 1-5 ratings are ordered; interval also treats the
steps as equal, as the correlations with the judge do."""


def _round(x):
    return None if x is None or not math.isfinite(float(x)) else round(float(x), DECIMALS)


def _along(kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The correlation of `x` and `y` along their last axis (any leading shape); NaN where it is undefined."""
    from scipy.stats import kendalltau, pearsonr, rankdata

    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if kind == "pearson":
            return np.asarray(pearsonr(x, y, axis=-1).statistic, float)
        if kind == "spearman":  # spearmanr's definition: Pearson of the (average) ranks
            return np.asarray(pearsonr(rankdata(x, axis=-1), rankdata(y, axis=-1), axis=-1).statistic, float)
        if kind == "kendall":
            return np.asarray(kendalltau(x, y, axis=-1).statistic, float)
    raise ValueError(f"Unknown correlation {kind!r}; expected one of {list(KINDS)}.")


def _point(kind: str, x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau, pearsonr, spearmanr

    fn = {"pearson": pearsonr, "spearman": spearmanr, "kendall": kendalltau}
    if kind not in fn:
        raise ValueError(f"Unknown correlation {kind!r}; expected one of {list(KINDS)}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn[kind](x, y).statistic)


def why_undefined(x, y, labels: tuple[str, str] = ("human scores", "judge scores"), unit: str = "pairs") -> str | None:
    """Why a correlation of `x` and `y` cannot be computed (too few values, or constant ones); `None` when it can."""
    n = len(x)
    if n == 0:
        return f"n=0: no {unit}"
    if n < MIN_PAIRS:
        return f"n={n}: too few {unit}"
    constant = [label for label, v in zip(labels, (x, y)) if np.ptp(np.asarray(v, float)) == 0]
    if constant:
        return "constant " + " and ".join(constant)
    return None


def _interval(groups, stat, *, confidence, n_resamples, seed, method) -> tuple[list | None, str | None, str | None]:
    """Bootstrap interval of `stat(per-group index arrays)`: each group's units resampled on their own.

    `groups` is a list of unit counts; `stat(*index_arrays)` maps index arrays of shape (..., n_g) to values of shape
    (...): resampling indices keeps a unit's human and judge scores together. Returns `(interval or None, why not,
    note)`. Where some resamples are undefined (constant scores: likely with few pairs), the percentile interval over
    the defined ones is given when they are at least `1 - MAX_UNDEFINED` of all, with a note saying how many were left
    out.
    """
    res = bootstrap_interval(tuple(np.arange(n) for n in groups), stat, confidence=confidence,
                             n_resamples=n_resamples, seed=seed, method=method, max_undefined=MAX_UNDEFINED)
    # A resample without a value is one whose scores were constant: say so in those terms.
    if res.ci is None:
        if res.undefined:
            return None, (f"interval undefined: {res.undefined} of {res.resamples} resamples have constant scores "
                          f"(too few distinct values)"), None
        return None, res.reason, None
    note = None
    if res.undefined:
        note = (f"percentile interval over the {res.resamples - res.undefined} of {res.resamples} resamples with a "
                f"value ({res.undefined} had constant scores)")
    return [_round(c) for c in res.ci], None, note


def _boot(confidence: float, n_resamples: int, seed: int, method: str) -> dict:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}.")
    if method not in METHODS:
        raise ValueError(f"method must be 'BCa', 'percentile' or 'basic', got {method!r}.")
    return {"confidence": confidence, "n_resamples": int(n_resamples), "seed": seed, "method": method}


def correlation(x: Sequence[float], y: Sequence[float], kind: str = "pearson", *,
                labels: tuple[str, str] = ("human scores", "judge scores"), confidence: float = 0.95,
                n_resamples: int = 2000, seed: int = 0, method: str = "percentile") -> dict:
    """One correlation with its bootstrap interval over pairs.

    Args:
        x, y (`list[float]`): paired values (human and judge scores).
        kind (`str`, *optional*, defaults to `"pearson"`): `"pearson"`, `"spearman"` or `"kendall"` (tau-b).
        labels (`tuple[str, str]`, *optional*): what `x` and `y` are, for the reason of an undefined value.
        confidence (`float`, *optional*, defaults to `0.95`), n_resamples (`int`, *optional*, defaults to `2000`; `0`
            skips the interval), seed (`int`, *optional*, defaults to `0`), method (`str`, *optional*, defaults to
            `"percentile"`): the bootstrap's settings (`"BCa"` falls back to percentile where it is undefined).

    Returns:
        `dict`: `value` (`None` when undefined), `ci` (`[low, high]` or `None`), `n`, `reason` (why `value` is
        `None`), `ci_reason` (why `ci` is `None`), and `ci_note` where the interval left undefined resamples out.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown correlation {kind!r}; expected one of {list(KINDS)}.")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    boot = _boot(confidence, n_resamples, seed, method)
    x, y = np.asarray(x, float), np.asarray(y, float)
    reason = why_undefined(x, y, labels)
    if reason:
        return {"value": None, "ci": None, "n": len(x), "reason": reason, "ci_reason": None}
    ci, ci_reason, note = _interval([len(x)], lambda i: _along(kind, x[i], y[i]), **boot)
    return {"value": _round(_point(kind, x, y)), "ci": ci, "n": len(x), "reason": None, "ci_reason": ci_reason,
            **({"ci_note": note} if note else {})}


def correlations(x, y, **kwargs) -> dict:
    """`{kind: correlation(x, y, kind)}` for Pearson, Spearman and Kendall."""
    return {kind: correlation(x, y, kind, **kwargs) for kind in KINDS}


def _average(groups: dict, kind: str, boot: dict) -> dict:
    """The mean of the groups' correlations, with an interval resampling each group on its own."""
    usable = {g: xy for g, xy in groups.items() if why_undefined(*xy) is None}
    n = sum(len(xy[0]) for xy in usable.values())
    if len(usable) < 2:
        return {"value": None, "ci": None, "n": n, "reason": f"{len(usable)} column(s) with a value: an average needs 2",
                "ci_reason": None, "columns": sorted(usable)}
    xs = [xy[0] for xy in usable.values()]
    ys = [xy[1] for xy in usable.values()]
    value = float(np.mean([_point(kind, x, y) for x, y in zip(xs, ys)]))

    def stat(*idx):
        return sum(_along(kind, x[i], y[i]) for x, y, i in zip(xs, ys, idx)) / len(idx)

    ci, ci_reason, note = _interval([len(x) for x in xs], stat, **boot)
    return {"value": _round(value), "ci": ci, "n": n, "reason": None, "ci_reason": ci_reason,
            **({"ci_note": note} if note else {}), "columns": list(usable)}


def agreement_table(pairs: Sequence, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                    method: str = "percentile") -> dict:
    """Judge-human correlations per column of the paper's Table 2, pooled (`overall`) and averaged (`average`).

    Args:
        pairs (`list[RatedPair]`): rated pairs (objects with `human`, `judge` and `group`); those without a judge
            score are left out.
        confidence, n_resamples, seed, method: the bootstrap's settings (see `correlation`).

    Returns:
        `dict`: `layout` (the columns: `LAYOUT`, with any other group before `overall`), `layout_labels`, and
        `columns`: per column, `{kind: cell}` for Pearson, Spearman and Kendall (see `correlation`).
    """
    boot = _boot(confidence, n_resamples, seed, method)
    scored = [p for p in pairs if p.judge is not None]
    by_group: dict = {}
    for p in scored:
        if p.group is not None:
            by_group.setdefault(p.group, ([], []))
            by_group[p.group][0].append(p.human)
            by_group[p.group][1].append(p.judge)
    by_group = {g: (np.asarray(h, float), np.asarray(j, float)) for g, (h, j) in by_group.items()}
    extra = sorted(g for g in by_group if g not in SUBSETS)
    layout = [*SUBSETS, *extra, "overall", "average"]
    columns = {}
    for column in layout:
        if column == "overall":
            xy = (np.asarray([p.human for p in scored], float), np.asarray([p.judge for p in scored], float))
        elif column == "average":
            columns[column] = {kind: _average({g: by_group[g] for g in layout if g in by_group}, kind, boot)
                               for kind in KINDS}
            continue
        else:
            xy = by_group.get(column, (np.zeros(0), np.zeros(0)))
        columns[column] = {kind: correlation(*xy, kind, **boot) for kind in KINDS}
    return {"layout": layout, "layout_labels": {c: LAYOUT_LABELS.get(c, c) for c in layout}, "columns": columns}


def system_ranking(pairs: Sequence, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict:
    """System-level agreement (the paper's Table 3): per system the mean judge and human scores and their ranks.

    Args:
        pairs (`list[RatedPair]`): rated pairs with a `system`; those without a judge score are left out.
        confidence, n_resamples, seed: the bootstrap's settings; the interval is a percentile interval over items
            resampled within each system, computed when there are 3 or more systems.

    Returns:
        `dict`: `systems` (rows sorted by judge score: `system`, `n`, `judge_mean`, `human_mean`, `judge_rank`,
        `human_rank`, rank 1 the best, ties sharing the lower rank), `spearman` and `kendall` cells (see `correlation`;
        `n` counts systems), `swapped_pairs` (how many pairs of systems the judge orders the other way round),
        `swapped` (those pairs, judge's better first), `tied_pairs` (pairs tied in one ranking only).
    """
    from scipy.stats import rankdata

    boot = _boot(confidence, n_resamples, seed, "percentile")
    by_system: dict = {}
    for p in pairs:
        if p.judge is not None and p.system is not None:
            by_system.setdefault(p.system, ([], []))
            by_system[p.system][0].append(p.human)
            by_system[p.system][1].append(p.judge)
    names = list(by_system)
    human = [np.asarray(by_system[s][0], float) for s in names]
    judge = [np.asarray(by_system[s][1], float) for s in names]
    human_means = np.asarray([h.mean() for h in human])
    judge_means = np.asarray([j.mean() for j in judge])
    judge_rank = rankdata(-judge_means, method="min").astype(int) if names else []
    human_rank = rankdata(-human_means, method="min").astype(int) if names else []
    rows = [{"system": s, "n": len(human[i]), "judge_mean": _round(judge_means[i]), "human_mean": _round(human_means[i]),
             "judge_rank": int(judge_rank[i]), "human_rank": int(human_rank[i])} for i, s in enumerate(names)]
    rows.sort(key=lambda r: (r["judge_rank"], r["human_rank"], r["system"]))

    swapped, tied = [], 0
    for a, b in combinations(range(len(names)), 2):
        dj, dh = judge_means[a] - judge_means[b], human_means[a] - human_means[b]
        if dj * dh < 0:
            swapped.append([names[a], names[b]] if dj > 0 else [names[b], names[a]])
        elif (dj == 0) != (dh == 0):
            tied += 1

    def mean_rows(*idx):  # per system, the means of its resampled items: (..., n_systems)
        hm = np.stack(np.broadcast_arrays(*(h[i].mean(axis=-1) for h, i in zip(human, idx))), axis=-1)
        jm = np.stack(np.broadcast_arrays(*(j[i].mean(axis=-1) for j, i in zip(judge, idx))), axis=-1)
        return hm, jm

    cells = {}
    for kind in ("spearman", "kendall"):
        reason = why_undefined(human_means, judge_means, ("human means", "judge means"), unit="systems")
        if reason:
            cells[kind] = {"value": None, "ci": None, "n": len(names), "reason": reason, "ci_reason": None}
            continue
        ci, ci_reason, note = _interval([len(h) for h in human],
                                        lambda *idx, kind=kind: _along(kind, *mean_rows(*idx)), **boot)
        cells[kind] = {"value": _round(_point(kind, human_means, judge_means)), "ci": ci, "n": len(names),
                       "reason": None, "ci_reason": ci_reason, **({"ci_note": note} if note else {})}
    return {"systems": rows, "spearman": cells["spearman"], "kendall": cells["kendall"],
            "swapped_pairs": len(swapped), "swapped": swapped, "tied_pairs": tied,
            "bootstrap": {**boot, "unit": "item, resampled within its system"}}


def _alpha(matrix: np.ndarray, level: str) -> float:
    """Krippendorff's alpha of a (raters, units) matrix (NaN: not rated); NaN where it is undefined (one value)."""
    import krippendorff

    try:
        return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    except ValueError:  # a single value in the data: no disagreement is expected, so alpha is 0/0
        return math.nan


def inter_rater_agreement(ratings: Sequence[dict], *, confidence: float = 0.95, n_resamples: int = 2000,
                          seed: int = 0) -> dict:
    """How well the human raters agree with each other: Krippendorff's alpha over the units rated by 2+ raters.

    Args:
        ratings (`list[dict]`): the live ratings (`load_pairs(...).ratings`): `rater` (`None`: unnamed, left out),
            `system`, `id`, `sample` and `human_score`. A unit is one (system, id, sample): one response heard.
        confidence (`float`, *optional*, defaults to `0.95`), n_resamples (`int`, *optional*, defaults to `2000`; `0`
            skips the interval), seed (`int`, *optional*, defaults to `0`): the percentile bootstrap over units.

    Returns:
        `dict`: `raters` (how many named raters), `rater_names`, `units` (units rated by a named rater),
        `shared_units` (those rated by 2 or more), `ratings` (named raters' ratings of shared units), `unnamed`
        (ratings without a rater, left out), `unit` (what a unit is), `reason` (why there is no alpha; `None` when
        there is), `ordinal` and `interval` cells (`value`, `ci`, `n` shared units, `reason`, `ci_reason`, and
        `ci_note` where the interval left undefined resamples out), and `bootstrap`.
    """
    boot = _boot(confidence, n_resamples, seed, "percentile")
    named = [r for r in ratings if r.get("rater") is not None]
    raters = sorted({r["rater"] for r in named})
    by_unit: dict = {}
    for r in named:
        by_unit.setdefault((r["system"], r["id"], r.get("sample")), {})[r["rater"]] = float(r["human_score"])
    shared = [unit for unit, scores in by_unit.items() if len(scores) >= 2]
    with_sample = any(r.get("sample") is not None for r in ratings)
    out = {"raters": len(raters), "rater_names": raters, "units": len(by_unit), "shared_units": len(shared),
           "ratings": sum(len(by_unit[u]) for u in shared), "unnamed": len(ratings) - len(named),
           "unit": "(system, id, sample)" if with_sample else "(system, id)", "reason": None,
           "bootstrap": {**boot, "unit": "unit, resampled with all its ratings"}}
    if not raters:
        reason = ("the ratings name no rater: give a folder with one ratings file per rater, or a `rater` column"
                  if ratings else "no ratings")
    elif len(raters) < 2:
        reason = f"1 rater ({raters[0]}): agreement between raters needs 2 or more"
    elif not shared:
        reason = f"no unit {out['unit']} is rated by 2 or more of the {len(raters)} raters"
    else:
        reason = None
    matrix = np.full((len(raters), len(shared)), np.nan)
    row = {name: i for i, name in enumerate(raters)}
    for j, unit in enumerate(shared):
        for name, score in by_unit[unit].items():
            matrix[row[name], j] = score
    if reason is None and np.ptp(matrix[np.isfinite(matrix)]) == 0:
        reason = (f"every rating of the shared units is {matrix[np.isfinite(matrix)][0]:g}: with no variation, "
                  f"alpha is undefined")
    out["reason"] = reason
    for level in ALPHA_LEVELS:
        if reason:
            out[level] = {"value": None, "ci": None, "n": len(shared), "reason": reason, "ci_reason": None}
            continue
        value = _alpha(matrix, level)
        ci, ci_reason, note = _alpha_interval(matrix, level, seed, confidence=confidence,
                                                 n_resamples=boot["n_resamples"])
        out[level] = {"value": _round(value), "ci": ci, "n": len(shared), "reason": None, "ci_reason": ci_reason,
                      **({"ci_note": note} if note else {})}
    return out


def _alpha_interval(matrix: np.ndarray, level: str, seed: int, *, confidence: float,
                    n_resamples: int) -> tuple[list | None, str | None, str | None]:
    """Percentile bootstrap interval of alpha over units (columns resampled whole): `(interval, why not, note)`.

    A loop, not `scipy.stats.bootstrap`: `krippendorff.alpha` is not vectorised, and at well under a millisecond a
    call, 2000 resamples take about a second. Resamples whose ratings are all one value have no alpha; they are left
    out while they are at most `MAX_UNDEFINED` of all, and the note says how many.
    """
    n = matrix.shape[1]
    if n_resamples <= 0:
        return None, "no bootstrap (n_resamples=0)", None
    if n < 2:
        return None, "fewer than 2 shared units to resample", None
    rng = np.random.default_rng(seed)
    values = np.array([_alpha(matrix[:, rng.integers(0, n, n)], level) for _ in range(n_resamples)])
    defined = values[np.isfinite(values)]
    undefined = len(values) - len(defined)
    if undefined > MAX_UNDEFINED * len(values):
        return None, f"interval undefined: {undefined} of {len(values)} resamples have a single rating value", None
    tail = (1 - confidence) / 2
    low, high = np.percentile(defined, [100 * tail, 100 * (1 - tail)])
    note = None
    if undefined:
        note = (f"percentile interval over the {len(defined)} of {len(values)} resamples with a value ({undefined} "
                f"had a single rating value)")
    return [_round(low), _round(high)], None, note


def build_validation(pairs: Sequence, *, label: str = "judge", source: dict | None = None,
                     notes: Sequence[str] = (), probes: dict | None = None, confidence: float = 0.95,
                     n_resamples: int = 2000, seed: int = 0, method: str = "percentile",
                     ratings: Sequence[dict] | None = None) -> dict:
    """The whole validation report: Table 2, inter-rater agreement, Table 3, pair counts, probes and notes.

    Args:
        pairs (`list[RatedPair]`): from `load_pairs(...).pairs`.
        label (`str`, *optional*, defaults to `"judge"`): the judge's row label in Table 2.
        source (`dict`, *optional*): where the ratings and judge scores came from (`load_pairs(...).source`).
        notes (`list[str]`, *optional*): notes to carry (e.g. from `load_pairs`).
        probes (`dict`, *optional*): probe results (`run_probes`).
        confidence, n_resamples, seed, method: the bootstrap's settings (see `correlation`).
        ratings (`list[dict]`, *optional*): the live ratings (`load_pairs(...).ratings`), for the agreement between
            raters; without them `inter_rater` is `None`.

    Returns:
        `dict` with `version`, `label`, `source`, `pairs` (counts, raters, pairs without a judge score), `agreement`
        (`agreement_table`), `inter_rater` (`inter_rater_agreement`, or `None` without `ratings`), `ranking`
        (`system_ranking`, or `None` without system names), `probes`, `bootstrap` and `notes`.
    """
    boot = _boot(confidence, n_resamples, seed, method)
    notes = list(notes)
    pairs = list(pairs)
    unscored = [p for p in pairs if p.judge is None]
    ungrouped = [p for p in pairs if p.judge is not None and p.group is None]
    if unscored:
        shown = ", ".join(f"{p.id}" + (f" ({p.system})" if p.system else "") for p in unscored[:20])
        more = f" and {len(unscored) - 20} more" if len(unscored) > 20 else ""
        notes.append(f"{len(unscored)} rated item(s) have no judge score and are left out: {shown}{more}.")
    if ungrouped:
        notes.append(f"{len(ungrouped)} pair(s) have no dimension or subset: they count in `overall` only.")
    agreement = agreement_table(pairs, **boot)
    for column in agreement["layout"]:
        cell = agreement["columns"][column]["pearson"]
        if cell["reason"] and not cell["reason"].startswith("n=0"):
            notes.append(f"{agreement['layout_labels'][column]}: no correlation ({cell['reason']}).")
        elif cell["value"] is not None and cell["ci"] is None and cell["ci_reason"]:
            notes.append(f"{agreement['layout_labels'][column]}: no interval ({cell['ci_reason']}).")
    systems = {p.system for p in pairs if p.system is not None}
    ranking = None
    if systems:
        ranking = system_ranking(pairs, confidence=confidence, n_resamples=n_resamples, seed=seed)
        nameless = sum(p.system is None and p.judge is not None for p in pairs)
        if nameless:
            notes.append(f"{nameless} pair(s) name no system: they are left out of the system ranking.")
        if ranking["spearman"]["reason"]:
            notes.append(f"system ranking: no rank correlation ({ranking['spearman']['reason']}).")
    else:
        notes.append("no system names (no `system` column and no --run): no system-level ranking.")
    raters = [p.raters for p in pairs]
    inter_rater = None
    if ratings is not None:
        inter_rater = inter_rater_agreement(ratings, confidence=confidence, n_resamples=n_resamples, seed=seed)
        if inter_rater["reason"]:
            notes.append(f"inter-rater agreement: not computed ({inter_rater['reason']}).")
    return {
        "version": VERSION,
        "label": label,
        "source": source or {},
        "pairs": {"total": len(pairs), "with_judge_score": len(pairs) - len(unscored),
                  "without_judge_score": {"count": len(unscored), "ids": [p.id for p in unscored]},
                  "raters": {"min": min(raters, default=0), "max": max(raters, default=0),
                             "mean": _round(np.mean(raters)) if raters else None,
                             "ratings": int(sum(getattr(p, "ratings", None) or p.raters for p in pairs))}},
        "agreement": agreement,
        "inter_rater": inter_rater,
        "ranking": ranking,
        "probes": probes,
        "bootstrap": {**boot, "unit": "pair (human and judge resampled together)"},
        "notes": notes,
    }
