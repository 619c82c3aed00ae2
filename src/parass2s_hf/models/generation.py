"""What a generating backend returns, local or served: the answer, the digit logits at each generated digit (for the
expected score), and, for a served request that failed, the error instead of an answer."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..constants import SCORE_MAX, SCORE_MIN

DIGITS = tuple(str(d) for d in range(SCORE_MIN, SCORE_MAX + 1))
"""The score tokens "1".."5"."""


def expected_from_logits(logits: Sequence[float]) -> float:
    """Σ k · p(k) over k = 1..5, with p the softmax of the five digit logits (renormalised over the digits)."""
    x = np.asarray(logits, dtype=np.float64)
    p = np.exp(x - x.max())
    p /= p.sum()
    return float(np.dot(p, np.arange(SCORE_MIN, SCORE_MAX + 1)))


EXPECTED_NOTES = (
    # every call sets `max_new_tokens` on purpose; a checkpoint's own `max_length` is then ignored, as intended
    "Both `max_new_tokens`",
    # Whisper's `generate` passes its own suppress-token lists beside the generation config: nothing a caller can change
    "Passing `generation_config` together with generation-related arguments",
)
"""transformers' generation messages about what this package does on purpose, dropped during its own calls."""


class _DropExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(EXPECTED_NOTES)


@contextmanager
def expected_generation_notes() -> Iterator[None]:
    """Within the block, transformers' `generate` does not log the notes of `EXPECTED_NOTES` (a run printed each of
    them once per batch). Every other message, warnings included, still shows."""
    logger = logging.getLogger("transformers.generation.utils")
    drop = _DropExpected()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


_FINAL = (re.compile(r"<RESPONSE>\s*", re.IGNORECASE), re.compile(r"\s*</RESPONSE>", re.IGNORECASE))
_THINK_END = re.compile(r"</(?:think|THINK)>\s*")


@dataclass
class Generation:
    """A generated answer and, where logits exist, the logits of "1".."5" at each generated digit: a list of
    (character offset of the digit in `text`, the five digit logits at that step), so the expected score is read at
    the very digit the parser took the score from (`expected_at`), never at another digit of the rationale.

    Attributes:
        text (`str`): the answer (stripped).
        digit_steps (`list[tuple[int, list[float]]]`, *optional*): see above; `None` where no logits exist.
        error (`str`): a served request that failed after its retries: why (the answer is then empty).
        note (`str`): why `digit_steps` is missing although asked for (e.g. the endpoint gives no `logprobs`).
    """

    text: str
    digit_steps: list[tuple[int, list[float]]] | None = None
    error: str = ""
    note: str = ""

    def expected_at(self, offset: int | None) -> float | None:
        """Expected value over "1".."5" at the generated digit that stands at character `offset` of `text`; `None`
        when no logits were recorded there (e.g. the digit was part of a longer token, or no logits exist)."""
        if offset is None or not self.digit_steps:
            return None
        for at, logits in self.digit_steps:
            if at == offset:
                return expected_from_logits(logits)
        return None

    def final(self) -> Generation:
        """The final answer of a reasoning model, with the digit offsets moved along: the text inside
        `<RESPONSE>...</RESPONSE>` (Audio-Reasoner's format) or after `</think>`; unchanged when neither is there.
        A reasoning block whose answer never came (the token budget ran out) gives an empty answer."""
        text = self.text
        start = 0
        end = len(self.text)
        opened = _FINAL[0].search(text)
        if opened:
            start = opened.end()
            closed = _FINAL[1].search(text, start)
            end = closed.start() if closed else end
        else:
            think = _THINK_END.search(text)
            if think:
                start = think.end()
            elif re.match(r"\s*<(?:think|THINK)>", text):
                start = end  # still thinking when the budget ran out: no answer
        if (start, end) == (0, len(text)):
            return self
        steps = None if self.digit_steps is None else [(o - start, lg) for o, lg in self.digit_steps if start <= o < end]
        return Generation(text[start:end], steps, self.error, self.note)
