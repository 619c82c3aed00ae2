"""Word error rate with the package's one normalisation (jiwer): the build's verify stage, the evaluation's objective
signals and the GRPO reward's logged WER all use `word_error_rate`, so their numbers mean the same thing.

```python
>>> from parass2s_hf.wer import word_error_rate
>>> word_error_rate("It's raining,  again!", "its raining again")
0.0
>>> word_error_rate("one two three four", "one two three")
0.25

```
"""

from __future__ import annotations

import re

_WORD_TRANSFORM = None


def _transform():
    global _WORD_TRANSFORM
    if _WORD_TRANSFORM is None:
        try:
            import jiwer
        except ImportError as e:
            raise ImportError("Word error rates are computed with jiwer: pip install jiwer.") from e
        _WORD_TRANSFORM = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                                         jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    return _WORD_TRANSFORM


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of `hypothesis` against `reference`, both lower-cased, without punctuation, spaces collapsed. An empty
    hypothesis scores 1.0 (every word deleted)."""
    import jiwer

    transform = _transform()
    if not re.search(r"\w", hypothesis or ""):
        return 1.0
    return float(jiwer.wer(reference, hypothesis, reference_transform=transform, hypothesis_transform=transform))
