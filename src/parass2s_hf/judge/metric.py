"""`Parass2sJudge`: the judge as an `evaluate` metric (a thin adapter over `ParaS2SJudge`).

`evaluate.load("parass2s_judge")` imports `evaluate_module/parass2s_judge.py`, which gives this class evaluate's
module layout (`_DESCRIPTION`, `_KWARGS_DESCRIPTION` with runnable examples, `_CITATION`). The class name must stay
`Parass2sJudge`: `evaluate` derives the module name from it.

Every input is stored in evaluate's Arrow cache as it came (`audio.pack_audio`: a path, file bytes, or the exact
samples), so `add_batch`/`add` and `compute` take any audio form, mixed, and each clip is read by the judge's audio
door only when scored: one bad clip is that pair's `invalid_input`, never the batch's failure.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping

import datasets
import evaluate
import numpy as np

from ..audio import check_rate, pack_audio, unpack_audio
from ..constants import SAMPLING_RATE
from .config import MODES, JudgeConfig
from .items import SCORED_STATUSES, STATUS_EMPTY, STATUS_INVALID, STATUS_MISSING, JudgeItem

_DESCRIPTION = """\
The ParaS2S judge (arXiv 2511.08723) scores a (spoken query, spoken response) pair from 1 to 5 for how well the
response fits what was said and how it was said (emotion, sarcasm, speaker age and gender). Modes: `multistage`
(default; ASR + style perception + tone description, then a rubric LLM), `end2end` (one audio LLM hears both clips),
`reward_model` (one forward; expected value over the digits).
"""

_KWARGS_DESCRIPTION = """
Scores each (spoken query, spoken response) pair with the judge and aggregates the scores. `add_batch` and `add`
take the same arguments as `compute` (`add`: one pair, single values).
Args:
    query_audio (`list`): the spoken queries, each in any form the judge's audio door reads, mixed freely: a file
        path; raw samples (a float, int16 or int32 array or tensor at `sampling_rate`); a `{"array", "sampling_rate"}`
        or `{"path", "bytes"}` dict; encoded file bytes; or the `AudioDecoder` that `datasets` returns for an `Audio`
        column (`row["audio"]`, `dataset["audio"]`).
    response_audio (`list`): the spoken responses, one per query, in the same forms.
    sampling_rate (`int`, *optional*, defaults to `16000`): rate of the call's raw samples (and of `{"array"}` dicts
        without a rate); in `compute`, also of samples added earlier without one.
    dimension (`list[str]`, *optional*): per pair, `emotion`, `sarcasm`, `age` or `gender`.
    query_style (`list[str]`, *optional*): per pair, the query's style label; predicted when missing.
    query_text (`list[str]`, *optional*): per pair, the query's words; transcribed when missing.
    requirement (`list[str]`, *optional*): per pair, what a fitting reply does (the benchmark's requirement note).
    item_id (`list[str]`, *optional*): per pair, carried to `per_item`.
    A per-pair list may hold `None` for a pair without that value.
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
Examples:

    These run offline in seconds on a tiny random reward model (`parass2s_hf.testing`: its scores are noise). With
    real checkpoints, name them instead, or nothing for the default `multistage` judge.

    >>> import tempfile
    >>> import evaluate
    >>> import numpy as np
    >>> import soundfile as sf
    >>> import parass2s_hf
    >>> from parass2s_hf.testing import build_tiny_audio_llm
    >>> tmp = tempfile.TemporaryDirectory()
    >>> judge = evaluate.load("parass2s_judge", "reward_model", reward_model=build_tiny_audio_llm(tmp.name + "/rm"))

    The queries as `datasets` gives them (a benchmark row's `row["audio"]` is an `AudioDecoder`), responses as arrays:

    >>> bench = parass2s_hf.load_parass2sbench("sample", split="test").select(range(2))
    >>> t = np.arange(16000) / 16000
    >>> replies = [0.3 * np.sin(2 * np.pi * f * t) for f in (220, 330)]
    >>> out = judge.compute(query_audio=bench["audio"], response_audio=replies, dimension=bench["dimension"],
    ...                     query_style=bench["style"], requirement=bench["requirement"], item_id=bench["id"])
    >>> out["status"], out["num_scored"], 1 <= out["score"] <= 5
    (['ok', 'ok'], 2, True)
    >>> list(out["per_dimension"]), out["per_item"][0]["item_id"]
    (['emotion'], 'emotion-test-0001-happy')

    Batch by batch, every form mixed: a decoder, a `{"array", "sampling_rate"}` dict, a file, samples at the batch's
    `sampling_rate`. A silent response scores the minimum; a clip that cannot be read is reported, not scored:

    >>> sf.write(tmp.name + "/reply.wav", replies[0], 24000)
    >>> judge.add_batch(query_audio=[bench[0]["audio"], {"array": replies[1], "sampling_rate": 16000}],
    ...                 response_audio=[tmp.name + "/reply.wav", replies[1][::2]], sampling_rate=8000,
    ...                 dimension=["emotion", None])
    >>> judge.add(query_audio=bench[1]["audio"], response_audio=np.zeros(16000), dimension="emotion")
    >>> judge.add(query_audio=bench[1]["audio"], response_audio="missing.wav")
    >>> out = judge.compute()
    >>> out["status"]
    ['ok', 'ok', 'empty_response', 'invalid_input']
    >>> out["per_item"][3]["reason"]
    'pair 3: response_audio missing.wav: file not found'
    >>> tmp.cleanup()
"""

_CITATION = """\
@inproceedings{yang2026paras2s,
  title={ParaS2S: Benchmarking and Aligning Spoken Language Models for Paralinguistic-aware Speech-to-Speech Interaction},
  author={Yang, Shu-wen and Tu, Ming and Liu, Andy T. and Qu, Xinghua and Lee, Hung-yi and Lu, Lu and Wang, Yuxuan and Wu, Yonghui},
  booktitle={ICLR}, year={2026}
}
"""

AUDIO_INPUTS = ("query_audio", "response_audio")
PAIR_FIELDS = ("dimension", "query_style", "query_text", "requirement", "item_id")
"""Optional per-pair text inputs: stored beside the audio, so `add_batch` takes them as `compute` does."""

# One record per clip (`audio.pack_audio`): whatever form it came in, it fits one Arrow type, so forms can be mixed in
# a batch and across batches. Large binaries: a batch of clips can pass the 2 GB of a plain binary column.
_AUDIO_RECORD = {"path": datasets.Value("string"), "bytes": datasets.Value("large_binary"),
                 "samples": datasets.Value("large_binary"), "sampling_rate": datasets.Value("int64")}


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


def _column(name: str, values, n: int | None = None) -> list:
    """`values` as a list (any sequence: a list, a `datasets` column, the rows of a 2-D array), refusing a lone value:
    a string, a dict, or one clip's samples would otherwise be taken for several pairs."""
    lone = isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__")
    if lone or (getattr(values, "ndim", None) == 1 and name in AUDIO_INPUTS):
        what = "1-D array (one clip's samples)" if not lone else type(values).__name__
        raise ValueError(f"{name} must be a list with one value per pair, got a single {what}; use `add` for one pair.")
    values = list(values)
    if n is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} values but there are {n} pairs.")
    return values


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
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
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
            homepage="https://arxiv.org/abs/2511.08723",
            features=datasets.Features({**{name: _AUDIO_RECORD for name in AUDIO_INPUTS},
                                        **{name: datasets.Value("string") for name in PAIR_FIELDS}}),
        )

    def add_batch(self, *, query_audio=None, response_audio=None, sampling_rate: int | None = None, dimension=None,
                  query_style=None, query_text=None, requirement=None, item_id=None):
        """Add a batch of pairs to score at `compute`; the arguments are those of `compute`.

        Raises:
            `ValueError`: a missing or lone audio input, per-pair lists of another length, a per-pair value that is
                not a string, a clip in none of the audio forms, or a sampling rate that is not an integer in Hz;
                the message names the input (`query_audio[3]`). Nothing of a refused batch is stored.
        """
        # Everything is checked and packed before the first write: a refused batch leaves the metric as it was.
        batch = self._pack(query_audio, response_audio, sampling_rate,
                           dict(zip(PAIR_FIELDS, (dimension, query_style, query_text, requirement, item_id))))
        super().add_batch(**batch)

    def add(self, *, query_audio=None, response_audio=None, sampling_rate: int | None = None, dimension=None,
            query_style=None, query_text=None, requirement=None, item_id=None):
        """Add one pair to score at `compute`; the arguments are those of `compute`, with single values."""
        if query_audio is None or response_audio is None:
            raise ValueError("add needs both query_audio and response_audio (one clip each).")
        self.add_batch(query_audio=[query_audio], response_audio=[response_audio], sampling_rate=sampling_rate,
                       dimension=[dimension], query_style=[query_style], query_text=[query_text],
                       requirement=[requirement], item_id=[item_id])

    def compute(self, *, query_audio=None, response_audio=None, sampling_rate: int | None = None, dimension=None,
                query_style=None, query_text=None, requirement=None, item_id=None):
        """Score the pairs given here and those added with `add_batch`/`add`, in order; the arguments are described
        below."""
        if sampling_rate is not None:
            check_rate(sampling_rate, "sampling_rate")
        pair_fields = dict(zip(PAIR_FIELDS, (dimension, query_style, query_text, requirement, item_id)))
        if query_audio is not None or response_audio is not None or any(v is not None for v in pair_fields.values()):
            self.add_batch(query_audio=query_audio, response_audio=response_audio, sampling_rate=sampling_rate,
                           **pair_fields)
        elif self.writer is None and self.num_process == 1:
            raise ValueError("Nothing to score: pass query_audio and response_audio, or add pairs with add_batch/add.")
        # The rate also reaches `_compute`: it applies to samples added earlier without one.
        return super().compute(**({} if sampling_rate is None else {"sampling_rate": sampling_rate}))

    def _pack(self, query_audio, response_audio, sampling_rate, pair_fields: dict) -> dict:
        if query_audio is None or response_audio is None:
            missing = [name for name, v in zip(AUDIO_INPUTS, (query_audio, response_audio)) if v is None]
            raise ValueError(f"{' and '.join(missing)} missing: every batch needs query_audio and response_audio, "
                             f"one clip per pair.")
        if sampling_rate is not None:
            check_rate(sampling_rate, "sampling_rate")
        queries = _column("query_audio", query_audio)
        batch = {"query_audio": queries, "response_audio": _column("response_audio", response_audio, len(queries))}
        # A decoder that must be decoded now obeys the judge's length limit (a ready judge's own config, if it has one).
        max_seconds = (getattr(self._judge, "config", None) or self.judge_config).max_seconds
        for name in AUDIO_INPUTS:
            batch[name] = [pack_audio(a, sampling_rate, name=f"{name}[{i}]", max_seconds=max_seconds)
                           for i, a in enumerate(batch[name])]
        for name, values in pair_fields.items():
            values = [None] * len(queries) if values is None else _column(name, values, len(queries))
            for i, value in enumerate(values):
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"{name}[{i}] is {value!r} ({type(value).__name__}); expected a str or None.")
            batch[name] = values
        return batch

    def _enforce_nested_string_type(self, schema, obj):
        # A missing per-pair value, or an unused field of an audio record, is stored as null: not a wrong type.
        # (`_pack` has already checked every value's type.)
        if obj is None:
            return None
        return super()._enforce_nested_string_type(schema, obj)

    def _compute(self, query_audio, response_audio, dimension=None, query_style=None, query_text=None,
                 requirement=None, item_id=None, sampling_rate: int = SAMPLING_RATE):
        n = len(query_audio)
        pair_fields = {name: [None] * n if values is None else values
                       for name, values in zip(PAIR_FIELDS, (dimension, query_style, query_text, requirement,
                                                             item_id))}
        # Clips go to the judge as they came (unpacked): its audio door checks each pair on its own, so one bad pair
        # (NaN, empty, unreadable) is that pair's `invalid_input` and the batch goes on.
        items = [JudgeItem(unpack_audio(query_audio[i], sampling_rate), unpack_audio(response_audio[i], sampling_rate),
                           **{name: values[i] for name, values in pair_fields.items()}) for i in range(n)]
        results = self.judge.score(items)
        out = aggregate(results, {"per_dimension": pair_fields["dimension"], "per_style": pair_fields["query_style"]})
        out["status"] = [r.status for r in results]
        out["per_item"] = [r.to_dict() for r in results]
        return out
