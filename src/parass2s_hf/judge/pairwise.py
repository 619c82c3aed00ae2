"""Pairwise judging: which of two responses to one spoken query fits better (`ParaS2SJudge.compare`).

```python
>>> from parass2s_hf.judge import JudgeConfig, PairItem, ParaS2SJudge
>>> judge = ParaS2SJudge(JudgeConfig(mode="multistage"))
>>> [r] = judge.compare([PairItem("query.wav", "reply_a.wav", "reply_b.wav", dimension="emotion", query_style="sad")])
>>> r.preference, r.position_consistent, r.verdicts      # "a", True, {"ab": "first", "ba": "second"}
```

Absolute 1-5 scores tie often and drift between judge models; a preference between two replies to the same query is
what peers (AudioJudge, EmergentTTS-Eval) report as win rates. Judges favour a position, so every comparison is asked
in both orders: A shown first (`"ab"`), then B shown first (`"ba"`). The two verdicts must agree: a preference that
changes with the order (A first, then B first; or a preference one way and a tie the other) is a tie, flagged
`position_consistent=False`. A judge that always prefers the first reply gives nothing but such ties.

Per mode:
- `multistage`: the perception of every clip as in scoring (transcripts, the tone of each reply, the query's style;
  cached per clip), then the rubric LLM reads both replies and says which fits better;
- `end2end`: the audio LLM hears the query and both replies (three clips);
- `reward_model`: no comparison prompt exists for a model trained to score one reply, so each reply gets its absolute
  expected score and the higher one is preferred (`method="expected_scores"`, the two scores in `scores`; order does
  not enter, so `position_consistent` is `None`); scores within `tie_margin` of each other are a tie.

Served backends work the same way. The failure rules of scoring hold: a verdict that cannot be read after the
stricter retries is missing (never a guessed preference); an empty or silent reply loses to a real one without a model
call (two empty replies tie); unusable audio is `invalid_input`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..audio import AudioError
from . import prompts
from .items import STATUS_INVALID, STATUS_MISSING, STATUS_OK, JudgeItem, empty_response_reason
from .parsing import JudgeParseError
from .preference import FIRST, SECOND, TIE, parse_preference

ORDERS = ("ab", "ba")
"""The two orders each comparison is asked in: A shown first, then B shown first."""
PREFERENCES = ("a", "b", "tie")


@dataclass
class PairItem:
    """One query and two responses to it.

    Args:
        query_audio: the spoken query (a path, an array with `sampling_rate`, a `{"array", "sampling_rate"}` dict, or
            anything `parass2s_hf.load_audio` reads).
        response_a, response_b: the two spoken responses, in the same forms.
        sampling_rate (`int`, *optional*): rate of raw arrays.
        dimension, query_style, query_text, requirement, item_id (*optional*): as in `JudgeItem`.
    """

    query_audio: Any
    response_a: Any
    response_b: Any
    sampling_rate: int | None = None
    dimension: str | None = None
    query_style: str | None = None
    query_text: str | None = None
    requirement: str | None = None
    item_id: str | None = None

    def side(self, which: str) -> JudgeItem:
        """The (query, response `which`) pair as a `JudgeItem` (how the input checks and `reward_model` see it)."""
        return JudgeItem(self.query_audio, self.response_a if which == "a" else self.response_b,
                         sampling_rate=self.sampling_rate, dimension=self.dimension, query_style=self.query_style,
                         query_text=self.query_text, requirement=self.requirement, item_id=self.item_id)


@dataclass
class PairResult:
    """The comparison of two responses.

    Attributes:
        preference (`str` or `None`): `"a"`, `"b"` or `"tie"`; `None` when missing or invalid.
        status (`str`): `"ok"`, `"missing"` (a verdict could not be read: see `reason`) or `"invalid_input"`.
        position_consistent (`bool` or `None`): whether the two orders gave the same verdict; `None` where order did
            not enter (`reward_model` mode, an empty response) or the result is missing.
        method (`str`): `"rubric"` (multi-stage), `"end2end"`, `"expected_scores"` (`reward_model`: the higher
            absolute expected score), or `"empty_response"` (an empty reply lost without a model call).
        verdicts (`dict`): per order (`"ab"`, `"ba"`), the verdict as given: `"first"`, `"second"`, `"tie"`, or `None`
            where it could not be read.
        scores (`dict`): `reward_model` mode: each response's expected score (`{"a": 3.9, "b": 2.1}`).
        rationale (`dict`): per order, the judge's reasons.
        perception (`dict`): multi-stage: the query's transcript and style, each response's transcript and tone.
        reason (`str`): why the result is missing or invalid, why a response lost without a call, why the orders
            disagreed, or (`reward_model`) the two scores compared; empty for a consistent verdict.
        raw (`dict`): per order, the judge's raw answer (last attempt).
        item_id (`str` or `None`): the item's id.
    """

    preference: str | None = None
    status: str = STATUS_OK
    position_consistent: bool | None = None
    method: str = ""
    verdicts: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    rationale: dict = field(default_factory=dict)
    perception: dict = field(default_factory=dict)
    reason: str = ""
    raw: dict = field(default_factory=dict)
    item_id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def combine(verdict_ab: str, verdict_ba: str) -> tuple[str, bool]:
    """The preference of a comparison asked in both orders, and whether the orders agreed.

    `verdict_ab` is the verdict with A shown first, `verdict_ba` with B shown first ("first", "second" or "tie"). Only
    the same preference from both orders counts; anything else is a tie, position-inconsistent.
    """
    as_ab = {FIRST: "a", SECOND: "b", TIE: "tie"}[verdict_ab]
    as_ba = {FIRST: "b", SECOND: "a", TIE: "tie"}[verdict_ba]
    return (as_ab, True) if as_ab == as_ba else ("tie", False)


def _check(index: int, item) -> PairItem:
    if isinstance(item, Mapping):
        try:
            item = PairItem(**item)
        except TypeError as e:
            raise ValueError(f"comparison {index}: {e}") from None
    if not isinstance(item, PairItem):
        raise TypeError(f"comparison {index}: expected a PairItem or a dict, got {type(item).__name__}")
    return item


def compare(judge, items: Sequence[PairItem | Mapping], *, tie_margin: float = 0.0) -> list[PairResult]:
    """`ParaS2SJudge.compare`: one `PairResult` per item, in order (see the module's docstring)."""
    items = [_check(i, item) for i, item in enumerate(items)]
    for i, item in enumerate(items):  # the judge's own checks of dimension and style, naming the comparison
        try:
            judge._check_item(i, item.side("a"))
        except ValueError as e:
            raise ValueError(str(e).replace(f"pair {i}:", f"comparison {i}:", 1)) from None
    if not judge._models_checked:
        judge._check_models()
        judge._models_checked = True
    results: list[PairResult | None] = [None] * len(items)
    clips = {}
    for i, item in enumerate(items):
        loaded, empty = {}, {}
        try:
            loaded["query"] = _load(judge, i, "query_audio", item.query_audio, item.sampling_rate)
            for side in ("a", "b"):
                audio = item.response_a if side == "a" else item.response_b
                try:
                    loaded[side] = _load(judge, i, f"response_{side}", audio, item.sampling_rate)
                except AudioError as e:
                    if not e.problem.startswith("empty"):
                        raise
                    empty[side] = e.problem
                    continue
                reason = empty_response_reason(loaded[side], judge.config.min_response_seconds)
                if reason:
                    empty[side] = reason
        except AudioError as e:
            results[i] = PairResult(status=STATUS_INVALID, reason=str(e), item_id=item.item_id)
            continue
        if empty:
            # An empty reply is its system's failure (score 1 when scored): it loses to a real one, ties with another.
            preference = "tie" if len(empty) == 2 else ("b" if "a" in empty else "a")
            results[i] = PairResult(preference=preference, method="empty_response", item_id=item.item_id,
                                    reason="; ".join(f"response {s.upper()} is empty: {r}" for s, r in empty.items()))
            continue
        clips[i] = (loaded["query"].array, loaded["a"].array, loaded["b"].array)
    valid = [i for i in range(len(items)) if results[i] is None]
    if valid:
        mode = judge.config.mode
        if mode == "reward_model":
            done = _expected_scores(judge, [items[i] for i in valid], [clips[i] for i in valid], tie_margin)
        else:
            done = _both_orders(judge, [items[i] for i in valid], [clips[i] for i in valid])
        for i, result in zip(valid, done):
            result.item_id = items[i].item_id
            results[i] = result
    judge.counts.update(f"compare_{r.status}" for r in results)
    judge.counts["compare_position_inconsistent"] += sum(r.position_consistent is False for r in results)
    return results


def _load(judge, index: int, which: str, audio, sampling_rate):
    from ..audio import load_audio

    path = f" {os.fspath(audio)}" if isinstance(audio, (str, os.PathLike)) else ""
    return load_audio(audio, sampling_rate, max_seconds=judge.config.max_seconds,
                      name=f"comparison {index}: {which}{path}")


def _rationale(text: str) -> str:
    from .parsing import _json_spans

    for _, _, obj in _json_spans(text or ""):
        if isinstance(obj.get("rationale"), str):
            return obj["rationale"]
    return (text or "").strip()


def _both_orders(judge, items: list[PairItem], clips: list[tuple]) -> list[PairResult]:
    """Multi-stage or end-to-end: each comparison asked with A first and with B first; verdicts read strictly."""
    cfg = judge.config
    n = len(items)
    # jobs: (item index, order); the prompts for order "ba" show B's clip (and perception) first
    jobs = [(i, order) for order in ORDERS for i in range(n)]
    failed, perception = {}, [{} for _ in items]
    if cfg.mode == "multistage":
        seen = judge.perceive(items, [q for q, _, _ in clips], [(a, b) for _, a, b in clips])
        failed = seen["failed"]
        from .judge import shown

        for i in range(n):
            perception[i] = {"query_text": shown(seen["query_text"][i]),
                             "query_text_source": seen["query_text_source"][i],
                             "query_style": shown(seen["query_style"][i]),
                             "query_style_source": seen["query_style_source"][i],
                             "query_style_given": items[i].query_style,
                             "response_text": {"a": shown(seen["response_text"][i][0]),
                                               "b": shown(seen["response_text"][i][1])},
                             "response_tone": {"a": shown(seen["response_tone"][i][0]),
                                               "b": shown(seen["response_tone"][i][1])}}

        def ask(indices, retry=False):
            messages = []
            for k in indices:
                i, order = jobs[k]
                texts, tones = seen["response_text"][i], seen["response_tone"][i]
                if order == "ba":
                    texts, tones = texts[::-1], tones[::-1]
                messages.append(prompts.pairwise_messages(
                    query_text=seen["query_text"][i], query_style=seen["query_style"][i] or "unknown",
                    dimension=items[i].dimension, requirement=items[i].requirement, responses=texts, tones=tones,
                    retry=retry))
            return judge.rubric.generate(messages, cfg.rubric_max_new_tokens)

        stage, method = "rubric", "rubric"
    else:
        def ask(indices, retry=False):
            convs, audios = [], []
            for k in indices:
                i, order = jobs[k]
                query, a, b = clips[i]
                convs.append(prompts.pairwise_conversation(dimension=items[i].dimension,
                                                           requirement=items[i].requirement, retry=retry))
                audios.append([query, a, b] if order == "ab" else [query, b, a])
            return judge.audio_llm.generate(convs, audios, cfg.rubric_max_new_tokens)

        stage, method = "end2end", "end2end"

    ready = [k for k, (i, _) in enumerate(jobs) if i not in failed]
    read = {}
    if ready:
        with judge._timed(stage):
            outcomes = judge._read_with_retries(ask(ready), lambda idx: ask([ready[k] for k in idx], retry=True),
                                                parse_preference)
        read = dict(zip(ready, outcomes))
    position = {job: k for k, job in enumerate(jobs)}
    results = []
    for i in range(n):
        if i in failed:
            results.append(PairResult(status=STATUS_MISSING, reason=failed[i], method=method,
                                      perception=perception[i]))
            continue
        verdicts, rationale, raw, problems = {}, {}, {}, []
        for order in ORDERS:
            gen, verdict, error = read[position[(i, order)]]
            verdicts[order] = verdict
            raw[order] = "" if gen.error else gen.text
            if verdict is None:
                try:
                    problems.append(f"order {order}: {judge._missing(gen, error, 'verdict')}")
                except JudgeParseError as e:
                    raise JudgeParseError(f"comparison {i}, order {order}: {e}") from None
            else:
                rationale[order] = _rationale(gen.text)
        if problems:
            results.append(PairResult(status=STATUS_MISSING, reason="; ".join(problems), method=method,
                                      verdicts=verdicts, rationale=rationale, raw=raw, perception=perception[i]))
            continue
        preference, consistent = combine(verdicts["ab"], verdicts["ba"])
        results.append(PairResult(preference=preference, position_consistent=consistent, method=method,
                                  verdicts=verdicts, rationale=rationale, raw=raw, perception=perception[i],
                                  reason="" if consistent else
                                  f"position-inconsistent: {verdicts['ab']} with A first, {verdicts['ba']} with B "
                                  f"first; counted as a tie"))
    return results


def _expected_scores(judge, items: list[PairItem], clips: list[tuple], tie_margin: float) -> list[PairResult]:
    """`reward_model` mode: each response's absolute expected score; the higher is preferred."""
    sides = [item.side(s) for item in items for s in ("a", "b")]
    pairs = [(q, r) for q, a, b in clips for r in (a, b)]
    scored = judge._reward_model(sides, pairs)
    results = []
    for i in range(len(items)):
        a, b = scored[2 * i], scored[2 * i + 1]
        if a.status != STATUS_OK or b.status != STATUS_OK:
            reason = "; ".join(f"response {s.upper()}: {r.reason}" for s, r in (("a", a), ("b", b))
                               if r.status != STATUS_OK)
            results.append(PairResult(status=STATUS_MISSING, method="expected_scores", reason=reason))
            continue
        diff = a.score_expected - b.score_expected
        preference = "tie" if abs(diff) <= tie_margin else ("a" if diff > 0 else "b")
        results.append(PairResult(preference=preference, method="expected_scores",
                                  scores={"a": a.score_expected, "b": b.score_expected},
                                  perception={"digit_probability_mass": {"a": a.perception.get("digit_probability_mass"),
                                                                         "b": b.perception.get(
                                                                             "digit_probability_mass")}},
                                  reason=f"the higher absolute expected score (A {a.score_expected:.3f}, B "
                                         f"{b.score_expected:.3f}; tie within {tie_margin:g}): reward_model mode has "
                                         f"no comparison prompt"))
    return results
