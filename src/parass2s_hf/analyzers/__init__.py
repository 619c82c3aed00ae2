"""PolyTone style analyzers (paper Part 2): audio classifiers that label a query's style from the voice alone.

The judge uses one per dimension for queries without a style label (`JudgeConfig(style_analyzers={dimension:
path})`). They are trained on PolyTone data, where every text is spoken in every style of the dimension by many
voices, so the words carry no label; `text_leakage_probe` checks that an analyzer did learn the voice.

```python
>>> from parass2s_hf.analyzers import (PolyToneConfig, polytone_training_arguments, render_polytone,
...                                    text_layer_texts, text_leakage_probe, train_analyzer)
>>> train = render_polytone(text_layer_texts("train", "gender", 40), "gender")
>>> test = render_polytone(text_layer_texts("test", "gender", 20), "gender")
>>> config = PolyToneConfig(model_name_or_path="facebook/wav2vec2-base", dimension="gender")
>>> train_analyzer(config, train, polytone_training_arguments("runs/analyzer-gender"))
>>> print(text_leakage_probe("runs/analyzer-gender", test).summary())
```
The recipe as a script: `examples/train_polytone.py`.
"""

from .data import (
    POLYTONE_COLUMNS,
    check_labels,
    load_polytone,
    render_polytone,
    text_layer_texts,
    voice_split,
)
from .probe import AnalyzerPredictor, ProbeReport, pair_statistics, text_leakage_probe
from .train import (
    AudioClassificationCollator,
    PolyToneConfig,
    accuracy_metrics,
    crop_audio,
    freeze_encoder,
    polytone_training_arguments,
    train_analyzer,
)

__all__ = [
    "POLYTONE_COLUMNS",
    "AnalyzerPredictor",
    "AudioClassificationCollator",
    "PolyToneConfig",
    "ProbeReport",
    "accuracy_metrics",
    "check_labels",
    "crop_audio",
    "freeze_encoder",
    "load_polytone",
    "pair_statistics",
    "polytone_training_arguments",
    "render_polytone",
    "text_layer_texts",
    "text_leakage_probe",
    "train_analyzer",
    "voice_split",
]
