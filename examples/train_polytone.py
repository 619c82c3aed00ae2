"""Train a PolyTone style analyzer for one dimension, report its held-out accuracy and the text-leakage probe, and save a
checkpoint the judge's perception stage loads (`JudgeConfig(style_analyzers={dimension: output_dir})`).

The base is any `AutoModelForAudioClassification` checkpoint (wav2vec2, HuBERT, WavLM, AST, a Whisper encoder through
`WhisperForAudioClassification`); it gets a new head over the dimension's styles. Data comes from a PolyTone export
of the construction pipeline (`--data_dir`, an audiofolder with `train` and `test` splits, or any dataset with an audio
and a label column), or is rendered on the fly with espeak-ng (`--render_texts N`: N texts of the shipped text layer's
train split, each spoken in every style by several voices; held-out evaluation on texts of the test split, spoken by
other voices: texts and voices never heard in training).

```
# a real base model on a PolyTone export (GPU)
python examples/train_polytone.py --model_name_or_path facebook/wav2vec2-base --dimension gender \\
    --data_dir data/polytone --output_dir runs/analyzer-gender --num_train_epochs 5 --learning_rate 3e-5 --bf16 true

# a CPU smoke run in about a minute: a tiny random wav2vec2 on espeak-ng renders (build it first)
python -c "from parass2s_hf.testing import build_tiny_audio_classifier as b; b('tiny/analyzer_gender', ['male', 'female'])"
python examples/train_polytone.py --config examples/configs/polytone_cpu_smoke.yaml

# any field from the command line, over the YAML
python examples/train_polytone.py --config examples/configs/polytone_cpu_smoke.yaml --dimension age \\
    --output_dir runs/analyzer-age
```
Outputs in `output_dir`: the model and feature extractor, and `polytone_report.json` (accuracy, per-style accuracy,
confusion matrix, the probe's pair rates, the data's sizes, and the `JudgeConfig` fragment that uses the analyzer).
"""

from __future__ import annotations

import parass2s_hf  # noqa: F401  # isort: skip - first: quiets library notes before trl loads bitsandbytes
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field, fields

from transformers import HfArgumentParser, TrainingArguments, set_seed

from parass2s_hf.analyzers import (
    PolyToneConfig,
    load_polytone,
    render_polytone,
    text_layer_texts,
    text_leakage_probe,
    train_analyzer,
)
from parass2s_hf.models import ModelCheck, preflight
from parass2s_hf.script_errors import run_script

logger = logging.getLogger(__name__)

REPORT_FILE = "polytone_report.json"


@dataclass
class PolyToneArguments(PolyToneConfig):
    """Arguments of `examples/train_polytone.py`: those of `PolyToneConfig` (base model, dimension, columns, cropping,
    freezing) plus where the data comes from. Optimisation settings (epochs, learning rate, batch size, seed,
    output_dir, `use_cpu`) are `TrainingArguments`.

    Args:
        data_dir (`str`, *optional*): a PolyTone export (audiofolder with `train` and `test` splits), a
            `save_to_disk` folder, or a dataset name; rows of other dimensions are dropped when it has a `dimension`
            column.
        train_split (`str`, *optional*, defaults to `"train"`), eval_split (`str`, *optional*, defaults to `"test"`):
            the splits of `data_dir` to train and evaluate on.
        render_texts (`int`, *optional*): instead of `data_dir`, render this many texts of the shipped text layer's
            train split with `renderer`, each in every style of the dimension.
        render_eval_texts (`int`, *optional*): texts of the text layer's test split rendered for the held-out
            evaluation (defaults to half of `render_texts`, at least 8).
        voices_per_style (`int`, *optional*, defaults to `2`): voices speaking each rendered training (text, style).
        eval_voices_per_style (`int`, *optional*, defaults to `1`): the same for the held-out texts.
        renderer (`str`, *optional*, defaults to `"espeak-ng"`): the renderer of `render_texts`.
        probe_max_seconds (`float`, *optional*): crop held-out clips to this length for the probe (whole clips, as
            the judge hears them, when unset).
    """

    data_dir: str | None = field(default=None, metadata={"help": "PolyTone export or dataset (audio + label)."})
    train_split: str = field(default="train", metadata={"help": "Split of data_dir to train on."})
    eval_split: str = field(default="test", metadata={"help": "Split of data_dir to evaluate on."})
    render_texts: int | None = field(default=None, metadata={"help": "Render this many train-split texts instead."})
    render_eval_texts: int | None = field(default=None, metadata={"help": "Test-split texts rendered for evaluation "
                                                                          "(default: render_texts // 2, at least 8)."})
    voices_per_style: int = field(default=2, metadata={"help": "Voices per rendered training (text, style)."})
    eval_voices_per_style: int = field(default=1, metadata={"help": "Voices per rendered held-out (text, style)."})
    renderer: str = field(default="espeak-ng", metadata={"help": "Renderer of render_texts."})
    probe_max_seconds: float | None = field(default=None, metadata={"help": "Crop held-out clips for the probe "
                                                                            "(whole clips when unset)."})

    def __post_init__(self):
        super().__post_init__()
        if (self.data_dir is None) == (self.render_texts is None):
            raise ValueError("Set exactly one data source: data_dir (a PolyTone export or dataset) or render_texts "
                             f"(a number of texts to render); got data_dir={self.data_dir!r}, "
                             f"render_texts={self.render_texts!r}.")
        for name in ("render_texts", "render_eval_texts", "voices_per_style", "eval_voices_per_style"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value}; expected a positive number.")

    def config(self) -> PolyToneConfig:
        """The library config these arguments hold."""
        return PolyToneConfig(**{f.name: getattr(self, f.name) for f in fields(PolyToneConfig)})


def build_parser() -> HfArgumentParser:
    return HfArgumentParser((PolyToneArguments, TrainingArguments))


def parse_args(argv: list[str] | None = None) -> tuple[PolyToneArguments, TrainingArguments]:
    """Parse the command line; `--config file.yaml` gives defaults that command-line flags override."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = None
    for i, arg in enumerate(argv):
        if arg == "--config":
            if i + 1 >= len(argv):
                raise ValueError("--config needs a YAML file.")
            config_path = argv[i + 1]
            del argv[i:i + 2]
            break
        if arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
            del argv[i]
            break
    if config_path:
        import yaml

        with open(config_path) as f:
            values = yaml.safe_load(f) or {}
        dests = {action.dest for action in parser._actions}
        unknown = sorted(set(values) - dests)
        if unknown:
            raise ValueError(f"{config_path}: unknown field(s) {unknown}; see --help for the fields.")
        for action in parser._actions:
            if action.dest in values:
                action.required = False
        parser.set_defaults(**values)
    script_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    return script_args, training_args


def load_data(args: PolyToneArguments):
    """(train, held-out) datasets from `data_dir` or rendered from the text layer."""
    if args.data_dir is not None:
        common = {"dimension": args.dimension, "label_column": args.label_column, "audio_column": args.audio_column}
        return (load_polytone(args.data_dir, split=args.train_split, **common),
                load_polytone(args.data_dir, split=args.eval_split, **common))
    n_eval = args.render_eval_texts or max(8, args.render_texts // 2)
    train = render_polytone(text_layer_texts("train", args.dimension, args.render_texts), args.dimension,
                            args.voices_per_style, renderer=args.renderer)
    held_out = render_polytone(text_layer_texts("test", args.dimension, n_eval), args.dimension,
                               args.eval_voices_per_style, renderer=args.renderer)
    return train, held_out


def main(script_args: PolyToneArguments, training_args: TrainingArguments, train_dataset=None,
         eval_dataset=None) -> dict:
    """Train, save the analyzer to `training_args.output_dir`, probe it on the held-out data, write and return the
    report.

    `train_dataset` and `eval_dataset` (*optional*) replace the data that `script_args` names (how tests pass data
    rendered once).

    Raises:
        `PreflightError` (a `ValueError`): the base model is not available (offline: not in the Hub cache) or is not
            an audio classifier; raised before any data is prepared.
    """
    # The base model is checked before the data: rendering takes a minute or more, and a base that is missing or is
    # no audio classifier would otherwise be found only when training starts.
    preflight([ModelCheck("--model_name_or_path", script_args.model_name_or_path, "audio_classifier")])
    set_seed(training_args.seed)
    if train_dataset is None or eval_dataset is None:
        with training_args.main_process_first(desc="preparing the PolyTone data"):
            train, held_out = load_data(script_args)
        train_dataset = train if train_dataset is None else train_dataset
        eval_dataset = held_out if eval_dataset is None else eval_dataset
    logger.info("%d training clips, %d held-out clips (%s)", len(train_dataset), len(eval_dataset),
                script_args.dimension)
    config = script_args.config()
    trainer = train_analyzer(config, train_dataset, training_args, eval_dataset=eval_dataset)
    if not trainer.is_world_process_zero():
        return {}
    output_dir = training_args.output_dir
    probe = text_leakage_probe(output_dir, eval_dataset, dimension=script_args.dimension,
                               label_column=script_args.label_column, audio_column=script_args.audio_column,
                               batch_size=training_args.per_device_eval_batch_size,
                               max_seconds=script_args.probe_max_seconds)
    history = trainer.state.log_history
    report = {
        "dimension": script_args.dimension,
        "labels": list(config.labels),
        "base_model": script_args.model_name_or_path,
        "analyzer": os.path.abspath(output_dir),
        "judge_config": {"style_analyzers": {script_args.dimension: os.path.abspath(output_dir)}},
        "data": {"source": script_args.data_dir or f"rendered with {script_args.renderer}",
                 "train_clips": len(train_dataset), "eval_clips": len(eval_dataset),
                 "train_texts": len(set(train_dataset["text"])) if "text" in train_dataset.column_names else None,
                 "eval_texts": len(set(eval_dataset["text"])) if "text" in eval_dataset.column_names else None,
                 "train_eval_shared_texts": (len(set(train_dataset["text"]) & set(eval_dataset["text"]))
                                             if "text" in train_dataset.column_names else None)},
        "accuracy": probe.accuracy,
        "per_style_accuracy": probe.per_style_accuracy,
        "probe": probe.to_dict(),
        "eval_accuracy_cropped": trainer.polytone_metrics.get("eval_accuracy"),
        "train": {"runtime_s": next((h.get("train_runtime") for h in history if "train_runtime" in h), None),
                  "loss": next((h.get("train_loss") for h in history if "train_loss" in h), None),
                  "steps": trainer.state.global_step, "epochs": training_args.num_train_epochs,
                  "learning_rate": training_args.learning_rate, "seed": training_args.seed},
        "config": asdict(config),
    }
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, REPORT_FILE), "w") as f:
        json.dump(report, f, indent=2)
    print(probe.summary())
    print(f"analyzer saved to {output_dir}; report: {os.path.join(output_dir, REPORT_FILE)}")
    return report


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(run_script("train_polytone.py", parse_args, main))
