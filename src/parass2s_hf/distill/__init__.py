"""Distil the ParaS2S judge into a one-forward reward model (paper Part 3): teacher pairs (`data`), then LoRA on an
audio LLM that predicts the score as one token (`train`). The result loads in the judge's `reward_model` mode:
`JudgeConfig(mode="reward_model", reward_model=<base>, reward_adapter=<output_dir>)`. Needs the `train` extra (peft)
for training: `pip install 'parass2s_hf[train]'`."""

from .data import (
    PAIR_COLUMNS,
    SCORE_FIELDS,
    TeacherPairs,
    pairs_from_function,
    pairs_from_run,
    pairs_to_dataset,
    query_key,
    rendered_candidates,
    score_pairs_with_judge,
    split_pairs,
)
from .train import (
    REPORT_FILE,
    TARGETS,
    RewardDistillConfig,
    RewardModelCollator,
    RewardModelTrainer,
    digit_loss,
    digit_target,
    expected_scores,
    load_reward_base,
    reward_lora_config,
    reward_metrics,
    train_reward_model,
)

__all__ = ["PAIR_COLUMNS", "REPORT_FILE", "SCORE_FIELDS", "TARGETS", "RewardDistillConfig", "RewardModelCollator",
           "RewardModelTrainer", "TeacherPairs", "digit_loss", "digit_target", "expected_scores", "load_reward_base",
           "pairs_from_function", "pairs_from_run", "pairs_to_dataset", "query_key", "rendered_candidates", "reward_lora_config",
           "reward_metrics", "score_pairs_with_judge", "split_pairs", "train_reward_model"]
