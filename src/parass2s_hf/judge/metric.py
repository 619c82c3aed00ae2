"""`Parass2sJudge`: the judge as an `evaluate` metric (a thin adapter over `ParaS2SJudge`).

```python
>>> import evaluate, parass2s_hf
>>> judge = evaluate.load("parass2s_judge")                          # multistage, Hub checkpoints
>>> judge = evaluate.load("parass2s_judge", "reward_model", reward_model="path/to/rm")
>>> out = judge.compute(query_audio=[...], response_audio=[...], sampling_rate=16000,
...                     dimension=[...], query_style=[...], requirement=[...])
>>> out["score"], out["per_dimension"], out["num_missing"], out["per_item"][0]
```

Audio inputs are arrays (16 kHz by default, `sampling_rate=` otherwise) or file paths. The class name must stay
`Parass2sJudge`: `evaluate` derives the module name from it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import datasets
import evaluate
import numpy as np

from ..constants import SAMPLING_RATE
from .config import MODES, JudgeConfig
from .items import SCORED_STATUSES, STATUS_EMPTY, STATUS_INVALID, STATUS_MISSING, JudgeItem

_DESCRIPTION = """\
The ParaS2S judge (arXiv 2511.08723) scores a (spoken query, spoken response) pair from 1 to 5 for how well the
response fits what was said and how it was said (emotion, sarcasm, speaker age and gender). Modes: `multistage`
(default; ASR + style perception + tone description, then a rubric LLM), `end2end` (one audio LLM hears both clips),
`reward_model` (one forward; expected value over the digits).
"""
_KWARGS = """\
Args:
    query_audio (`list`): spoken queries, as float arrays or file paths.
    response_audio (`list`): spoken responses, same length and form.
    sampling_rate (`int`, *optional*, defaults to 16000): rate of array inputs.
    dimension, query_style, query_text, requirement, item_id (`list[str]`, *optional*): per pair; query_style and
        query_text are predicted when missing.
Returns:
    score (`float` or `None`): mean of the integer scores (empty responses count as 1); `None` when no pair has one.
    score_expected (`float` or `None`): mean expected score where logits exist.
    per_dimension, per_style (`dict`): mean score and counts by the pair's dimension and query style.
    num_scored (`int`): pairs with a score (`ok` and `empty_response`).
    num_empty (`int`): responses that are empty, silent or sound for less than `min_response_seconds` (scored 1).
    num_missing (`int`): pairs whose score could not be read (reasons in per_item); never replaced by a number.
    num_invalid (`int`): pairs whose audio cannot be used (reasons in per_item); the other pairs are still scored.
    status (`list[str]`): each pair's status, in order (`ok`, `empty_response`, `missing`, `invalid_input`).
    per_item (`list[dict]`): one `JudgeResult` per pair.
"""
_CITATION = """\
@inproceedings{yang2026paras2s,
  title={ParaS2S: Benchmarking and Aligning Spoken Language Models for Paralinguistic-aware Speech-to-Speech Interaction},
  author={Yang, Shu-wen and Tu, Ming and Liu, Andy T. and Qu, Xinghua and Lee, Hung-yi and Lu, Lu and Wang, Yuxuan and Wu, Yonghui},
  booktitle={ICLR}, year={2026}
}
"""
_OPTIONAL = ("dimension", "query_style", "query_text", "requirement", "item_id")


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def aggregate(results, groups: dict[str, list]) -> dict:
    """Means and counts over `JudgeResult`s: overall, and per value of each grouping list. A pair counts in the means
    when its status carries a score (`ok`, or `empty_response` at the minimum)."""
    scored = [r for r in results if r.status in SCORED_STATUSES]
    out = {
        "score": _mean([r.score for r in scored]),
        "score_expected": _mean([r.score_expected for r in scored]),
        "num_scored": len(scored),
        "num_empty": sum(r.status == STATUS_EMPTY for r in results),
        "num_missing": sum(r.status == STATUS_MISSING for r in results),
        "num_invalid": sum(r.status == STATUS_INVALID for r in results),
    }
    for name, keys in groups.items():
        buckets = defaultdict(list)
        for key, r in zip(keys, results):
            if key is not None:
                buckets[key].append(r)
        out[name] = {k: {"score": _mean([r.score for r in rs if r.status in SCORED_STATUSES]),
                         "num_scored": sum(r.status in SCORED_STATUSES for r in rs), "num": len(rs)}
                     for k, rs in sorted(buckets.items())}
    return out


class Parass2sJudge(evaluate.Metric):
    """The ParaS2S judge as an `evaluate` metric; `config_name` is the mode, other keyword arguments are
    `JudgeConfig` fields (or `judge=` a ready `ParaS2SJudge`)."""

    def __init__(self, config_name: str | None = None, judge=None, **kwargs):
        fields = {f.name for f in dataclasses.fields(JudgeConfig)}
        judge_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in fields and k != "mode"}
        mode = kwargs.pop("mode", None) or (config_name if config_name not in (None, "default") else "multistage")
        if mode not in MODES:
            raise ValueError(f"Unknown judge mode {mode!r}; expected one of {list(MODES)}.")
        super().__init__(config_name=mode, **kwargs)
        self.judge_config = JudgeConfig(mode=mode, **judge_kwargs)
        self._judge = judge

    @property
    def judge(self):
        if self._judge is None:
            from .judge import ParaS2SJudge

            self._judge = ParaS2SJudge(self.judge_config)
        return self._judge

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS,
            homepage="https://arxiv.org/abs/2511.08723",
            features=[
                datasets.Features({"query_audio": datasets.Sequence(datasets.Value("float32")),
                                   "response_audio": datasets.Sequence(datasets.Value("float32"))}),
                datasets.Features({"query_audio": datasets.Value("string"),
                                   "response_audio": datasets.Value("string")}),
            ],
        )

    def _compute(self, query_audio, response_audio, sampling_rate: int = SAMPLING_RATE, **optional):
        unknown = set(optional) - set(_OPTIONAL)
        if unknown:
            raise ValueError(f"Unknown argument(s) {sorted(unknown)}; per-pair inputs are {list(_OPTIONAL)}.")
        n = len(query_audio)
        for name, values in optional.items():
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} values but there are {n} pairs.")
        items = []
        for i in range(n):
            extra = {k: (v[i] if v is not None else None) for k, v in optional.items()}
            # Arrays are handed over as they came: the judge's audio door checks each pair on its own, so one bad pair
            # (NaN, empty, unreadable) is that pair's `invalid_input` and the batch goes on.
            q, r = (a if isinstance(a, str) else np.asarray(a) for a in (query_audio[i], response_audio[i]))
            items.append(JudgeItem(q, r, sampling_rate=sampling_rate, **extra))  # the rate applies to arrays only
        results = self.judge.score(items)
        out = aggregate(results, {"per_dimension": optional.get("dimension") or [None] * n,
                                  "per_style": optional.get("query_style") or [None] * n})
        out["status"] = [r.status for r in results]
        out["per_item"] = [r.to_dict() for r in results]
        return out
