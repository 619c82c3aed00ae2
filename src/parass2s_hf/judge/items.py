"""`JudgeItem` and `JudgeResult`: what the judge takes and gives (design.md, "Judge API")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_OK, STATUS_MISSING, STATUS_INVALID = "ok", "missing", "invalid_input"


@dataclass
class JudgeItem:
    """One (query, response) pair.

    Args:
        query_audio: the spoken query: a path, an array with `sampling_rate`, a `{"array", "sampling_rate"}` dict, or
            anything the audio door (`parass2s_hf.load_audio`) reads.
        response_audio: the spoken response, in the same forms.
        sampling_rate (`int`, *optional*): rate of raw arrays.
        dimension (`str`, *optional*): `emotion`, `sarcasm`, `age` or `gender` (closes the list of query styles).
        query_style (`str`, *optional*): the query's style label; predicted when missing.
        query_text (`str`, *optional*): the query's words; transcribed when missing.
        requirement (`str`, *optional*): what a fitting reply does (the benchmark's requirement note).
        item_id (`str`, *optional*): carried to the result.
    """

    query_audio: Any
    response_audio: Any
    sampling_rate: int | None = None
    dimension: str | None = None
    query_style: str | None = None
    query_text: str | None = None
    requirement: str | None = None
    item_id: str | None = None


@dataclass
class JudgeResult:
    """The judgement of one pair.

    Attributes:
        score (`int` or `None`): the rubric's integer 1-5 as parsed (or the argmax digit in `reward_model` mode); `None`
            when missing. Comparable with the paper's scores.
        score_expected (`float` or `None`): expected value over the probabilities of "1".."5" where logits exist (the
            RL reward); `None` otherwise.
        content_score (`int` or `None`): the rubric applied to what is said.
        style_score (`int` or `None`): the rubric applied to how it is said.
        rationale (`str`): the judge's explanation, when it gave one.
        perception (`dict`): transcripts, tone description, query style and where it came from.
        status (`str`): `"ok"`, `"missing"` (no score could be read: see `reason`) or `"invalid_input"`.
        reason (`str`): why a score is missing or an input invalid; empty when ok.
        item_id (`str` or `None`): the item's id.
        raw (`str`): the judge's raw answer (last attempt), for auditing.
    """

    score: int | None = None
    score_expected: float | None = None
    content_score: int | None = None
    style_score: int | None = None
    rationale: str = ""
    perception: dict = field(default_factory=dict)
    status: str = STATUS_OK
    reason: str = ""
    item_id: str | None = None
    raw: str = ""

    def to_dict(self) -> dict:
        return asdict(self)
