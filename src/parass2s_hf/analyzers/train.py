"""Fine-tune a style analyzer: an audio classifier over one dimension's styles, trained on PolyTone data.

Any checkpoint `AutoModelForAudioClassification` loads works as the base: a speech encoder (wav2vec2, HuBERT, WavLM,
a Whisper encoder through `WhisperForAudioClassification`, AST) gets a new classification head whose labels are
`STYLES[dimension]`, in that order, so that the saved folder plugs into the judge's perception stage
(`JudgeConfig(style_analyzers={dimension: output_dir})`, read by `models.style_analyzer`).

```python
>>> from parass2s_hf.analyzers import PolyToneConfig, polytone_training_arguments, train_analyzer
>>> config = PolyToneConfig(model_name_or_path="facebook/wav2vec2-base", dimension="gender", max_seconds=4.0)
>>> args = polytone_training_arguments("runs/analyzer-gender", num_train_epochs=5, learning_rate=3e-5)
>>> trainer = train_analyzer(config, train_dataset, args, eval_dataset=test_dataset)   # saves model + extractor
```
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..audio import load_audio
from ..constants import SAMPLING_RATE
from ..models import extractor_kwargs
from .data import check_dimension, check_labels

logger = logging.getLogger(__name__)

CROP_MODES = ("start", "center", "random")


@dataclass
class PolyToneConfig:
    """What a style analyzer is trained from and on (the optimisation settings are `transformers.TrainingArguments`).

    Args:
        model_name_or_path (`str`): the base checkpoint (Hub id or path), any `AutoModelForAudioClassification`
            architecture with a feature extractor (e.g. `facebook/wav2vec2-base`, `facebook/hubert-base-ls960`,
            `openai/whisper-base`, or a tiny model from `parass2s_hf.testing.build_tiny_audio_classifier`).
        dimension (`str`): the dimension the analyzer labels; its labels are `STYLES[dimension]`.
        label_column (`str`, *optional*, defaults to `"style"`): the dataset column holding the style labels.
        audio_column (`str`, *optional*, defaults to `"audio"`): the dataset column holding the clips.
        max_seconds (`float`, *optional*, defaults to `4.0`): training clips are cropped to this length (shorter clips
            are padded by the feature extractor to the longest in the batch, or to its fixed window). Voice and
            prosody show within a few seconds; shorter crops train faster.
        crop (`str`, *optional*, defaults to `"random"`): where a long clip is cropped: `"start"`, `"center"`, or
            `"random"` (a different window each epoch, seeded by the training seed: augmentation).
        freeze_encoder (`bool`, *optional*, defaults to `False`): train only the classification head (and projector)
            on top of a frozen encoder: faster, less data-hungry, the usual choice with a strong pretrained encoder.
        ignore_mismatched_sizes (`bool`, *optional*, defaults to `True`): replace a base checkpoint's classification
            head of another size by a new one.
    """

    model_name_or_path: str = field(metadata={"help": "Base checkpoint (any AutoModelForAudioClassification)."})
    dimension: str = field(metadata={"help": "Dimension the analyzer labels: emotion, sarcasm, age or gender."})
    label_column: str = field(default="style", metadata={"help": "Column holding the style labels."})
    audio_column: str = field(default="audio", metadata={"help": "Column holding the clips."})
    max_seconds: float = field(default=4.0, metadata={"help": "Training clips are cropped to this many seconds."})
    crop: str = field(default="random", metadata={"help": "Where a long clip is cropped: start, center or random."})
    freeze_encoder: bool = field(default=False, metadata={"help": "Train only the classification head."})
    ignore_mismatched_sizes: bool = field(default=True, metadata={"help": "Replace a head of another size."})

    def __post_init__(self):
        check_dimension(self.dimension)
        if not self.model_name_or_path:
            raise ValueError("Set model_name_or_path to the base checkpoint (e.g. facebook/wav2vec2-base, or a tiny "
                             "model from `python -m parass2s_hf.testing --analyzer DIR`).")
        if not self.max_seconds or self.max_seconds <= 0:
            raise ValueError(f"max_seconds={self.max_seconds}; expected a positive crop length in seconds.")
        if self.crop not in CROP_MODES:
            raise ValueError(f"crop={self.crop!r}; expected one of {list(CROP_MODES)}.")

    @property
    def labels(self) -> tuple[str, ...]:
        """The analyzer's labels, in id order: the dimension's styles."""
        return check_dimension(self.dimension)


def polytone_training_arguments(output_dir: str, **kwargs):
    """`TrainingArguments` with this recipe's defaults: CPU when no GPU is present, no checkpoints during training,
    no reporting integrations, raw columns kept for the collator, the final model kept (not the best one).

    Args:
        output_dir (`str`): where the analyzer is saved.
        kwargs: any `TrainingArguments` field, over these defaults.
    """
    import torch
    from transformers import TrainingArguments

    defaults = {"num_train_epochs": 5, "learning_rate": 3e-5, "per_device_train_batch_size": 8,
                "per_device_eval_batch_size": 16, "warmup_steps": 0, "logging_steps": 10, "save_strategy": "no",
                "report_to": "none", "seed": 0, "use_cpu": not torch.cuda.is_available()}
    return TrainingArguments(output_dir=output_dir, **{**defaults, **kwargs})


def crop_audio(array: np.ndarray, max_samples: int, mode: str = "start", rng: np.random.Generator | None = None
               ) -> np.ndarray:
    """At most `max_samples` samples of `array`: its start, its centre, or a window drawn by `rng`."""
    if array.shape[-1] <= max_samples:
        return array
    extra = array.shape[-1] - max_samples
    if mode == "start":
        offset = 0
    elif mode == "center":
        offset = extra // 2
    elif mode == "random":
        offset = int((rng or np.random.default_rng()).integers(0, extra + 1))
    else:
        raise ValueError(f"crop mode {mode!r}; expected one of {list(CROP_MODES)}.")
    return array[offset:offset + max_samples]


class AudioClassificationCollator:
    """Reads each row's audio through the audio door, crops it, runs the feature extractor over the batch and adds
    the label ids.

    Args:
        feature_extractor: the base checkpoint's feature extractor.
        label2id (`dict[str, int]`): label -> class id.
        audio_column (`str`, *optional*, defaults to `"audio"`), label_column (`str`, *optional*, defaults to
            `"style"`): the dataset's columns.
        max_seconds (`float`, *optional*, defaults to `4.0`): crop length.
        crop (`str`, *optional*, defaults to `"start"`): `"start"`, `"center"` or `"random"`.
        seed (`int`, *optional*, defaults to `0`): seed of the random crops (the windows differ between batches and
            epochs, and a rerun draws the same ones).
    """

    def __init__(self, feature_extractor, label2id: dict, audio_column: str = "audio", label_column: str = "style",
                 max_seconds: float = 4.0, crop: str = "start", seed: int = 0):
        self.feature_extractor = feature_extractor
        self.label2id = dict(label2id)
        self.audio_column, self.label_column = audio_column, label_column
        self.max_samples = round(max_seconds * SAMPLING_RATE)
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        self.kwargs = extractor_kwargs(feature_extractor)

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        arrays, labels = [], []
        for row in rows:
            clip = load_audio(row[self.audio_column], max_seconds=None, name=str(row.get("id", "<row>")))
            arrays.append(crop_audio(clip.array, self.max_samples, self.crop, self.rng))
            label = row.get(self.label_column)
            if label is not None:
                if label not in self.label2id:
                    raise ValueError(f"row {row.get('id', '?')}: label {label!r} is not one of {list(self.label2id)}.")
                labels.append(self.label2id[label])
        batch = dict(self.feature_extractor(arrays, sampling_rate=SAMPLING_RATE, return_tensors="pt", **self.kwargs))
        if labels:
            if len(labels) != len(rows):
                raise ValueError(f"{len(rows) - len(labels)} row(s) of the batch have no {self.label_column!r} label.")
            batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch


def accuracy_metrics(eval_pred) -> dict:
    """`compute_metrics` for `Trainer`: accuracy of the argmax class."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels))}


def freeze_encoder(model) -> int:
    """Freeze everything but the classification head (and its projector); returns the number of trainable
    parameters left."""
    if hasattr(model, "freeze_base_model"):  # wav2vec2, HuBERT, WavLM, ...
        model.freeze_base_model()
    elif hasattr(model, "freeze_encoder"):  # WhisperForAudioClassification
        model.freeze_encoder()
    else:
        base = model.base_model
        if base is model:
            raise ValueError(f"Cannot tell the encoder of {type(model).__name__} from its head; set "
                             f"freeze_encoder=false.")
        for p in base.parameters():
            p.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_base(config: PolyToneConfig):
    """The base checkpoint as an audio classifier over `config.labels` (a new head when the labels differ), and its
    feature extractor."""
    from ..models import audio_classifier_for_training

    labels = config.labels
    model, extractor, base_labels = audio_classifier_for_training(config.model_name_or_path, labels,
                                                                  config.ignore_mismatched_sizes)
    if len(base_labels) == len(labels) and base_labels != list(labels) \
            and not all(b.startswith("label_") for b in base_labels):
        logger.warning("%s has a head over %s; it is kept as the starting point of a head over %s (same size), "
                       "with the new labels in that order", config.model_name_or_path, base_labels, list(labels))
    return model, extractor


def train_analyzer(config: PolyToneConfig, train_dataset, training_args, eval_dataset=None):
    """Train a style analyzer and save it (model + feature extractor) to `training_args.output_dir`.

    Args:
        config (`PolyToneConfig`): base checkpoint, dimension, columns, cropping, freezing.
        train_dataset (`datasets.Dataset`): rows with `config.audio_column` and `config.label_column` (PolyTone data).
        training_args (`transformers.TrainingArguments`): epochs, learning rate, batch size, seed, output_dir, ...
            (`polytone_training_arguments` gives this recipe's defaults). `remove_unused_columns` is turned off: the
            collator reads the raw columns.
        eval_dataset (`datasets.Dataset`, *optional*): evaluated with `accuracy` (per `eval_strategy`, and once at
            the end).

    Returns:
        `transformers.Trainer`: the trainer, its model trained and saved; `trainer.polytone_metrics` holds the final
        evaluation (or `{}`).

    Raises:
        `ValueError`: missing columns or labels outside the dimension's styles.
    """
    from transformers import Trainer, set_seed

    for name, ds in (("train", train_dataset), ("eval", eval_dataset)):
        if ds is not None:
            check_labels(ds, config.dimension, config.label_column)
            if config.audio_column not in ds.column_names:
                raise ValueError(f"The {name} dataset has no audio column {config.audio_column!r}; its columns are "
                                 f"{ds.column_names}.")
    training_args.remove_unused_columns = False
    set_seed(training_args.seed)  # the new head's initialisation
    model, extractor = load_base(config)
    if config.freeze_encoder:
        logger.info("encoder frozen: %d trainable parameters", freeze_encoder(model))
    collator = AudioClassificationCollator(extractor, model.config.label2id, config.audio_column, config.label_column,
                                           config.max_seconds, config.crop, seed=training_args.seed)
    trainer = Trainer(model=model, args=training_args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      data_collator=collator, compute_metrics=accuracy_metrics, processing_class=extractor)
    trainer.train()
    trainer.polytone_metrics = {}
    if eval_dataset is not None:
        # evaluation crops the same way every time, so the number does not depend on the crop seed
        trainer.data_collator = AudioClassificationCollator(extractor, model.config.label2id, config.audio_column,
                                                            config.label_column, config.max_seconds, "start")
        trainer.polytone_metrics = trainer.evaluate()
    trainer.save_model(training_args.output_dir)  # model + feature extractor (the processing class)
    if trainer.is_world_process_zero():
        extractor.save_pretrained(training_args.output_dir)
    return trainer
