"""`JudgeItem` and `JudgeResult`: what the judge takes and gives (docs/architecture.md, "Judge API")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_OK, STATUS_MISSING, STATUS_INVALID, STATUS_EMPTY = "ok", "missing", "invalid_input", "empty_response"
SCORED_STATUSES = (STATUS_OK, STATUS_EMPTY)
"""Statuses that carry a score: a judgement, or the minimum for an empty response (the system's failure)."""


def empty_response_reason(audio, min_seconds: float) -> str:
    """Why a loaded response (`audio.LoadedAudio`) counts as empty, or "" when it does not: silent (peak below
    -60 dBFS), or sounding for less than `min_seconds` (`JudgeConfig.min_response_seconds`). The judge, the metric,
    the evaluation runner and the RL reward all use this rule: such a response scores 1, status `empty_response`."""
    if audio.is_silent:
        return "silent audio (peak below -60 dBFS)"
    sounding = audio.sounding_seconds
    if sounding < min_seconds:
        return (f"{sounding:.2f} s of sound in {audio.duration:.2f} s, under min_response_seconds={min_seconds:g}")
    return ""


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


@dataclass(kw_only=True)
class Judgement:
    """The judgement of one pair, shared by a `JudgeResult` and an evaluation run's `ItemRecord` (declared once: a
    record takes these fields from the result as they are). Keyword-only, so a subclass's own fields keep their
    positions.

    Attributes:
        score (`int` or `None`): the rubric's integer 1-5 as parsed (or the argmax digit in `reward_model` mode); `None`
            when missing. Comparable with the paper's scores.
        score_expected (`float` or `None`): expected value over the probabilities of "1".."5" where logits exist (the
            RL reward); `None` otherwise.
        content_score (`int` or `None`): the rubric applied to what is said.
        style_score (`int` or `None`): the rubric applied to how it is said.
        rationale (`str`): the judge's explanation, when it gave one.
        perception (`dict`): transcripts, tone description, query style and where it came from.
        reason (`str`): why a score is missing or an input invalid; empty when ok.
    """

    score: int | None = None
    score_expected: float | None = None
    content_score: int | None = None
    style_score: int | None = None
    rationale: str = ""
    perception: dict = field(default_factory=dict)
    reason: str = ""


@dataclass(kw_only=True)
class JudgeResult(Judgement):
    """The judgement of one pair (the `Judgement` fields) with its status.

    Attributes:
        status (`str`): `"ok"`; `"empty_response"` (the response is empty, silent or sounds for less than
            `min_response_seconds`: score 1, the system's failure); `"missing"` (no score could be read: see `reason`);
            or `"invalid_input"` (unusable audio).
        item_id (`str` or `None`): the item's id.
        raw (`str`): the judge's raw answer (last attempt), for auditing.
    """

    status: str = STATUS_OK
    item_id: str | None = None
    raw: str = ""

    def to_dict(self) -> dict:
        return asdict(self)
