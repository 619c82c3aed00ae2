"""Turn ParaS2SBench rows (or any dataset with an audio column) into the rows `ParaS2SGRPOTrainer` and the SFT
warm-up train on, and find the rows whose audio cannot be used before training starts.

```python
>>> from parass2s_hf import load_parass2sbench
>>> from parass2s_hf.align import to_policy_rows
>>> rows = to_policy_rows(load_parass2sbench("synthetic", split="train"))
>>> trainer = ParaS2SGRPOTrainer(model=..., args=ParaS2SGRPOConfig(...), train_dataset=rows)
```
"""

from __future__ import annotations

import logging
from typing import Any

from ..audio import AudioError, load_audio

logger = logging.getLogger(__name__)

CONTEXT_COLUMNS = ("id", "dimension", "style", "text", "requirement")
"""Columns the reward reads when present: they tell the judge the query's dimension, style, words and requirement
note. A dataset without them still trains (the judge then perceives the query itself)."""


class InvalidPromptAudioError(ValueError):
    """Prompt rows whose audio the audio door refuses; `.invalid` lists (row index, id, reason)."""

    def __init__(self, invalid: list[tuple[int, Any, str]], total: int, column: str):
        self.invalid = invalid
        shown = "; ".join(f"row {i} ({rid}): {reason}" for i, rid, reason in invalid[:10])
        more = f"; and {len(invalid) - 10} more" if len(invalid) > 10 else ""
        super().__init__(f"{len(invalid)} of {total} prompt rows have unusable audio in column {column!r}: "
                         f"{shown}{more}. Fix or drop them (validate_prompt_audio(..., drop=True)).")


def check_dataset(dataset, what: str = "prompt dataset") -> None:
    """`dataset` must be a `datasets.Dataset` (map-style: its rows are counted and read by index).

    Raises:
        `ValueError`: naming what was passed and how to make a dataset of it.
    """
    import datasets

    if not isinstance(dataset, datasets.Dataset):
        raise ValueError(f"The {what} must be a map-style datasets.Dataset, got {type(dataset).__name__}. Make one "  # noqa: TRY004
                         f"with datasets.Dataset.from_list(rows) (or load_parass2sbench / load_dataset).")


def validate_prompt_audio(dataset, audio_column: str = "audio", *, max_seconds: float = 60.0, drop: bool = False):
    """Read every row's audio through the audio door once, before training.

    Args:
        dataset (`datasets.Dataset`): rows with an audio column (any form the audio door reads).
        audio_column (`str`, *optional*, defaults to `"audio"`): the column holding the spoken prompt.
        max_seconds (`float`, *optional*, defaults to `60.0`): longest accepted prompt.
        drop (`bool`, *optional*, defaults to `False`): drop the unusable rows (logged) instead of raising.

    Returns:
        `datasets.Dataset`: the dataset (without the unusable rows when `drop`).

    Raises:
        `ValueError`: not a `datasets.Dataset`, or the column is missing; `InvalidPromptAudioError`: unusable rows and
            `drop=False` (lists them).
    """
    check_dataset(dataset)
    if audio_column not in dataset.column_names:
        raise ValueError(f"The prompt dataset has no audio column {audio_column!r}; its columns are "
                         f"{dataset.column_names}. Set prompt_audio_column to the column holding the spoken prompts.")
    from ..progress import progress

    invalid = []
    ids = dataset["id"] if "id" in dataset.column_names else list(range(len(dataset)))
    for i in progress(range(len(dataset)), desc="checking prompt audio", unit="row", off=len(dataset) < 256):
        try:
            load_audio(dataset[i][audio_column], max_seconds=max_seconds, name=f"row {i}")
        except AudioError as e:
            invalid.append((i, ids[i], e.problem))
    if not invalid:
        return dataset
    if not drop:
        raise InvalidPromptAudioError(invalid, len(dataset), audio_column)
    logger.warning("dropping %d prompt row(s) with unusable audio: %s", len(invalid),
                   ", ".join(str(rid) for _, rid, _ in invalid[:20]))
    bad = {i for i, _, _ in invalid}
    return dataset.select([i for i in range(len(dataset)) if i not in bad])


class LazyPromptCheck:
    """The prompt check of a streamed (`IterableDataset`) prompt set, row by row as batches are drawn: a row whose
    audio the audio door refuses (unreadable, silent-free rules aside, longer than `max_seconds`) is dropped and
    counted in `dropped` (by reason), or raises `InvalidPromptAudioError` without `drop`. Rows without the audio
    column pass (text prompts). Used as `IterableDataset.filter(LazyPromptCheck(...))`."""

    def __init__(self, audio_column: str = "audio", max_seconds: float = 60.0, drop: bool = False):
        from collections import Counter

        self.audio_column = audio_column
        self.max_seconds = max_seconds
        self.drop = drop
        self.dropped = Counter()
        self.seen = 0

    def __call__(self, row: dict) -> bool:
        self.seen += 1
        if row.get(self.audio_column) is None:
            return True
        try:
            load_audio(row[self.audio_column], max_seconds=self.max_seconds, name=f"row {row.get('id', self.seen)}")
        except AudioError as e:
            if not self.drop:
                raise InvalidPromptAudioError([(self.seen - 1, row.get("id"), e.problem)], self.seen,
                                              self.audio_column) from None
            self.dropped[e.problem.split(":")[0]] += 1
            logger.warning("dropping streamed prompt %s: %s", row.get("id", self.seen - 1), e.problem)
            return False
        return True


def to_policy_rows(dataset, audio_column: str = "audio", *, validate: bool = True, drop_invalid: bool = False,
                   max_seconds: float = 60.0):
    """Check a prompt dataset for `ParaS2SGRPOTrainer`: the spoken queries in `audio_column`, plus the context
    columns the reward uses when present (`CONTEXT_COLUMNS`).

    The policy's conversation is not stored in the dataset: the trainer builds it from
    `ParaS2SGRPOConfig.policy_system_prompt` for every row that has audio and no `prompt` of its own. (A conversation
    mixing text and audio parts does not survive Arrow's schema unification: every part would gain the other's keys,
    which some chat templates read as a second kind of content.) Rows with a `prompt` column keep it (text-only GRPO
    works as in stock TRL).

    Args:
        dataset (`datasets.Dataset`): ParaS2SBench rows, or any dataset with an audio column. The audio stays in its
            column and is decoded on use, so a 100k-prompt dataset is never materialised.
        audio_column (`str`, *optional*, defaults to `"audio"`): the column holding the spoken query.
        validate (`bool`, *optional*, defaults to `True`): run `validate_prompt_audio` first.
        drop_invalid (`bool`, *optional*, defaults to `False`): drop unusable rows instead of raising.
        max_seconds (`float`, *optional*, defaults to `60.0`): longest accepted prompt (`max_prompt_seconds`).

    A streamed `IterableDataset` (its `column_names` may be unknown) is not read ahead: it is checked lazily, row by
    row as batches are drawn (`LazyPromptCheck`).

    Returns:
        `datasets.Dataset` or `datasets.IterableDataset`: the rows to train on.

    Raises:
        `ValueError`: not a dataset, or no `audio_column`; `InvalidPromptAudioError` (see `validate_prompt_audio`).
    """
    import datasets

    if isinstance(dataset, datasets.IterableDataset):
        return dataset.filter(LazyPromptCheck(audio_column, max_seconds, drop_invalid)) if validate else dataset
    if validate:
        return validate_prompt_audio(dataset, audio_column, max_seconds=max_seconds, drop=drop_invalid)
    if not isinstance(getattr(dataset, "column_names", None), list):  # unvalidated: an IterableDataset is fine
        raise ValueError(f"The prompt dataset must be a datasets.Dataset or IterableDataset with known columns, "  # noqa: TRY004
                         f"got {type(dataset).__name__}. Make one with datasets.Dataset.from_list(rows).")
    if audio_column not in dataset.column_names:
        raise ValueError(f"The prompt dataset has no audio column {audio_column!r}; its columns are "
                         f"{dataset.column_names}.")
    return dataset
