"""`pairwise_leaderboard`: a Bradley-Terry leaderboard from the pairwise judgements of `parass2s versus` folders.

`parass2s compare --pairwise vs/*` reads folders that `parass2s versus runs/a runs/b --output vs/ab` wrote; it judges
nothing itself. Each folder holds `versus.json` (its two systems, each with a `system_fingerprint`, and the judge's
fingerprint) and `versus.jsonl` (one comparison a line: a query `id`, a `sample`, a `status` and, where the status is
`ok`, a `preference` of `a`, `b` or `tie`).

```python
>>> from parass2s_hf.evaluation.pairwise_board import pairwise_leaderboard
>>> board = pairwise_leaderboard(["vs/omni-vs-cascade", "vs/cascade-vs-policy"], "leaderboard")  # doctest: +SKIP
>>> [(row["label"], row["rating"], row["ci"]) for row in board["rows"]]  # doctest: +SKIP
[('omni', 1104.2, [1051.7, 1160.3]), ('cascade', 1001.9, [954.0, 1047.5]), ('policy', 893.9, [840.1, 951.2])]

```

How the numbers are made:
- systems are told apart by their `system_fingerprint`, so the same system met in several folders is one system; its
  label is the folder's `label`, or, where two fingerprints share a label, its run folder's name (then its path).
- a comparison is the last line of its `(id, sample)` (a resumed run appends); lines whose `judge_fingerprint` (or
  `system_fingerprints`) differ from the folder's `versus.json` are left out and counted. Only `ok` lines carry a
  preference; the other statuses are counted per folder.
- the Bradley-Terry model says system i beats system j with probability `1 / (1 + exp(theta_j - theta_i))`. The
  log-strengths `theta` are fitted by `choix.ilsr_pairwise_dense` (iterative Luce spectral ranking: the maximum
  likelihood estimate) on a matrix of wins, where a win counts 1 for the winner and a tie 1/2 each way (as if the
  comparison were decided by a coin). `alpha` (default 0.1) adds that rate between every pair of systems in the
  I-LSR Markov chain, a small pull of the strengths towards each other: it keeps a system that never lost (or never
  won), or systems that no comparison connects, finite; with tens of comparisons per pair it moves a strength by well
  under 1%.
- the scale is Elo-like: `rating = 1000 + 400 / ln(10) * theta`, with `theta` centred at mean 0 over the systems, so
  the mean rating is 1000 and a gap of 400 points means 10:1 odds (`P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) /
  400))`). `p_win_vs_average` is the model's probability of beating a system of the average strength,
  `1 / (1 + exp(-theta))`.
- the intervals are percentile bootstrap intervals: each resample draws the queries of each versus folder with
  replacement (all the samples and both orders of a query stay together: they share its audio), independently per
  folder, rebuilds the win matrix and refits. The loop is by hand with `numpy.random.default_rng(seed)` (the same
  folders and seed give the same intervals) rather than `scipy.stats.bootstrap`: one refit gives every system's
  strength from the same resample, a folder of one query is still a group to resample, and a resample whose fit fails
  must be left out (counted), none of which fits scipy's one-statistic-per-array shape. Comparisons of the same query
  in different folders are resampled independently (each folder is one pair of systems).
- systems that no chain of comparisons connects are named: their relative placement is set by the regularisation
  (each group is centred alike), not by the data; so is the gap between two groups of which one never lost to the
  other.
- where the folders were judged by different judge configurations (fingerprints), the board says NOT COMPARABLE, as
  `compare_runs` does; where the runs of the systems have a `report.json`, their absolute-score table
  (`compare_runs`) is given beside the pairwise one.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..io import parse_record, read_json
from ..stats import markdown_table
from .plots import plot_pairwise_leaderboard

VERSUS_FORMAT = "parass2s-versus"
VERSUS_VERSION = 1
VERSUS_SUMMARY, VERSUS_RESULTS = "versus.json", "versus.jsonl"
PREFERENCES = ("a", "b", "tie")
ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10)
"""rating = ELO_BASE + ELO_SCALE * theta (theta: natural log-strength, centred at mean 0)."""
DEFAULT_ALPHA = 0.1
DEFAULT_RESAMPLES = 2000


class _Folder:
    """One versus folder, read: its two systems, its judge, and per query the counts of (a wins, b wins, ties)."""

    def __init__(self, path: str, summary: dict):
        self.path = path
        self.summary = summary
        self.systems = {side: summary["systems"][side] for side in ("a", "b")}
        self.fingerprints = {side: self.systems[side]["system_fingerprint"] for side in ("a", "b")}
        self.judge_fingerprint = summary.get("judge_fingerprint")
        self.judge_mode = summary.get("judge_mode")
        self.outcomes = np.zeros((0, 3))  # one row per query: a wins, b wins, ties (its samples summed)
        self.status = Counter()
        self.ignored = Counter()  # other_judge, other_systems, damaged
        self.inconsistent_ties = 0
        self.self_comparison = self.fingerprints["a"] == self.fingerprints["b"]


def _not_versus(path: str, why: str) -> ValueError:
    hint = (" (it is an evaluation run folder: compare run folders without --pairwise)"
            if os.path.isfile(os.path.join(path, "report.json")) else "")
    return ValueError(f"folder {path!r} is not a `parass2s versus` output: {why}{hint}. With --pairwise, give the "
                      f"folders that `parass2s versus RUN_A RUN_B --output DIR` wrote.")


def read_versus(path) -> _Folder:
    """Read one versus folder (`versus.json` and `versus.jsonl`).

    Raises:
        `ValueError`: naming the folder, when it is not a versus output (no `versus.json`, another format, a newer
            version), when a system has no fingerprint, or when `versus.jsonl` is missing.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"{path!r} is not a folder: --pairwise takes the folders that `parass2s versus` wrote.")
    summary_path = os.path.join(path, VERSUS_SUMMARY)
    if not os.path.isfile(summary_path):
        raise _not_versus(path, f"it has no {VERSUS_SUMMARY}")
    summary = read_json(summary_path, "versus summary")
    if not isinstance(summary, dict) or summary.get("format") != VERSUS_FORMAT:
        found = summary.get("format") if isinstance(summary, dict) else type(summary).__name__
        raise _not_versus(path, f"its {VERSUS_SUMMARY} has format {found!r}, not {VERSUS_FORMAT!r}")
    version = summary.get("version")
    if not isinstance(version, int) or version > VERSUS_VERSION:
        raise ValueError(f"{summary_path}: versus format version {version!r}; this parass2s reads version "
                         f"{VERSUS_VERSION} and earlier: upgrade parass2s to read it.")
    systems = summary.get("systems") or {}
    for side in ("a", "b"):
        if not isinstance(systems.get(side), dict) or not systems[side].get("system_fingerprint"):
            raise ValueError(f"{summary_path}: system {side!r} has no system_fingerprint (systems are told apart "
                             f"by it); the versus output is damaged: rerun `parass2s versus`.")
    folder = _Folder(path, summary)
    results_path = os.path.join(path, VERSUS_RESULTS)
    if not os.path.isfile(results_path):
        raise ValueError(f"folder {path!r} has {VERSUS_SUMMARY} but no {VERSUS_RESULTS}: the comparisons are "
                         f"missing; rerun the same `parass2s versus` command to finish it.")
    last: dict[tuple, dict] = {}
    with open(results_path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            record, _ = parse_record(line)
            if record is None or record.get("id") is None:
                folder.ignored["damaged"] += 1  # e.g. the last line of an interrupted run, torn
                continue
            if folder.judge_fingerprint and record.get("judge_fingerprint") not in (None, folder.judge_fingerprint):
                folder.ignored["other_judge"] += 1
                continue
            stamped = record.get("system_fingerprints")
            if isinstance(stamped, dict) and any(stamped.get(s) not in (None, folder.fingerprints[s])
                                                 for s in ("a", "b")):
                folder.ignored["other_systems"] += 1
                continue
            last[(str(record["id"]), record.get("sample", 0))] = record  # a resumed run: the last line wins
    per_query: dict[str, np.ndarray] = {}
    for (item, _), record in last.items():
        status = record.get("status") or "missing"
        preference = record.get("preference")
        if status == "ok" and preference not in PREFERENCES:
            status = "invalid_preference"
        folder.status[status] += 1
        if status != "ok":
            continue
        counts = per_query.setdefault(item, np.zeros(3))
        counts[PREFERENCES.index(preference)] += 1
        if preference == "tie" and record.get("position_consistent") is False:
            folder.inconsistent_ties += 1
    if per_query:
        folder.outcomes = np.stack([per_query[k] for k in sorted(per_query)])
    return folder


def _labels(systems: dict) -> None:
    """Distinct labels: where two fingerprints share a label, the run folder's name, then its path, then the
    fingerprint's start."""
    steps = (lambda s: os.path.basename(os.path.normpath(s["run_dir"])) if s["run_dir"] else s["label"],
             lambda s: os.path.normpath(s["run_dir"]) if s["run_dir"] else s["label"],
             lambda s: f"{s['label']} ({s['fingerprint'][:8]})")
    for step in steps:
        seen = Counter(s["label"] for s in systems.values())
        if all(n == 1 for n in seen.values()):
            return
        for s in systems.values():
            if seen[s["label"]] > 1:
                s["label"] = step(s)


def _wins_matrix(n: int, folders: Sequence[_Folder], index: dict, totals: Sequence[np.ndarray]) -> np.ndarray:
    """`m[i, j]`: how often i beat j, a tie counting 1/2 each way; `totals[k]`: folder k's (a wins, b wins, ties)."""
    m = np.zeros((n, n))
    for folder, (wa, wb, ties) in zip(folders, totals):
        a, b = index[folder.fingerprints["a"]], index[folder.fingerprints["b"]]
        m[a, b] += wa + ties / 2
        m[b, a] += wb + ties / 2
    return m


def fit_bradley_terry(wins: np.ndarray, alpha: float = DEFAULT_ALPHA, start: np.ndarray | None = None) -> np.ndarray:
    """Bradley-Terry log-strengths (natural log, centred at mean 0) from a matrix of wins (`wins[i, j]`: how often i
    beat j; fractions allowed), by `choix.ilsr_pairwise_dense` with regularisation `alpha`, from `start` (log-strengths;
    the bootstrap starts each refit at the point estimate: fewer iterations, the same fixed point).

    Raises:
        `RuntimeError`: the iteration did not converge (choix's).
    """
    import choix

    theta = choix.ilsr_pairwise_dense(np.asarray(wins, float), alpha=alpha, initial_params=start, max_iter=10000,
                                      tol=1e-10)
    return theta - theta.mean()


def _components(m: np.ndarray, connection: str) -> np.ndarray:
    from scipy.sparse.csgraph import connected_components

    graph = (m + m.T > 0) if connection == "weak" else (m > 0)
    return connected_components(graph.astype(float), directed=connection == "strong", connection=connection)[1]


def _elo(theta) -> float:
    return round(ELO_BASE + ELO_SCALE * float(theta), 1)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def pairwise_leaderboard(versus_dirs: Sequence, output_dir=None, *, confidence: float = 0.95,
                         n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, alpha: float = DEFAULT_ALPHA) -> dict:
    """Bradley-Terry leaderboard over the systems that `parass2s versus` folders compared (see the module's notes).

    Args:
        versus_dirs (`Sequence[str | os.PathLike]`): versus folders, each holding `versus.json` and `versus.jsonl`.
        output_dir (`str` or `os.PathLike`, *optional*): where to write `pairwise_leaderboard.md`, `.json` and `.png`.
        confidence (`float`, *optional*, defaults to `0.95`): the intervals' confidence level.
        n_resamples (`int`, *optional*, defaults to `2000`): bootstrap resamples (queries within each folder); `0`
            gives no intervals.
        seed (`int`, *optional*, defaults to `0`): the bootstrap's seed (`numpy.random.default_rng`).
        alpha (`float`, *optional*, defaults to `0.1`): choix's regularisation of the fit.

    Returns:
        `dict`: `markdown`; `rows` (one per system, best first: label, fingerprint, run_dirs, theta, rating, ci,
        p_win_vs_average, wins, ties, losses, comparisons, win_rate, component); `pairs` (observed and fitted win rates
        per pair of systems); `folders` (per versus folder: systems, judge, status counts, lines left out);
        `comparable` (`False` where judge fingerprints differ); `judge_fingerprints`; `connected`; `components`
        (labels per group of connected systems); `notes`; `bootstrap`; `scale`; `absolute` (the `compare_runs` result
        over the runs with a `report.json`, or `None`); `paths` (empty without `output_dir`).

    Raises:
        `ValueError`: no folders, a folder that is not a versus output (naming it), fewer than two systems.
    """
    if not versus_dirs:
        raise ValueError("the pairwise leaderboard needs at least one versus folder.")
    folders = [read_versus(d) for d in versus_dirs]
    systems: dict[str, dict] = {}
    for folder in folders:
        for side in ("a", "b"):
            info = folder.systems[side]
            fingerprint = folder.fingerprints[side]
            run_dir = info.get("run_dir")
            entry = systems.setdefault(fingerprint, {
                "label": info.get("label") or (os.path.basename(os.path.normpath(run_dir)) if run_dir else None)
                or fingerprint[:12], "fingerprint": fingerprint, "system": info.get("system"),
                "run_dir": run_dir, "run_dirs": []})
            if run_dir and run_dir not in entry["run_dirs"]:
                entry["run_dirs"].append(run_dir)
    if len(systems) < 2:
        raise ValueError(f"the versus folders compare fewer than two distinct systems (by system_fingerprint: "
                         f"{', '.join(systems)}): nothing to rank.")
    _labels(systems)
    order = list(systems)  # first seen first
    index = {fp: i for i, fp in enumerate(order)}
    n = len(order)
    notes: list[str] = []
    used = [f for f in folders if not f.self_comparison]
    for f in folders:
        if f.self_comparison:
            notes.append(f"`{f.path}` compares {systems[f.fingerprints['a']]['label']} with itself (one "
                         f"system_fingerprint on both sides): left out of the fit.")
    totals = [f.outcomes.sum(axis=0) if len(f.outcomes) else np.zeros(3) for f in used]
    wins = _wins_matrix(n, used, index, totals)
    theta = fit_bradley_terry(wins, alpha)

    # bootstrap: the queries of each folder, drawn with replacement, independently per folder; refit
    draws, failed = [], 0
    if n_resamples > 0:
        rng = np.random.default_rng(seed)
        for _ in range(n_resamples):
            resampled = [f.outcomes[rng.integers(0, len(f.outcomes), len(f.outcomes))].sum(axis=0)
                         if len(f.outcomes) else np.zeros(3) for f in used]
            try:
                draws.append(fit_bradley_terry(_wins_matrix(n, used, index, resampled), alpha, start=theta))
            except RuntimeError:  # did not converge: left out, counted
                failed += 1
    cis: list = [None] * n
    if draws:
        tail = 100 * (1 - confidence) / 2
        low, high = np.percentile(np.stack(draws), [tail, 100 - tail], axis=0)
        cis = [[_elo(lo), _elo(hi)] for lo, hi in zip(low, high)]
    if failed:
        notes.append(f"{failed} of {n_resamples} bootstrap resamples did not converge and are left out of the "
                     f"intervals.")

    # counts per system and per pair
    record = {fp: Counter() for fp in order}
    pair_counts: dict[tuple, Counter] = {}
    for f, (wa, wb, ties) in zip(used, totals):
        a, b = f.fingerprints["a"], f.fingerprints["b"]
        record[a].update(wins=wa, losses=wb, ties=ties)
        record[b].update(wins=wb, losses=wa, ties=ties)
        key, flip = ((a, b), False) if index[a] < index[b] else ((b, a), True)
        c = pair_counts.setdefault(key, Counter())
        c.update(first=wb if flip else wa, second=wa if flip else wb, ties=ties)

    weak, strong = _components(wins, "weak"), _components(wins, "strong")
    connected = len(set(weak)) == 1
    ranked = sorted(range(n), key=lambda i: (-theta[i], systems[order[i]]["label"]))
    rank_of = {i: r for r, i in enumerate(ranked)}
    component_ids = {}  # numbered by their best system's rank
    for i in ranked:
        component_ids.setdefault(int(weak[i]), len(component_ids) + 1)
    components = [[systems[order[i]]["label"] for i in ranked if component_ids[int(weak[i])] == c]
                  for c in range(1, len(component_ids) + 1)]
    if not connected:
        notes.append("Not connected by comparisons: " + " | ".join("{" + ", ".join(c) + "}" for c in components)
                     + ". No versus folder links these groups, so their ratings relative to each other come from "
                       "the regularisation (each group is centred alike), not from data; compare systems within a "
                       "group only, or run `parass2s versus` between the groups.")
    for c in range(1, len(component_ids) + 1):
        members = [i for i in ranked if component_ids[int(weak[i])] == c]
        groups: dict[int, list] = {}
        for i in members:
            groups.setdefault(int(strong[i]), []).append(systems[order[i]]["label"])
        if len(groups) > 1:
            notes.append("The comparisons go one way only between " + " | ".join(
                "{" + ", ".join(g) + "}" for g in groups.values()) + " (a group never lost to another, a tie "
                f"counting half each way): the order between these groups is clear, but the size of their gaps "
                f"rests on the regularisation (alpha={alpha}) and grows as it shrinks.")
    no_data = [systems[fp]["label"] for fp in order if not sum(record[fp][k] for k in ("wins", "ties", "losses"))]
    if no_data:
        notes.append(f"No comparison with a preference for {', '.join(no_data)}: rated at the average by the "
                     f"regularisation alone.")

    rows = []
    for i in ranked:
        fp = order[i]
        r = record[fp]
        comparisons = r["wins"] + r["ties"] + r["losses"]
        rows.append({"label": systems[fp]["label"], "fingerprint": fp, "system": systems[fp]["system"],
                     "run_dirs": systems[fp]["run_dirs"], "theta": round(float(theta[i]), 4),
                     "rating": _elo(theta[i]), "ci": cis[i], "p_win_vs_average": round(_sigmoid(theta[i]), 4),
                     "wins": int(r["wins"]), "ties": int(r["ties"]), "losses": int(r["losses"]),
                     "comparisons": int(comparisons),
                     "win_rate": round((r["wins"] + r["ties"] / 2) / comparisons, 4) if comparisons else None,
                     "component": component_ids[int(weak[i])]})
    ranked_pairs = []
    for (p, q), c in pair_counts.items():
        if rank_of[index[p]] > rank_of[index[q]]:  # the better-rated system first
            p, q, c = q, p, Counter(first=c["second"], second=c["first"], ties=c["ties"])
        total = c["first"] + c["second"] + c["ties"]
        pair = {"first": systems[p]["label"], "second": systems[q]["label"], "comparisons": int(total),
                "first_wins": int(c["first"]), "second_wins": int(c["second"]), "ties": int(c["ties"]),
                "first_win_rate": round((c["first"] + c["ties"] / 2) / total, 4) if total else None,
                "fitted": round(_sigmoid(theta[index[p]] - theta[index[q]]), 4)}
        ranked_pairs.append(((rank_of[index[p]], rank_of[index[q]]), pair))
    pairs = [pair for _, pair in sorted(ranked_pairs, key=lambda t: t[0])]

    fingerprints = sorted({f.judge_fingerprint for f in folders if f.judge_fingerprint})
    comparable = len(fingerprints) <= 1
    folder_rows = [{"path": f.path, "a": systems[f.fingerprints["a"]]["label"],
                    "b": systems[f.fingerprints["b"]]["label"], "judge_fingerprint": f.judge_fingerprint,
                    "judge_mode": f.judge_mode, "queries": len(f.outcomes), "status": dict(sorted(f.status.items())),
                    "preferences": dict(zip(PREFERENCES, (int(x) for x in (f.outcomes.sum(axis=0) if len(f.outcomes)
                                                                            else np.zeros(3))))),
                    "position_inconsistent_ties": f.inconsistent_ties, "ignored_lines": dict(f.ignored),
                    "used": not f.self_comparison} for f in folders]
    for f in folders:
        if f.ignored.get("other_judge") or f.ignored.get("other_systems"):
            notes.append(f"`{f.path}`: {f.ignored.get('other_judge', 0)} line(s) of another judge configuration and "
                         f"{f.ignored.get('other_systems', 0)} of other systems than its versus.json names are left "
                         f"out (stale lines of an earlier run in the same folder).")
        if f.ignored.get("damaged"):
            notes.append(f"`{f.path}`: {f.ignored['damaged']} damaged line(s) of versus.jsonl left out.")

    absolute = _absolute(systems, order, folders, notes)
    bootstrap = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed, "failed": failed,
                 "unit": "query (id) within each versus folder, folders resampled independently"}
    scale = {"rating": f"{ELO_BASE:g} + 400/ln(10) * theta", "theta": "natural log-strength, centred at mean 0",
             "p_win_vs_average": "1 / (1 + exp(-theta))", "ties": "half a win each way", "alpha": alpha,
             "fit": "choix.ilsr_pairwise_dense"}
    markdown = _markdown(rows, pairs, folder_rows, fingerprints, comparable, notes, absolute, bootstrap, alpha)
    result = {"markdown": markdown, "rows": rows, "pairs": pairs, "folders": folder_rows, "comparable": comparable,
              "judge_fingerprints": fingerprints, "connected": connected, "components": components, "notes": notes,
              "bootstrap": bootstrap, "scale": scale, "absolute": absolute, "paths": {}}
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        paths = {name: os.path.join(output_dir, f"pairwise_leaderboard.{ext}")
                 for name, ext in (("json", "json"), ("markdown", "md"), ("figure", "png"))}
        document = {"format": "parass2s-pairwise-leaderboard", "version": 1,
                    **{k: v for k, v in result.items() if k not in ("markdown", "paths")}}
        if absolute is not None:
            document["absolute"] = {k: absolute[k] for k in ("rows", "sorted_by", "comparable")}
        with open(paths["json"], "w", encoding="utf-8") as f:
            f.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
        with open(paths["markdown"], "w", encoding="utf-8") as f:
            f.write(markdown)
        plot_pairwise_leaderboard(rows, paths["figure"], confidence=confidence,
                                  title=None if comparable else "NOT COMPARABLE: different judges")
        result["paths"] = paths
    return result


def _resolve_run_dir(run_dir: str, versus_dir: str) -> str | None:
    """A run folder named in versus.json, as given (relative to the working folder) or relative to the versus folder;
    `None` where neither holds a `report.json`."""
    for candidate in (run_dir, os.path.join(versus_dir, run_dir)):
        if os.path.isfile(os.path.join(candidate, "report.json")):
            return candidate
    return None


def _absolute(systems: dict, order: list, folders: Sequence[_Folder], notes: list) -> dict | None:
    """`compare_runs` over the systems' run folders that have a `report.json` (one table, beside the pairwise one)."""
    from .leaderboard import compare_runs

    run_dirs, seen, lacking = [], set(), []
    for fp in order:
        found = False
        for folder in folders:
            for side in ("a", "b"):
                run_dir = folder.systems[side].get("run_dir")
                if folder.fingerprints[side] != fp or not run_dir:
                    continue
                resolved = _resolve_run_dir(run_dir, folder.path)
                if resolved is not None:
                    found = True
                    if os.path.realpath(resolved) not in seen:
                        seen.add(os.path.realpath(resolved))
                        run_dirs.append(resolved)
        if not found:
            lacking.append(systems[fp]["label"])
    if lacking and run_dirs:
        notes.append(f"No report.json in the run folder of {', '.join(lacking)}: absent from the absolute-score "
                     f"table.")
    if not run_dirs:
        return None
    try:
        return compare_runs(run_dirs)
    except ValueError as e:
        notes.append(f"The absolute-score table could not be made: {e}")
        return None


def _markdown(rows, pairs, folder_rows, fingerprints, comparable, notes, absolute, bootstrap, alpha) -> str:
    lines = ["# ParaS2SBench pairwise leaderboard (Bradley-Terry)", ""]
    if not comparable:
        lines += [(f"> **WARNING: NOT COMPARABLE.** The versus folders were judged by different judge configurations "
                   f"(fingerprints {', '.join(fingerprints)}): their preferences are not comparable, and neither is "
                   f"a strength fitted on them."), ""]
    unknown = [r["path"] for r in folder_rows if not r["judge_fingerprint"]]
    if unknown:
        lines += [f"> Judge fingerprint unknown for {', '.join(unknown)}: comparability not checked for them.", ""]
    n_comparisons = sum(sum(r["preferences"].values()) for r in folder_rows if r["used"])
    interval = (f"{bootstrap['confidence']:.0%} bootstrap interval over queries, {bootstrap['n_resamples']} resamples"
                if bootstrap["n_resamples"] > 0 else "no interval (n_resamples=0)")
    lines += [(f"Bradley-Terry strengths fitted by choix (I-LSR, alpha={alpha}) on {n_comparisons} judged comparisons "
               f"from {len(folder_rows)} versus folder(s); a tie counts half a win each way. Rating: Elo-like, "
               f"1000 + 400/ln(10) x the log-strength (centred: the mean rating is 1000; 400 points apart is 10:1 "
               f"odds) [{interval}]. P(win vs avg): the model's probability of beating a system of average "
               f"strength. Win rate: observed, ties half."), ""]
    several = len({r["component"] for r in rows}) > 1
    header = ["rank", "system", "rating", "P(win vs avg)", "wins", "ties", "losses", "win rate"]
    header += ["group"] if several else []
    table = []
    for i, r in enumerate(rows):
        rating = f"{r['rating']:.0f}" + (f" [{r['ci'][0]:.0f}, {r['ci'][1]:.0f}]" if r["ci"] else "")
        cells = [i + 1, r["label"], rating, f"{r['p_win_vs_average']:.3f}", r["wins"], r["ties"], r["losses"],
                 "—" if r["win_rate"] is None else f"{r['win_rate']:.3f}"]
        table.append(cells + ([r["component"]] if several else []))
    lines += markdown_table(header, table)
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    lines += ["", "## Pairs", "", ("Observed: the first system's win rate, ties half; fitted: the Bradley-Terry "
                                   "probability that it wins."), ""]
    lines += markdown_table(["first", "second", "comparisons", "first wins", "second wins", "ties", "observed",
                             "fitted"],
                            [[p["first"], p["second"], p["comparisons"], p["first_wins"], p["second_wins"], p["ties"],
                              "—" if p["first_win_rate"] is None else f"{p['first_win_rate']:.3f}",
                              f"{p['fitted']:.3f}"] for p in pairs])
    lines += ["", "## Versus folders", ""]
    lines += markdown_table(["folder", "a", "b", "queries", "a / b / tie", "inconsistent ties", "not judged", "judge"],
                            [[f"`{r['path']}`", r["a"], r["b"], r["queries"],
                              " / ".join(str(r["preferences"][k]) for k in PREFERENCES),
                              r["position_inconsistent_ties"],
                              ", ".join(f"{k}: {v}" for k, v in r["status"].items() if k != "ok") or "0",
                              (r["judge_fingerprint"] or "?")[:12] + ("" if r["used"] else " (left out)")]
                             for r in folder_rows])
    lines += ["", "## Absolute scores", ""]
    if absolute is None:
        lines += [("No run folder of these versus outputs has a report.json, so there is no absolute-score table "
                   "(run `parass2s evaluate` or `parass2s report RUN` on the runs, then `parass2s compare RUN...`).")]
    else:
        body = absolute["markdown"].splitlines()
        if body and body[0].startswith("# "):
            body = body[1:]
        while body and not body[0].strip():
            body = body[1:]
        lines += [("Each run's own judge scores (`parass2s compare` over the runs' report.json), for reference: "
                   "absolute 1-5 scores and pairwise preferences may rank systems differently."), ""] + body
    return "\n".join(lines).rstrip("\n") + "\n"
