"""Does a style analyzer hear the voice, or read the words? The text-leakage probe, on PolyTone data.

On PolyTone data every text is spoken in every style of the dimension. That gives two kinds of pairs of clips whose
answers a word-reading classifier gets wrong:

- same text, different styles: the words are identical, only the voice differs. An analyzer that hears the voice
  tells the two apart (gives them different labels); one that reads the words gives both the same label.
- different texts, same style: the words differ, the style is shared. An analyzer that hears the voice keeps them
  together (gives them the same label); one that reads the words scatters them by text.

**What a leaking analyzer looks like.** Trained on data where each text comes in one style (the words predict the
label), an analyzer can reach high accuracy on held-out clips of the same kind by recognising topics and phrasings,
while failing on the same-text pairs: it labels both clips of a text alike, so `same_text_separated` sits near 0 and
`same_text_both_correct` near 0, although `accuracy` looks good. A constant classifier scores the opposite pattern
(`different_text_kept_together` 1, `same_text_separated` 0). Only an analyzer that hears the voice scores high on
both pair kinds and on `same_text_both_correct` (about `accuracy ** 2` when its errors are independent). Every
number is computed exactly over all pairs of the evaluation set.

```python
>>> from parass2s_hf.analyzers import text_leakage_probe
>>> report = text_leakage_probe("runs/analyzer-gender", test_dataset)          # a saved analyzer, or a predict_fn
>>> report.accuracy, report.same_text_separated, report.different_text_kept_together
(0.97, 0.95, 0.96)
>>> print(report.summary())
```
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..audio import load_audio
from ..constants import SAMPLING_RATE, STYLE_TO_DIMENSION, STYLES
from .train import crop_audio


class AnalyzerPredictor:
    """A saved audio classifier as a function `list of 16 kHz arrays -> list of labels`.

    It is the judge's own backend (`models.AudioClassifierBackend`), on whole clips unless `max_seconds`
    crops them (to their start), so the probe measures what the judge will hear.

    Args:
        model_path (`str`): the analyzer's folder (or Hub id): model + feature extractor.
        batch_size (`int`, *optional*, defaults to `16`): clips per forward pass.
        max_seconds (`float`, *optional*): crop each clip to its first `max_seconds` (whole clips when `None`).
        device (`str`, *optional*): where to run (`"cuda"` when available, else `"cpu"`).
    """

    def __init__(self, model_path: str, batch_size: int = 16, max_seconds: float | None = None,
                 device: str | None = None):
        import torch

        from ..models import AudioClassifierBackend, LoadSettings

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.backend = AudioClassifierBackend(model_path, LoadSettings(device_map=self.device, batch_size=batch_size))
        self.model, self.extractor = self.backend.model, self.backend.extractor
        self.labels = [str(self.model.config.id2label[i]).lower() for i in range(self.model.config.num_labels)]
        self.model_path = model_path
        self.batch_size = batch_size
        self.max_seconds = max_seconds

    def __call__(self, arrays: Sequence[np.ndarray]) -> list[str]:
        if self.max_seconds:
            arrays = [crop_audio(a, int(self.max_seconds * SAMPLING_RATE)) for a in arrays]
        return self.backend.classify(list(arrays))


@dataclass
class ProbeReport:
    """What `text_leakage_probe` found.

    Attributes:
        labels (`list[str]`): the styles, in the order of the confusion matrix.
        n (`int`): clips evaluated.
        accuracy (`float`): plain accuracy over all clips.
        per_style_accuracy (`dict[str, float]`): accuracy per true style (recall).
        confusion (`list[list[int]]`): counts, rows = true style, columns = predicted style, in `labels` order
            (a prediction outside `labels` is counted in `n` and `accuracy` only).
        same_text_pairs (`int`): pairs with the same text and different styles.
        same_text_separated (`float`): share of those pairs given different labels (told apart: should be high).
        same_text_both_correct (`float`): share of those pairs with both clips labelled correctly.
        different_text_pairs (`int`): pairs with different texts and the same style.
        different_text_kept_together (`float`): share of those pairs given the same label (should be high).
        predictions (`list[str]`): the predicted label of each clip, in dataset order.
    """

    labels: list
    n: int
    accuracy: float
    per_style_accuracy: dict
    confusion: list
    same_text_pairs: int
    same_text_separated: float | None
    same_text_both_correct: float | None
    different_text_pairs: int
    different_text_kept_together: float | None
    predictions: list = field(default_factory=list, repr=False)

    def to_dict(self, predictions: bool = False) -> dict:
        out = asdict(self)
        if not predictions:
            out.pop("predictions")
        return out

    def summary(self) -> str:
        """A few lines for logs."""

        def pct(x):
            return "n/a" if x is None else f"{x:.1%}"

        per_style = ", ".join(f"{s} {pct(a)}" for s, a in self.per_style_accuracy.items())
        return (f"accuracy {pct(self.accuracy)} on {self.n} clips ({per_style})\n"
                f"same text, different styles: {pct(self.same_text_separated)} told apart, "
                f"{pct(self.same_text_both_correct)} both correct ({self.same_text_pairs} pairs)\n"
                f"different texts, same style: {pct(self.different_text_kept_together)} kept together "
                f"({self.different_text_pairs} pairs)")


def _pairs(n_groups: dict, n_subgroups: dict) -> int:
    """Pairs of items in the same group but different subgroups: (Σ_g n_g² - Σ_{g,s} n_{g,s}²) / 2 over groups."""
    return (sum(v * v for v in n_groups.values()) - sum(v * v for v in n_subgroups.values())) // 2


def pair_statistics(texts: Sequence[str], styles: Sequence[str], predictions: Sequence[str]) -> dict:
    """The probe's pair counts, exact over all pairs.

    Returns:
        `dict`: `same_text_pairs`, `same_text_separated`, `same_text_both_correct`, `different_text_pairs`,
        `different_text_kept_together` (rates are `None` when there is no such pair).
    """
    # same text, different styles: group = text, subgroup = (text, style)
    by_text, by_text_style = Counter(texts), Counter(zip(texts, styles))
    agree_text, agree_text_style = Counter(zip(texts, predictions)), Counter(zip(texts, styles, predictions))
    correct = [s == p for s, p in zip(styles, predictions)]
    ok_text = Counter(t for t, c in zip(texts, correct) if c)
    ok_text_style = Counter((t, s) for t, s, c in zip(texts, styles, correct) if c)
    same_text = _pairs(by_text, by_text_style)
    same_text_agree = _pairs(agree_text, agree_text_style)
    same_text_ok = _pairs(ok_text, ok_text_style)
    # different texts, same style: group = style, subgroup = (style, text)
    by_style, by_style_text = Counter(styles), Counter(zip(styles, texts))
    agree_style = Counter(zip(styles, predictions))
    agree_style_text = Counter(zip(styles, predictions, texts))
    diff_text = _pairs(by_style, by_style_text)
    diff_text_agree = _pairs(agree_style, agree_style_text)
    return {"same_text_pairs": same_text,
            "same_text_separated": 1 - same_text_agree / same_text if same_text else None,
            "same_text_both_correct": same_text_ok / same_text if same_text else None,
            "different_text_pairs": diff_text,
            "different_text_kept_together": diff_text_agree / diff_text if diff_text else None}


def text_leakage_probe(analyzer: str | os.PathLike | Callable, dataset, *, dimension: str | None = None,
                       label_column: str = "style", text_column: str = "text", audio_column: str = "audio",
                       batch_size: int = 16, max_seconds: float | None = None) -> ProbeReport:
    """Held-out accuracy per style, a confusion matrix, and the same-text / different-text pair rates.

    Args:
        analyzer (`str` or `Callable`): a saved analyzer's folder (loaded as `AnalyzerPredictor`), or a function
            `list of 16 kHz float arrays -> list of labels`.
        dataset (`datasets.Dataset`): PolyTone rows (each text in several styles) with audio, label and text columns,
            ideally texts and voices never seen in training.
        dimension (`str`, *optional*): the dimension (from the analyzer's labels, else the dataset's labels).
        label_column, text_column, audio_column (`str`, *optional*): the dataset's columns (defaults `"style"`,
            `"text"`, `"audio"`).
        batch_size (`int`, *optional*, defaults to `16`): clips per forward pass of a saved analyzer.
        max_seconds (`float`, *optional*): crop clips to their first `max_seconds` (whole clips, as the judge hears
            them, when `None`).

    Returns:
        `ProbeReport`

    Raises:
        `ValueError`: missing columns, an empty dataset, or labels from several dimensions.
    """
    missing = [c for c in (label_column, text_column, audio_column) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"The probe dataset lacks column(s) {missing}; its columns are {dataset.column_names}.")
    if len(dataset) == 0:
        raise ValueError("The probe dataset is empty.")
    predict = AnalyzerPredictor(os.fspath(analyzer), batch_size=batch_size, max_seconds=max_seconds) \
        if isinstance(analyzer, (str, os.PathLike)) else analyzer
    styles = [str(s) for s in dataset[label_column]]
    texts = [str(t) for t in dataset[text_column]]
    if dimension is None:
        labels = getattr(predict, "labels", None) or sorted(set(styles))
        dims = {STYLE_TO_DIMENSION.get(s) for s in labels}
        if len(dims) != 1 or None in dims:
            raise ValueError(f"Cannot tell the dimension from the labels {sorted(labels)}; pass dimension=.")
        dimension = dims.pop()
    labels = list(STYLES[dimension])
    audio = dataset.select_columns([audio_column])
    predictions = []
    for start in range(0, len(dataset), max(1, batch_size)):
        rows = audio[start:start + batch_size][audio_column]
        arrays = [load_audio(a, max_seconds=None).array for a in rows]
        predictions += [str(p).lower() for p in predict(arrays)]
    if len(predictions) != len(dataset):
        raise ValueError(f"The analyzer returned {len(predictions)} labels for {len(dataset)} clips.")
    index = {s: i for i, s in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    hits, totals = defaultdict(int), defaultdict(int)
    for s, p in zip(styles, predictions):
        totals[s] += 1
        hits[s] += s == p
        if s in index and p in index:
            confusion[index[s], index[p]] += 1
    per_style = {s: hits[s] / totals[s] for s in labels if totals[s]}
    return ProbeReport(labels=labels, n=len(predictions),
                       accuracy=float(np.mean([s == p for s, p in zip(styles, predictions)])),
                       per_style_accuracy=per_style, confusion=confusion.tolist(),
                       **pair_statistics(texts, styles, predictions), predictions=predictions)
