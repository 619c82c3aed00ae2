"""Distil the ParaS2S judge into a one-forward reward model (paper Part 3): an audio LLM + LoRA that hears the query and
the response and predicts the score as one token; the RL reward of `examples/train_grpo.py`.

Teacher pairs come from one of two sources:
- `--run_dir`: an evaluation run folder (`parass2s evaluate --output ...`): the judge's scores in `results.jsonl`, the
  response audio in `responses/`, the query audio from the benchmark rows the run names in `run.json` (or
  `--dataset_config`/`--dataset_split`/`--data_dir`);
- otherwise the judge (`--judge_*`, every `JudgeConfig` field; the multi-stage judge by default) scores candidate
  responses to ParaS2SBench rows: each row's reference reply spoken in its own reply style and in
  `--styles_per_query` other styles (same words, other tone), so the scores spread over the scale.

Whole queries are held out (`--eval_fraction`); the report (`<output_dir>/reward_model_report.json`) gives the mean
absolute error, Pearson and Spearman correlations of the reward model's expected score against the teacher on them,
before and after training.

```
# GPU: score with the multi-stage judge, then QLoRA on Qwen2-Audio-7B-Instruct
python examples/train_reward_model.py --model_name_or_path Qwen/Qwen2-Audio-7B-Instruct --load_in_4bit true \\
    --dataset_config synthetic --dataset_split train --pairs_dir runs/reward-pairs \\
    --judge_mode multistage --judge_device_map auto --judge_load_in_4bit true \\
    --output_dir runs/reward-model --num_train_epochs 1 --per_device_train_batch_size 8 --learning_rate 1e-4 \\
    --bf16 true --activation_checkpointing true --report_to none

# from a finished evaluation run instead of scoring again
python examples/train_reward_model.py --model_name_or_path Qwen/Qwen2-Audio-7B-Instruct --run_dir runs/cascade \\
    --output_dir runs/reward-model --bf16 true

# a CPU smoke run in a minute with tiny random models (build them first)
python -m parass2s_hf.testing tiny/
python examples/train_reward_model.py --config examples/configs/reward_model_cpu_smoke.yaml
```
Then, in the judge and the GRPO recipe:
```
JudgeConfig(mode="reward_model", reward_model="Qwen/Qwen2-Audio-7B-Instruct", reward_adapter="runs/reward-model")
ParaS2SGRPOConfig(..., judge_config={"mode": "reward_model", "reward_model": "Qwen/Qwen2-Audio-7B-Instruct",
                                     "reward_adapter": "runs/reward-model"})
```
or, with `--merge_output_dir runs/reward-model/merged`, `JudgeConfig(mode="reward_model",
reward_model="runs/reward-model/merged")`.
"""

from __future__ import annotations

import parass2s_hf  # noqa: F401  # isort: skip - first: quiets library notes before trl loads bitsandbytes
import gc
import json
import logging
import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments
from trl import TrlParser

from parass2s_hf import get_renderer, load_parass2sbench
from parass2s_hf.align.sft import merge_lora_and_save
from parass2s_hf.distill import (
    SCORE_FIELDS,
    RewardDistillConfig,
    pairs_from_run,
    rendered_candidates,
    score_pairs_with_judge,
    split_pairs,
    train_reward_model,
)
from parass2s_hf.distill.train import REPORT_FILE
from parass2s_hf.evaluation.arguments import JudgeArguments
from parass2s_hf.models import ModelCheck, judge_checks, preflight
from parass2s_hf.script_errors import run_script

logger = logging.getLogger(__name__)


@dataclass
class RewardModelArguments(RewardDistillConfig):
    """Arguments of `examples/train_reward_model.py` beyond `TrainingArguments` and the judge's `--judge_*` options:
    the base model, where the teacher pairs come from, and every `RewardDistillConfig` field (target, LoRA, 4-bit).

    Args:
        model_name_or_path (`str`): the base audio LLM of the reward model (the judge's `reward_model`).
        run_dir (`str`, *optional*): an evaluation run folder whose judge scores are the teacher; when unset, the
            judge (`--judge_*`) scores rendered candidate responses to `dataset_config` rows.
        dataset_config (`str`, *optional*): ParaS2SBench config of the queries (defaults to the run's, or `synthetic`).
        dataset_split (`str`, *optional*): its split (defaults to the run's, or `train`).
        data_dir (`str`, *optional*): your own rendered benchmark in the `data_dir` layout.
        limit (`int`, *optional*): use the first `limit` benchmark rows only (judge source).
        styles_per_query (`int`, *optional*, defaults to `2`): judge source: mismatched reply styles per row, besides
            the reference style.
        renderer (`str`, *optional*, defaults to `"espeak-ng"`): judge source: the renderer of the candidates.
        score_field (`str`, *optional*, defaults to `"score_expected"`): the judge output used as the teacher score
            (`score_expected`, the integer `score` where there is none; or `score`).
        pairs_dir (`str`, *optional*): where the teacher pairs are saved (`datasets.save_to_disk`) once scored; when it
            holds pairs already, they are loaded instead of scored again.
        eval_fraction (`float`, *optional*, defaults to `0.1`): share of the queries held out for the report.
        merge_output_dir (`str`, *optional*): also merge the adapter into the base and save it there.
        trust_remote_code (`bool`, *optional*, defaults to `False`): allow checkpoint code.
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "base audio LLM of the reward model"})
    run_dir: str | None = field(default=None, metadata={"help": "evaluation run folder whose scores are the teacher"})
    dataset_config: str | None = field(default=None, metadata={"help": "ParaS2SBench config of the queries"})
    dataset_split: str | None = field(default=None, metadata={"help": "split of the queries"})
    data_dir: str | None = field(default=None, metadata={"help": "your rendered benchmark (data_dir layout)"})
    limit: int | None = field(default=None, metadata={"help": "first N benchmark rows only (judge source)"})
    styles_per_query: int = field(default=2, metadata={"help": "mismatched reply styles per row (judge source)"})
    renderer: str = field(default="espeak-ng", metadata={"help": "renderer of the candidates (judge source)"})
    score_field: str = field(default="score_expected", metadata={"help": "score_expected or score"})
    pairs_dir: str | None = field(default=None, metadata={"help": "save/load the scored teacher pairs here"})
    eval_fraction: float = field(default=0.1, metadata={"help": "share of queries held out"})
    merge_output_dir: str | None = field(default=None, metadata={"help": "also save the merged model here"})
    trust_remote_code: bool = field(default=False, metadata={"help": "allow checkpoint code"})

    def __post_init__(self):
        super().__post_init__()
        if self.score_field not in SCORE_FIELDS:
            raise ValueError(f"score_field must be one of {list(SCORE_FIELDS)}, got {self.score_field!r}.")
        if not 0 < self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be between 0 and 1, got {self.eval_fraction!r}.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit}; expected a positive number of rows, or leave it unset.")
        if self.styles_per_query < 0:
            raise ValueError(f"styles_per_query must be 0 or more, got {self.styles_per_query!r}.")


def build_parser() -> TrlParser:
    """`HfArgumentParser` (TRL's subclass, which adds `--config file.yaml`) of the three argument groups."""
    return TrlParser((RewardModelArguments, TrainingArguments, JudgeArguments))


def teacher_pairs(args: RewardModelArguments, judge_args=None, judge=None):
    """The teacher pairs (`distill.data.TeacherPairs`) from the run folder or the judge."""
    if args.run_dir:
        dataset = None
        if args.dataset_config:
            dataset = load_parass2sbench(args.dataset_config, split=args.dataset_split or "test", data_dir=args.data_dir)
        return pairs_from_run(args.run_dir, dataset, score_field=args.score_field), {"run_dir": args.run_dir}
    rows = load_parass2sbench(args.dataset_config or "synthetic", split=args.dataset_split or "train",
                              data_dir=args.data_dir)
    if args.limit:
        rows = rows.select(range(min(args.limit, len(rows))))
    items = rendered_candidates(rows, get_renderer(args.renderer), styles_per_query=args.styles_per_query,
                                seed=0)
    if judge is None:
        from parass2s_hf.judge import ParaS2SJudge

        judge = ParaS2SJudge((judge_args or JudgeArguments()).to_config())
    logger.info("scoring %d candidate pairs with the %s judge", len(items), judge.config.mode)
    pairs = score_pairs_with_judge(judge, items, score_field=args.score_field)
    source = {"judge": judge.config.to_dict(), "judge_fingerprint": judge.config.fingerprint(),
              "dataset": {"config": args.dataset_config or "synthetic", "split": args.dataset_split or "train",
                          "rows": len(rows)}}
    return pairs, source


def main(args: RewardModelArguments, training_args: TrainingArguments, judge_args=None, judge=None) -> dict:
    """Build (or load) the teacher pairs, train, evaluate on held-out queries, save the adapter, processor and report
    in `training_args.output_dir` (and the merged model with `merge_output_dir`); returns the report.

    `judge` (*optional*): a ready teacher (anything with `score(items)` and a `config`) instead of one built from the
    `--judge_*` arguments.

    Raises:
        `PreflightError` (a `ValueError`): the base model, or a model or endpoint of the judge that will score, is not
            available or not of the kind its setting needs; raised before any pair is rendered or scored.
    """
    import datasets

    if not args.model_name_or_path:
        raise ValueError("Set model_name_or_path: the reward model's base audio LLM (e.g. Qwen/Qwen2-Audio-7B-Instruct).")
    reuse_pairs = bool(args.pairs_dir) and os.path.exists(os.path.join(args.pairs_dir, "dataset_info.json"))
    # Every model this run will load is checked before the teacher pairs are rendered and scored (minutes): the
    # judge's only when it will score, not when the pairs come from pairs_dir, a run folder or a given judge.
    checks = [ModelCheck("--model_name_or_path", args.model_name_or_path, "audio_llm", args.trust_remote_code)]
    if not reuse_pairs and not args.run_dir and judge is None:
        checks += judge_checks((judge_args or JudgeArguments()).to_config(), prefix="--judge_")
    preflight(checks)
    if reuse_pairs:
        pairs = datasets.load_from_disk(args.pairs_dir)
        source, skipped = {"pairs_dir": os.path.abspath(args.pairs_dir)}, {}
        logger.info("loaded %d teacher pairs from %s", len(pairs), args.pairs_dir)
    else:
        (pairs, skipped), source = teacher_pairs(args, judge_args, judge)
        if args.pairs_dir:
            pairs.save_to_disk(args.pairs_dir)
        judge = None
        gc.collect()  # the teacher's models go before the reward model loads
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    split = split_pairs(pairs, args.eval_fraction, seed=training_args.seed)
    logger.info("%d teacher pairs: %d to train on, %d held out", len(pairs), len(split["train"]), len(split["test"]))

    config = RewardDistillConfig(**{f: getattr(args, f) for f in RewardDistillConfig.__dataclass_fields__})
    report = train_reward_model(args.model_name_or_path, split["train"], split["test"], training_args, config,
                                trust_remote_code=args.trust_remote_code,
                                extra_report={"source": source, "skipped": dict(skipped)})
    if args.merge_output_dir and training_args.process_index == 0:
        gc.collect()
        merge_lora_and_save(training_args.output_dir, args.merge_output_dir, base_model=args.model_name_or_path,
                            torch_dtype=args.dtype)
        report["merged"] = os.path.abspath(args.merge_output_dir)
        with open(os.path.join(training_args.output_dir, REPORT_FILE), "w") as f:
            json.dump(report, f, indent=2)
    for name in ("untrained", "trained"):
        if name in report:
            m = report[name]
            logger.info("%s on %d held-out pairs: MAE %.3f, Pearson %s, Spearman %s", name, m["n"], m["mae"],
                        m["pearson"], m["spearman"])
    return report


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(run_script("train_reward_model.py", lambda: build_parser().parse_args_and_config(), main))
