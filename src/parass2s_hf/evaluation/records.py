"""One evaluated item as written to a run's `results.jsonl`, and the statuses it can end in.

Every finished (record, sample) is one JSON line, keyed by the record id, the sample index, the system's fingerprint
and the judge's fingerprint: a rerun skips the keys it finds, and lines written under other settings are ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..judge.items import (
    SCORED_STATUSES,
    STATUS_EMPTY,
    STATUS_INVALID,
    STATUS_MISSING,
    STATUS_OK,
    Judgement,
    JudgeResult,
)

# STATUS_EMPTY: the system answered with empty or silent audio, or too little sound (the judge's rule,
# `judge.items.empty_response_reason`): its failure, scored `SCORE_MIN` and counted separately.
STATUS_SYSTEM_ERROR = "system_error"
"""The system raised, or returned an error, or audio the audio door cannot read: recorded with the error; no score."""
STATUSES = (STATUS_OK, STATUS_EMPTY, STATUS_MISSING, STATUS_INVALID, STATUS_SYSTEM_ERROR)
# SCORED_STATUSES: statuses whose `score` counts in the report; the others are failures with no score (counted, never
# invented).
__all__ = ["SCORED_STATUSES", "STATUSES", "STATUS_EMPTY", "STATUS_INVALID", "STATUS_MISSING", "STATUS_OK",
           "STATUS_SYSTEM_ERROR", "ItemRecord", "subset_of"]

REAL_SUBSETS = ("iemocap", "meld")
SYNTHETIC_SUBSETS = ("age", "emotion", "gender", "sarcasm")
SUBSETS = SYNTHETIC_SUBSETS + REAL_SUBSETS
"""The paper's six subsets, in its Table 4 column order."""


def subset_of(row: dict) -> str:
    """A row's Table-4 subset: its corpus for real rows (`source` iemocap or meld), else its dimension."""
    source = (row.get("source") or "").lower()
    return source if source in REAL_SUBSETS else row["dimension"]


@dataclass
class ItemRecord(Judgement):
    """One judged (record, sample): the item's own fields and the judge's `Judgement` (score, score_expected,
    content_score, style_score, rationale, perception, reason: keyword-only, declared once in `judge.items`).

    Attributes:
        id (`str`): the benchmark record id.
        sample (`int`): which of the `num_samples` responses (0-based).
        system_fingerprint (`str`), judge_fingerprint (`str`): the settings the item was made under.
        subset (`str`): one of `SUBSETS`; dimension (`str`), style (`str`): the query's dimension and style.
        status (`str`): one of `STATUSES`.
        score (`int` or `None`): the judge's integer 1-5 (`SCORE_MIN` for an empty response); `None` when no score.
        score_expected (`float` or `None`): the judge's expected score where it has logits.
        content_score, style_score (`int` or `None`): the rubric's two parts, where the judge gives them.
        reason (`str`): why there is no score, or the system's error; empty when ok.
        response_path (`str` or `None`): the response audio, relative to the run folder.
        response_text (`str` or `None`): the response's words as the system gave them.
        response_seconds (`float` or `None`): duration of the response audio.
        perception (`dict`), rationale (`str`): what the judge heard and why it scored so.
        system_info (`dict`): the system's extra output (`S2SResponse.info`).
        timings (`dict`): seconds spent on this item per stage (`generate`, `judge`), shares of its batch.
    """

    id: str
    sample: int
    system_fingerprint: str
    judge_fingerprint: str
    subset: str
    dimension: str
    style: str
    status: str
    response_path: str | None = None
    response_text: str | None = None
    response_seconds: float | None = None
    system_info: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.id, self.sample, self.system_fingerprint, self.judge_fingerprint)

    @classmethod
    def from_result(cls, result: JudgeResult, **item) -> ItemRecord:
        """The record of a judged item: `item` (id, sample, fingerprints, subset, dimension, style, response fields)
        with the judgement of `result`, every field the two share (`JUDGEMENT_FIELDS`) taken as it is."""
        return cls(**item, **{name: getattr(result, name) for name in JUDGEMENT_FIELDS})

    def to_dict(self) -> dict:
        data = asdict(self)
        # the item first, then its judgement, as a results.jsonl line has always read (and hashed)
        return {name: data[name] for name in RECORD_ORDER}

    @classmethod
    def from_dict(cls, data: dict) -> ItemRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


JUDGEMENT_FIELDS = (*(f.name for f in fields(Judgement)), "status")
"""The fields a record takes from the judge's `JudgeResult`: the `Judgement` both inherit, and the status."""

RECORD_ORDER = ("id", "sample", "system_fingerprint", "judge_fingerprint", "subset", "dimension", "style", "status",
                "score", "score_expected", "content_score", "style_score", "reason", "response_path", "response_text",
                "response_seconds", "perception", "rationale", "system_info", "timings")
"""The key order of a `results.jsonl` line."""
assert set(RECORD_ORDER) == set(ItemRecord.__dataclass_fields__), "RECORD_ORDER must name every ItemRecord field"
