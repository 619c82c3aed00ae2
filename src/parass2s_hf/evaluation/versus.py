"""`VersusRunner`: two evaluation runs' responses to the same queries, judged pairwise (`parass2s versus`).

```python
>>> from parass2s_hf.evaluation.versus import VersusConfig, VersusRunner
>>> from parass2s_hf.judge import JudgeConfig, ParaS2SJudge
>>> summary = VersusRunner("runs/a", "runs/b", ParaS2SJudge(JudgeConfig()), VersusConfig(output_dir="vs/")).run()
>>> summary["overall"]["win_rate"]        # A's wins plus half its ties, with a bootstrap interval
```

Each (query, sample) that both runs answered is one comparison, asked in both orders (`ParaS2SJudge.compare`): a
preference that changes with the order is a tie, counted as position-inconsistent. The versus folder:
- `versus_run.json`: the two systems and the judge it was made with; another pairing is refused unless `overwrite`;
- `versus.jsonl`: one line per finished comparison (appended and flushed per batch, so a killed run resumes where it
  stopped and redoes nothing finished);
- `versus.json`, `versus.md`, `versus.png`: win / tie / loss counts and A's win rate with bootstrap intervals, per
  subset and overall, the position-consistency rate, and stacked win/tie/loss bars.

A comparison where one system failed to answer (a system error in its run) has no preference (`system_error`); an
empty or silent response loses to a real one, as it scores 1 in a run. Nothing is judged where a run has no response.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..io import FolderLock, JsonlLog, read_json, write_json
from ..judge.items import STATUS_INVALID, STATUS_MISSING, STATUS_OK
from ..judge.pairwise import PairItem
from ..judge.prompts import PAIRWISE_PROMPT_VERSION
from .records import STATUS_SYSTEM_ERROR, SUBSETS, subset_of
from .runner import GEN_EMPTY, GEN_OK, GENERATIONS_FILE, RUN_FILE, log_files

logger = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "parass2s-versus", 1
VERSUS_RUN_FILE, VERSUS_LOG, VERSUS_FILES = "versus_run.json", "versus.jsonl", ("versus.json", "versus.md",
                                                                                  "versus.png")
STATUSES = (STATUS_OK, STATUS_MISSING, STATUS_INVALID, STATUS_SYSTEM_ERROR)
VALUE = {"a": 1.0, "tie": 0.5, "b": 0.0}
"""A comparison's value for A's win rate: a win 1, a tie half, a loss 0."""


@dataclass
class VersusConfig:
    """Settings of a versus run (`parass2s versus RUN_A RUN_B`).

    Args:
        output_dir (`str`): the versus folder (`--output`); rerunning into it resumes.
        dataset_cache_dir (`str`, *optional*): where the runs' dataset is prepared (the datasets cache by default).
        limit (`int`, *optional*): at most this many queries per subset, in dataset order.
        batch_size (`int`, *optional*, defaults to `8`): comparisons per judge call (each asked in two orders).
        tie_margin (`float`, *optional*, defaults to `0.0`): `reward_model` judge: expected scores this close tie.
        confidence (`float`, *optional*, defaults to `0.95`), n_resamples (`int`, *optional*, defaults to `2000`),
            seed (`int`, *optional*, defaults to `0`): the bootstrap intervals of the win rates.
        label_a (`str`, *optional*), label_b (`str`, *optional*): the systems' names (the runs' labels by default).
        overwrite (`bool`, *optional*, defaults to `False`): reuse a folder made for another pairing or judge,
            deleting its comparisons.
    """

    _argument_group_name = "the versus run"

    output_dir: str = field(metadata={"help": "versus folder (resumable)", "aliases": ["--output"]})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "prepared dataset cache"})
    limit: int | None = field(default=None, metadata={"help": "at most N queries per subset"})
    batch_size: int = field(default=8, metadata={"help": "comparisons per judge call"})
    tie_margin: float = field(default=0.0, metadata={"help": "reward_model judge: expected scores this close tie"})
    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})
    n_resamples: int = field(default=2000, metadata={"help": "bootstrap resamples"})
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})
    label_a: str | None = field(default=None, metadata={"help": "name of the first run's system"})
    label_b: str | None = field(default=None, metadata={"help": "name of the second run's system"})
    overwrite: bool = field(default=False, metadata={"help": "reuse a folder made for another pairing"})

    def __post_init__(self):
        for name in ("batch_size", "n_resamples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1 (or unset), got {self.limit!r}.")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence!r}.")
        if self.tie_margin < 0:
            raise ValueError(f"tie_margin must be at least 0, got {self.tie_margin!r}.")


def read_run(run_dir: str, label: str | None = None) -> dict:
    """What a versus needs of an evaluation run folder: its system, dataset and finished generations.

    Raises:
        `ValueError`: not a run folder (no `run.json`), or no generation in it.
    """
    from ..validation.ratings import run_name

    run_dir = os.path.abspath(run_dir)
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.isfile(path):
        raise ValueError(f"{run_dir} is not an evaluation run folder: it has no {RUN_FILE} (a folder written by "
                         f"`parass2s evaluate`).")
    run = read_json(path, "run file")
    if not isinstance(run, dict) or not isinstance(run.get("system_fingerprint"), str):
        raise ValueError(f"{path}: the run file is damaged (no system_fingerprint).")  # noqa: TRY004
    manifest_path = os.path.join(run_dir, "manifest.json")
    manifest = read_json(manifest_path, "manifest") if os.path.isfile(manifest_path) else {}
    gens = {}
    for log in log_files(run_dir, GENERATIONS_FILE):
        for line in JsonlLog(log):
            if line.get("system_fingerprint") == run["system_fingerprint"]:
                gens[(line["id"], int(line["sample"]))] = line
    if not gens:
        raise ValueError(f"{run_dir} holds no generated response of its system yet: run `parass2s evaluate` on it "
                         f"first.")
    return {"run_dir": run_dir, "label": label or run_name(run_dir, manifest), "system": run.get("system"),
            "system_fingerprint": run["system_fingerprint"], "dataset": run.get("dataset") or {},
            "dataset_version": (manifest.get("dataset") or {}).get("version"), "generations": gens}


class VersusRunner:
    """Judges two runs' responses to the same queries pairwise and writes the versus summary.

    Args:
        run_a (`str`), run_b (`str`): evaluation run folders (`parass2s evaluate --output`) over the same dataset.
        judge (`ParaS2SJudge`): the judge (anything with `compare(items)` and a `config.fingerprint()`).
        config (`VersusConfig`): the folder and the summary's settings.
        dataset (`datasets.Dataset`, *optional*): the runs' rows (loaded from `run.json`'s dataset otherwise).
    """

    def __init__(self, run_a: str, run_b: str, judge, config: VersusConfig, dataset=None):
        self.config = config
        self.judge = judge
        self.runs = {"a": read_run(run_a, config.label_a), "b": read_run(run_b, config.label_b)}
        a, b = self.runs["a"], self.runs["b"]
        if a["run_dir"] == b["run_dir"]:
            raise ValueError(f"versus needs two different runs; both are {a['run_dir']}.")
        keys = ("config", "split")
        if [a["dataset"].get(k) for k in keys] != [b["dataset"].get(k) for k in keys]:
            raise ValueError(f"the runs answered different datasets ({a['run_dir']}: {a['dataset']}; {b['run_dir']}: "
                             f"{b['dataset']}): a comparison needs the same queries.")
        if a["dataset_version"] and b["dataset_version"] and a["dataset_version"] != b["dataset_version"]:
            raise ValueError(f"the runs answered different ParaS2SBench versions ({a['dataset_version']} and "
                             f"{b['dataset_version']}): their texts or voices differ, so they did not hear the same "
                             f"queries.")
        if a["system_fingerprint"] == b["system_fingerprint"]:
            logger.warning("both runs were made by the same system settings (%s): their responses differ only by "
                           "sampling", a["system_fingerprint"])
        for side, other in (("a", "b"), ("b", "a")):
            if self.runs[side]["label"] == self.runs[other]["label"]:
                self.runs[side]["label"] = f"{self.runs[side]['label']} ({os.path.basename(self.runs[side]['run_dir'])})"
        self.out = os.path.abspath(config.output_dir)
        self.judge_fp = judge.config.fingerprint()
        self._dataset = dataset

    # ---- the queries ----
    @property
    def dataset(self):
        if self._dataset is None:
            from ..bench import load_parass2sbench

            ds = self.runs["a"]["dataset"]
            kwargs = {k: ds[k] for k in ("iemocap_dir", "meld_dir") if ds.get(k)}
            self._dataset = load_parass2sbench(ds["config"], split=ds.get("split") or "test",
                                               data_dir=ds.get("data_dir"), cache_dir=self.config.dataset_cache_dir,
                                               **kwargs)
        return self._dataset

    def _plan(self) -> tuple[list[tuple], dict, dict]:
        """The (id, sample) both runs answered, in dataset order (`limit` queries per subset), with the row metadata
        and dataset index of each query."""
        ds = self.dataset
        meta = ds.select_columns([c for c in ds.column_names if c != "audio"]).to_list()
        both = set(self.runs["a"]["generations"]) & set(self.runs["b"]["generations"])
        samples = defaultdict(list)
        for key in sorted(both, key=lambda k: k[1]):
            samples[key[0]].append(key[1])
        taken, keys, row_of, index_of = Counter(), [], {}, {}
        for i, row in enumerate(meta):
            if row["id"] not in samples:
                continue
            subset = subset_of(row)
            if self.config.limit is not None and taken[subset] >= self.config.limit:
                continue
            taken[subset] += 1
            row_of[row["id"]], index_of[row["id"]] = row, i
            keys += [(row["id"], s) for s in samples[row["id"]]]
        if not keys:
            raise ValueError(f"{self.runs['a']['run_dir']} and {self.runs['b']['run_dir']} have no response to the "
                             f"same query of their dataset: nothing to compare.")
        return keys, row_of, index_of

    # ---- the folder ----
    def _identity(self) -> dict:
        return {"format": FORMAT, "systems": {s: self.runs[s]["system_fingerprint"] for s in "ab"},
                "judge_fingerprint": self.judge_fp, "pairwise_prompt_version": PAIRWISE_PROMPT_VERSION,
                "tie_margin": self.config.tie_margin,
                "dataset": {k: self.runs["a"]["dataset"].get(k) for k in ("config", "split")}}

    def _prepare_folder(self) -> None:
        path = os.path.join(self.out, VERSUS_RUN_FILE)
        mine = self._identity()
        if os.path.exists(path):
            theirs = read_json(path, "versus run file")
            if theirs != mine:
                differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                if not self.config.overwrite:
                    raise ValueError(f"{self.out} holds a versus made with other settings ({', '.join(differ)} "
                                     f"differ). Use another --output folder, or --overwrite to replace it.")
                for name in (VERSUS_LOG, *VERSUS_FILES):
                    if os.path.exists(os.path.join(self.out, name)):
                        os.remove(os.path.join(self.out, name))
                logger.warning("--overwrite: removed the previous comparisons in %s", self.out)
        write_json(path, mine)

    def _finished(self) -> dict:
        done = {}
        for line in JsonlLog(os.path.join(self.out, VERSUS_LOG)):
            if line.get("key") == self._line_key():
                done[(line["id"], int(line["sample"]))] = line
        return done

    def _line_key(self) -> str:
        identity = self._identity()
        return "|".join([identity["systems"]["a"], identity["systems"]["b"], self.judge_fp, PAIRWISE_PROMPT_VERSION,
                         f"{self.config.tie_margin:g}"])

    # ---- the run ----
    def run(self) -> dict:
        """Judge the pending comparisons and write `versus.json`, `versus.md` and `versus.png`.

        Returns:
            `dict`: the summary (also in `versus.json`).

        Raises:
            `ValueError`: a folder made with other settings (without `overwrite`), runs over different datasets, or no
                query answered by both.
            `FolderLockedError`: another process works in the folder.
        """
        os.makedirs(self.out, exist_ok=True)
        with FolderLock(self.out, "versus folder"):
            keys, row_of, index_of = self._plan()
            self._prepare_folder()
            done = self._finished()
            todo = [k for k in keys if k not in done]
            if len(todo) < len(keys):
                logger.info("resuming: %d of %d comparisons already judged", len(keys) - len(todo), len(keys))
            self._judge(todo, row_of, index_of, done)
            return self.write_summary(keys, done)

    def _line(self, key, row) -> dict:
        return {"id": key[0], "sample": key[1], "subset": subset_of(row), "dimension": row["dimension"],
                "style": row["style"], "key": self._line_key(), "judge_fingerprint": self.judge_fp,
                "system_fingerprints": {s: self.runs[s]["system_fingerprint"] for s in "ab"}}

    def _response(self, side: str, gen: dict):
        if gen.get("response_path"):
            return os.path.join(self.runs[side]["run_dir"], gen["response_path"])
        return np.zeros(0, dtype=np.float32)  # an empty response (0 samples): it loses, as it scores 1 in its run

    def _judge(self, todo: list[tuple], row_of: dict, index_of: dict, done: dict) -> None:
        from ..audio import load_audio
        from ..progress import progress

        log = JsonlLog(os.path.join(self.out, VERSUS_LOG))
        counts = Counter()
        with progress(total=len(todo), desc="versus", unit="comparison", dynamic_ncols=True, off=not todo) as bar:
            for start in range(0, len(todo), self.config.batch_size):
                batch = todo[start:start + self.config.batch_size]
                lines, items, asked = {}, [], []
                for key in batch:
                    row = row_of[key[0]]
                    line = self._line(key, row)
                    gens = {s: self.runs[s]["generations"][key] for s in "ab"}
                    failed = [s for s in "ab" if gens[s]["status"] not in (GEN_OK, GEN_EMPTY)]
                    if failed:
                        lines[key] = {**line, "status": STATUS_SYSTEM_ERROR, "preference": None,
                                      "position_consistent": None,
                                      "reason": "; ".join(f"system {s.upper()} failed: {gens[s].get('error') or gens[s]['status']}"
                                                          for s in failed)}
                        continue
                    query = load_audio(self.dataset[index_of[key[0]]]["audio"], name=f"query {key[0]}")
                    items.append(PairItem(query.array, self._response("a", gens["a"]),
                                          self._response("b", gens["b"]), sampling_rate=query.sampling_rate,
                                          dimension=row["dimension"], query_style=row["style"],
                                          query_text=row.get("text") or None,
                                          requirement=row.get("requirement") or None, item_id=key[0]))
                    asked.append((key, line))
                if items:
                    for (key, line), result in zip(asked, self.judge.compare(items,
                                                                             tie_margin=self.config.tie_margin)):
                        lines[key] = {**line, "status": result.status, "preference": result.preference,
                                      "position_consistent": result.position_consistent, "reason": result.reason,
                                      "method": result.method, "verdicts": result.verdicts, "scores": result.scores,
                                      "rationale": result.rationale, "perception": result.perception}
                for key in batch:
                    log.append(lines[key])
                    done[key] = lines[key]
                    counts[lines[key]["preference"] or lines[key]["status"]] += 1
                bar.update(len(batch))
                bar.set_postfix(dict(counts), refresh=False)

    # ---- the summary ----
    def write_summary(self, keys: list[tuple], done: dict) -> dict:
        from .plots import plot_versus

        summary = summarize([done[k] for k in keys if k in done], confidence=self.config.confidence,
                            n_resamples=self.config.n_resamples, seed=self.config.seed)
        a_only = len(set(self.runs["a"]["generations"]) - set(self.runs["b"]["generations"]))
        b_only = len(set(self.runs["b"]["generations"]) - set(self.runs["a"]["generations"]))
        summary = {"format": FORMAT, "version": FORMAT_VERSION,
                   "systems": {s: {k: self.runs[s][k] for k in ("label", "run_dir", "system", "system_fingerprint")}
                               for s in "ab"},
                   "judge_fingerprint": self.judge_fp, "judge_mode": self.judge.config.mode,
                   "judge_config": self.judge.config.to_dict() if hasattr(self.judge.config, "to_dict") else {},
                   "pairwise_prompt_version": PAIRWISE_PROMPT_VERSION, "tie_margin": self.config.tie_margin,
                   "dataset": self._identity()["dataset"],
                   "bootstrap": {"confidence": self.config.confidence, "n_resamples": self.config.n_resamples,
                                 "seed": self.config.seed},
                   **summary}
        summary["counts"]["only_in_a"], summary["counts"]["only_in_b"] = a_only, b_only
        write_json(os.path.join(self.out, "versus.json"), summary)
        with open(os.path.join(self.out, "versus.md"), "w", encoding="utf-8") as f:
            f.write(render_versus(summary))
        plot_versus(summary, os.path.join(self.out, "versus.png"))
        return summary


def _cell(values_by_query: dict, confidence: float, n_resamples: int, seed: int) -> dict:
    """A's win rate over queries (each query's samples averaged first), with its bootstrap interval."""
    from ..stats import bootstrap_interval

    per_query = np.array([np.mean(v) for v in values_by_query.values()], dtype=float)
    if not len(per_query):
        return {"win_rate": None, "ci": None}
    interval = bootstrap_interval((per_query,), lambda x: x.mean(axis=-1), confidence=confidence,
                                  n_resamples=n_resamples, seed=seed)
    return {"win_rate": round(float(per_query.mean()), 4),
            "ci": [round(float(x), 4) for x in interval.ci] if interval.ci is not None else None,
            "ci_note": interval.reason}


def summarize(lines: list[dict], *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict:
    """Win / tie / loss counts and A's win rate (wins plus half the ties, over the judged comparisons) with bootstrap
    intervals, per subset and overall; the position-consistency rate; failures by status.

    Args:
        lines (`list[dict]`): `versus.jsonl` lines (`status`, `preference`, `position_consistent`, `subset`, `id`).

    Returns:
        `dict`: `overall` and `subsets` (each: `wins`, `ties`, `losses`, `judged`, `win_rate`, `ci`,
        `position_consistency`), `counts` (by status, and `position_inconsistent`).
    """
    groups = {"overall": lines, **{s: [x for x in lines if x["subset"] == s] for s in SUBSETS}}
    out = {}
    for name, group in groups.items():
        ok = [x for x in group if x["status"] == STATUS_OK]
        if name != "overall" and not group:
            continue
        values = defaultdict(list)
        for x in ok:
            values[x["id"]].append(VALUE[x["preference"]])
        ordered = [x for x in ok if x.get("position_consistent") is not None]
        cell = {"wins": sum(x["preference"] == "a" for x in ok), "ties": sum(x["preference"] == "tie" for x in ok),
                "losses": sum(x["preference"] == "b" for x in ok), "judged": len(ok), "comparisons": len(group),
                **_cell(values, confidence, n_resamples, seed),
                "position_consistency": round(sum(x["position_consistent"] for x in ordered) / len(ordered), 4)
                if ordered else None, "position_checked": len(ordered)}
        out[name] = cell
    counts = Counter(x["status"] for x in lines)
    from .report import reason_pattern

    # one cause over many comparisons is one group (ids, quoted answers and numbers masked), its start kept
    reasons = Counter(reason_pattern(x.get("reason") or "", x.get("id"))[:200] for x in lines
                      if x["status"] != STATUS_OK)
    return {"overall": out["overall"], "subsets": {k: v for k, v in out.items() if k != "overall"},
            "counts": {"comparisons": len(lines), **{s: counts.get(s, 0) for s in STATUSES},
                       "position_inconsistent": sum(x.get("position_consistent") is False for x in lines)},
            "failure_reasons": dict(reasons.most_common(5))}


def _rate(cell: dict) -> str:
    if cell["win_rate"] is None:
        return "—"
    ci = f" [{cell['ci'][0]:.3f}, {cell['ci'][1]:.3f}]" if cell.get("ci") else ""
    return f"{cell['win_rate']:.3f}{ci}"


def render_versus(summary: dict) -> str:
    """`versus.md`: the win/tie/loss table per subset and overall, and what the numbers mean."""
    from ..stats import markdown_table

    a, b = summary["systems"]["a"]["label"], summary["systems"]["b"]["label"]
    counts = summary["counts"]
    if summary["judge_mode"] == "reward_model":
        how = (f"by the `reward_model` judge (fingerprint `{summary['judge_fingerprint']}`), which has no comparison "
               f"prompt: each response got its absolute expected score and the higher one is preferred ("
               + (f"a tie within {summary['tie_margin']:g}" if summary["tie_margin"] else "a tie only when equal")
               + "); order does not enter, so there is no position-consistency rate.")
    else:
        how = (f"by the `{summary['judge_mode']}` judge (fingerprint `{summary['judge_fingerprint']}`) in both orders "
               f"(A shown first, then B): a preference that changed with the order counts as a tie.")
    lines = [f"# {a} vs {b}", "",
             (f"Each query that both runs answered, judged pairwise {how} Win rate: {a}'s wins plus half the ties, "
              f"over the judged comparisons (each query's samples averaged), with a "
              f"{summary['bootstrap']['confidence']:.0%} bootstrap interval over queries."), ""]
    rows = []
    for name, cell in [*summary["subsets"].items(), ("overall", summary["overall"])]:
        consistency = "—" if cell["position_consistency"] is None else f"{cell['position_consistency']:.1%}"
        rows.append([f"**{name}**" if name == "overall" else name, cell["wins"], cell["ties"], cell["losses"],
                     _rate(cell), consistency, cell["comparisons"] - cell["judged"]])
    lines += markdown_table(["subset", f"{a} wins", "ties", f"{b} wins", f"{a} win rate", "position-consistent",
                             "not judged"], rows)
    lines += ["", (f"Comparisons: {counts['comparisons']} ({counts['ok']} judged, {counts['missing']} missing, "
              f"{counts['invalid_input']} invalid input, {counts['system_error']} with a system error); "
              f"{counts['position_inconsistent']} position-inconsistent (counted as ties).")]
    if counts.get("only_in_a") or counts.get("only_in_b"):
        lines.append(f"Responses without a counterpart (not compared): {counts.get('only_in_a', 0)} only in {a}, "
                     f"{counts.get('only_in_b', 0)} only in {b}.")
    if summary.get("failure_reasons"):
        lines += ["", "Why comparisons were not judged (most common first):", ""]
        lines += [f"- {reason}: {n}" for reason, n in summary["failure_reasons"].items()]
    lines += ["", f"Runs: {a}: `{summary['systems']['a']['run_dir']}`; {b}: `{summary['systems']['b']['run_dir']}`."]
    return "\n".join(lines) + "\n"

