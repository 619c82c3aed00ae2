"""Distil the judge into a one-forward reward model: an audio LLM + LoRA that hears the query and the response and
predicts the score as one token (paper Part 3).

The prompt is exactly the judge's `reward_model` prompt (`judge.prompts.reward_conversation` with the generation
prompt, both clips given to the processor as `AudioLLMBackend.inputs` does), and the target is the next token only:
the logits at the last prompt position, restricted to the tokens "1".."5". The judge reads the same five logits as
the expected score (`models.expected_from_logits`), so what is trained is what is used.

The loss (`target="soft"`, the default) is the cross-entropy between the model's next-token probabilities of those five
digits (under the whole vocabulary's softmax) and a distribution centred on the teacher's score: linear interpolation
between the two nearest digits (3.3 -> 0.7 on "3", 0.3 on "4"). Its expected value is the teacher's score exactly, so
the loss is minimal where the digits hold all the probability and the reward model's expected score (the RL reward)
equals the teacher's; the teacher's sub-integer information (an expected score, or an average of several judgements)
is kept, and a pair the teacher puts between two levels does not push the model to an arbitrary one of them. Because
the normaliser is the whole vocabulary's, the digits also learn to carry the mass: the judge refuses a reward model
whose digits hold less than `JudgeConfig.min_digit_mass` (`low_digit_mass`). `target="hard"` is the plain
cross-entropy on the rounded digit (the paper's one-character target).

```python
>>> from transformers import TrainingArguments
>>> from parass2s_hf.distill import RewardDistillConfig, pairs_from_run, split_pairs, train_reward_model
>>> pairs = split_pairs(pairs_from_run("runs/cascade").dataset, eval_fraction=0.1)   # whole queries held out
>>> report = train_reward_model("Qwen/Qwen2-Audio-7B-Instruct", pairs["train"], pairs["test"],
...                             TrainingArguments(output_dir="runs/reward-model", num_train_epochs=1),
...                             RewardDistillConfig(load_in_4bit=True))
>>> report["trained"]        # {"mae": ..., "pearson": ..., "spearman": ..., "n": ...} on the held-out pairs
>>> judge = ParaS2SJudge(JudgeConfig(mode="reward_model", reward_model="Qwen/Qwen2-Audio-7B-Instruct",
...                                  reward_adapter="runs/reward-model"))
```
`examples/train_reward_model.py` is the full recipe.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from transformers import Trainer

from ..audio import AudioError, load_audio
from ..constants import SAMPLING_RATE, SCORE_MAX, SCORE_MIN
from ..judge import prompts
from ..judge.config import REWARD_MODEL_REPORT
from ..models import audio_llm_for_training, collate, digit_token_ids, expected_from_logits, pad_short

logger = logging.getLogger(__name__)

TARGETS = ("soft", "hard")
REPORT_FILE = REWARD_MODEL_REPORT
PROJECTOR = "multi_modal_projector"
"""The module that maps the audio encoder's features into the language model's embedding space (Qwen2-Audio); a model
without a module of that name refuses `train_projector`."""


@dataclass
class RewardDistillConfig:
    """How the reward model is trained (the model, the data and `TrainingArguments` are given separately).

    Args:
        target (`str`, *optional*, defaults to `"soft"`): `"soft"`: cross-entropy against a distribution over "1".."5"
            whose expected value is the teacher's score (linear interpolation between the two nearest digits);
            `"hard"`: cross-entropy on the rounded digit.
        lora_r (`int`, *optional*, defaults to `16`): LoRA rank.
        lora_alpha (`int`, *optional*, defaults to `32`): LoRA scaling numerator.
        lora_dropout (`float`, *optional*, defaults to `0.05`): dropout on the LoRA input.
        lora_target_modules (`list[str]`, *optional*): language-model projections to adapt (default: attention and
            MLP projections; never the audio tower, see `align.qlora.language_model_lora_targets`).
        train_projector (`bool`, *optional*, defaults to `False`): also train the audio projector
            (`multi_modal_projector`, fully, through PEFT's `modules_to_save`; saved in the adapter). LoRA on the
            language model cannot change what the audio tokens carry, only how the model reads them: a pretrained
            audio LLM already encodes pitch, rate and tone, so the default leaves the projector alone (and the adapter
            small). A model whose projector was never trained to speak to its language model (a randomly initialised
            tiny test model, or an audio encoder newly bolted on) needs it.
        load_in_4bit (`bool`, *optional*, defaults to `False`): QLoRA: the language model in 4-bit NF4, the audio
            tower, projector and LM head unquantised (`models.quantization_config`).
        dtype (`str`, *optional*, defaults to `"auto"`): dtype the base loads in (`"auto"`, `"bfloat16"`, `"float32"`).
        max_seconds (`float`, *optional*, defaults to `30.0`): longest accepted clip (Qwen2-Audio hears 30 s).
        eval_untrained (`bool`, *optional*, defaults to `True`): also score the held-out pairs with the untrained
            model (the baseline in the report: the base with the adapter switched off, scored after training, which
            leaves the base's weights untouched).
        reward_prompt_notes (`bool`, *optional*, defaults to `False`): put each pair's dimension and requirement note in
            the reward prompt (`JudgeConfig.reward_prompt_notes`, whose default this follows: the paper's reward model
            hears the two clips and reads the rubric only). The report's `judge_config` carries it, so the judge loads
            the adapter with the prompt it was trained on.
        feature_cache_size (`int`, *optional*, defaults to `0`): keep the processor outputs (token ids, log-mel
            features) of this many pairs in memory across epochs (about 3 MB a pair; see `RewardModelCollator`).
    """

    target: str = field(default="soft", metadata={"help": "soft (centred on the teacher score) or hard (rounded)"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: list[str] | None = field(default=None, metadata={"help": "LM projections to adapt"})
    train_projector: bool = field(default=False, metadata={"help": "also train the audio projector (modules_to_save)"})
    load_in_4bit: bool = field(default=False, metadata={"help": "4-bit NF4 language model (QLoRA)"})
    dtype: str = field(default="auto", metadata={"help": "dtype of the base model"})
    max_seconds: float = field(default=30.0, metadata={"help": "longest accepted clip, in seconds"})
    eval_untrained: bool = field(default=True, metadata={"help": "also score held-out pairs with the untrained model"})
    reward_prompt_notes: bool = field(default=False, metadata={
        "help": "give the reward prompt the dimension and requirement note (as JudgeConfig.reward_prompt_notes)"})
    feature_cache_size: int = field(default=0, metadata={"help": "pairs whose processor outputs stay in memory"})

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {list(TARGETS)}, got {self.target!r}.")
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be at least 1, got {self.lora_r!r}.")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}.")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds!r}.")
        if self.feature_cache_size < 0:
            raise ValueError(f"feature_cache_size must be 0 (off) or more, got {self.feature_cache_size!r}.")


# ----------------------------------------------------------------------------------------------------- the target


def digit_target(score: float, kind: str = "soft") -> np.ndarray:
    """The target distribution over "1".."5" for a teacher score.

    `"soft"`: the two digits around `score`, weighted by closeness (`4.25` -> `[0, 0, 0, 0.75, 0.25]`); its expected
    value is `score`. `"hard"`: one-hot on the rounded score (halves round up).

    Raises:
        `ValueError`: an unknown kind, or a score off the scale.
    """
    if kind not in TARGETS:
        raise ValueError(f"kind must be one of {list(TARGETS)}, got {kind!r}.")
    if not (isinstance(score, (int, float, np.floating)) and math.isfinite(score) and SCORE_MIN <= score <= SCORE_MAX):
        raise ValueError(f"teacher score {score!r} is outside the rubric's scale [{SCORE_MIN}, {SCORE_MAX}].")
    target = np.zeros(SCORE_MAX - SCORE_MIN + 1, dtype=np.float32)
    if kind == "hard":
        target[math.floor(score + 0.5) - SCORE_MIN] = 1.0
        return target
    low = math.floor(score)
    weight = float(score) - low
    target[low - SCORE_MIN] = 1.0 - weight
    if weight > 0:
        target[low + 1 - SCORE_MIN] = weight
    return target


def digit_loss(digit_logits, target_probs, log_normalizer=None):
    """Mean over the batch of the cross-entropy `-Σ_k t_k log p_k` between a soft or one-hot target `t` over "1".."5"
    and the model's probabilities `p` of those five tokens.

    With `log_normalizer` (per row, the log-sum-exp of the logits over the whole vocabulary), `p` is the model's real
    next-token probability: the loss is the paper's one-character language-model loss, and it also teaches the digits
    to carry the probability mass (the reward model's answer is a digit, and the judge refuses one whose digits hold
    less than `JudgeConfig.min_digit_mass`). Without it, `p` is renormalised over the five digits."""
    import torch

    z = digit_logits.float()
    norm = log_normalizer.float()[:, None] if log_normalizer is not None else torch.logsumexp(z, dim=-1, keepdim=True)
    return -(target_probs * (z - norm)).sum(-1).mean()


def reward_metrics(predicted: Sequence[float], teacher: Sequence[float]) -> dict:
    """Agreement of the reward model's expected scores with the teacher's: mean absolute error, Pearson and Spearman
    correlations (`scipy.stats`; `None` when either side is constant), and `n`."""
    from scipy import stats

    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(teacher, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"predicted {p.shape} and teacher {t.shape} scores must be two lists of one length.")
    out = {"n": int(p.size), "mae": float(np.abs(p - t).mean()) if p.size else None,
           "pearson": None, "spearman": None,
           "predicted_mean": float(p.mean()) if p.size else None, "predicted_std": float(p.std()) if p.size else None}
    if p.size >= 2 and np.ptp(p) > 0 and np.ptp(t) > 0:
        out["pearson"] = float(stats.pearsonr(p, t).statistic)
        out["spearman"] = float(stats.spearmanr(p, t).statistic)
    return out


# --------------------------------------------------------------------------------------------------- the collator


class RewardModelCollator:
    """Data collator of teacher pairs: the judge's reward prompt over both clips, and the target over the five digits.

    Per pair, the conversation is `prompts.reward_conversation(dimension=..., requirement=...)`, rendered with
    `add_generation_prompt=True`, and the processor gets it with `[query, response]`: the same call as
    `AudioLLMBackend.inputs`, so the audio placeholders expand the same way. Pairs are processed one by one (the
    Whisper feature extractor is slower per clip on a batch) and left-padded (`models.collate`), so the last
    position of every row is its prompt's last token: the position whose next-token logits are the score.

    Args:
        processor (`transformers.ProcessorMixin`): the audio LLM's processor (tokenizer + feature extractor).
        target (`str`, *optional*, defaults to `"soft"`): `"soft"` or `"hard"` (see `digit_target`).
        max_seconds (`float`, *optional*, defaults to `30.0`): longest accepted clip.
        cache_size (`int`, *optional*, defaults to `0`): keep the processor outputs of this many pairs (by `id`) in
            memory, for several epochs over a small set (each pair holds two 30-s log-mel arrays, about 3 MB).
        prompt_notes (`bool`, *optional*, defaults to `False`): put the pair's dimension and requirement note in the
            prompt (`JudgeConfig.reward_prompt_notes`; train and use the reward model with the same setting).

    Returns (on call with a list of pairs):
        `dict[str, torch.Tensor]`: `input_ids`, `attention_mask` (batch, longest prompt), `input_features`,
        `feature_attention_mask` (two rows per pair: query, response), `teacher_score` (batch) and `target_probs`
        (batch, 5).

    Raises (on call):
        `ValueError`: a pair's audio is unusable, or its score is missing or off the scale (names the pair).
    """

    def __init__(self, processor, target: str = "soft", max_seconds: float = 30.0, cache_size: int = 0,
                 prompt_notes: bool = False):
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None or getattr(processor, "feature_extractor", None) is None:
            raise ValueError(f"RewardModelCollator needs an audio LLM processor with a tokenizer and a feature "
                             f"extractor; got {type(processor).__name__}.")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}.")
        self.processor = processor
        self.tokenizer = tokenizer
        self.target = target
        self.max_seconds = max_seconds
        self.digit_ids = digit_token_ids(tokenizer, getattr(tokenizer, "name_or_path", "the reward model"))
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if self.pad_token_id is None:
            raise ValueError("The processor's tokenizer has neither a pad token nor an eos token to pad with.")
        self.cache_size = cache_size
        self.prompt_notes = prompt_notes
        self._cache: dict = {}

    def _clip(self, value, name: str) -> np.ndarray:
        if isinstance(value, (str, os.PathLike, Mapping)) or hasattr(value, "get_all_samples"):
            return load_audio(value, max_seconds=self.max_seconds, name=name).array
        return load_audio(np.asarray(value, dtype=np.float32), SAMPLING_RATE, max_seconds=self.max_seconds,
                          name=name).array

    def prompt(self, pair: Mapping) -> str:
        """The reward prompt of a pair, as text (the judge's, with the generation prompt)."""
        conversation = prompts.reward_conversation(dimension=pair.get("dimension") or None,
                                                   requirement=pair.get("requirement") or None,
                                                   notes=self.prompt_notes)
        return self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def encode(self, pair: Mapping) -> dict:
        """One pair's processor outputs (a batch of one)."""
        pair_id = pair.get("id", "<no id>")
        key = (pair_id, pair.get("dimension"), pair.get("requirement"))
        if self.cache_size and key in self._cache:
            return self._cache[key]
        for column in ("query_audio", "response_audio"):
            if column not in pair:
                raise ValueError(f"Pair {pair_id!r} has no {column!r} (its columns: {sorted(pair)}); keep "
                                 f"remove_unused_columns=False in the training arguments.")
        try:
            clips = [self._clip(pair[c], f"pair {pair_id!r}: {c}") for c in ("query_audio", "response_audio")]
        except AudioError as e:
            raise ValueError(f"Pair {pair_id!r} has unusable audio: {e}") from e
        out = self.processor(text=[self.prompt(pair)], audio=[pad_short(c) for c in clips], sampling_rate=SAMPLING_RATE,
                             return_tensors="pt")
        if self.cache_size and len(self._cache) < self.cache_size:
            self._cache[key] = out
        return out

    def __call__(self, pairs: Sequence[Mapping]) -> dict:
        if not pairs:
            raise ValueError("RewardModelCollator got an empty batch.")
        batch = collate([self.encode(p) for p in pairs], self.pad_token_id)
        scores = []
        for p in pairs:
            if p.get("teacher_score") is None:
                raise ValueError(f"Pair {p.get('id', '<no id>')!r} has no teacher_score.")
            scores.append(float(p["teacher_score"]))
        try:
            targets = np.stack([digit_target(s, self.target) for s in scores])
        except ValueError as e:
            raise ValueError(f"Pairs {[p.get('id') for p in pairs]}: {e}") from None
        batch["teacher_score"] = torch.tensor(scores, dtype=torch.float32)
        batch["target_probs"] = torch.from_numpy(targets)
        return batch


# ---------------------------------------------------------------------------------------------------- the trainer


class RewardModelTrainer(Trainer):
    """A `transformers.Trainer` whose loss is the next-token cross-entropy of the five digit tokens at the last prompt
    position, under the full vocabulary's softmax (`digit_loss` with the normaliser), with the batches of
    `RewardModelCollator`.

    Args:
        digit_ids (`list[int]`): the token ids of "1".."5" (`RewardModelCollator.digit_ids`).
        *args, **kwargs: `Trainer`'s. `args.remove_unused_columns` must be `False` (the collator reads the raw
            columns); the trainer sets it and `label_names=["teacher_score"]`.

    Evaluation returns the digit logits and the log digit mass as predictions and the teacher scores as labels; the
    default `compute_metrics` is `reward_metrics` of the expected scores (`eval_mae`, `eval_pearson`, `eval_spearman`)
    and the mean digit mass (`eval_digit_mass`).
    """

    def __init__(self, *args, digit_ids: Sequence[int], **kwargs):
        training_args = kwargs.get("args") if "args" in kwargs else (args[1] if len(args) > 1 else None)
        if training_args is not None:
            training_args.remove_unused_columns = False
            training_args.label_names = ["teacher_score"]
        kwargs.setdefault("compute_metrics", compute_reward_metrics)
        super().__init__(*args, **kwargs)
        self.digit_ids = list(digit_ids)
        self.loss_is_scaled_for_ga = False  # a batch mean: the Trainer divides by the accumulation steps

    @staticmethod
    def _feature_dtype(model):
        """The audio encoder's dtype (the log-mel features are cast to it, as the judge's backend does)."""
        floating = [(n, p.dtype) for n, p in model.named_parameters() if p.is_floating_point()]
        tower = [d for n, d in floating if "audio_tower" in n]
        return (tower or [d for _, d in floating] or [None])[0]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        inputs.pop("teacher_score", None)
        target = inputs.pop("target_probs")
        dtype = self._feature_dtype(model)
        if dtype is not None and "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(dtype)
        full = model(**inputs, logits_to_keep=1).logits[:, -1, :].float()
        logits, norm = full[:, self.digit_ids], torch.logsumexp(full, dim=-1)
        loss = digit_loss(logits, target.to(logits.device), norm)
        if not return_outputs:
            return loss
        return loss, {"digit_logits": logits, "digit_log_mass": torch.logsumexp(logits, dim=-1) - norm}

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        if prediction_loss_only:
            return loss.detach(), None, None
        # predictions: the five digit logits, then the log of the digits' probability mass
        predictions = torch.cat([outputs["digit_logits"], outputs["digit_log_mass"][:, None]], dim=-1)
        return loss.detach(), predictions.detach(), inputs["teacher_score"].detach()



def expected_scores(digit_logits) -> list[float]:
    """Expected score per row of (n, 5) digit logits (`models.expected_from_logits`); further columns (the
    trainer's predictions carry the log digit mass as a sixth) are ignored."""
    return [expected_from_logits(row[:5]) for row in np.asarray(digit_logits, dtype=np.float64)]


def digit_masses(predictions) -> list[float]:
    """The digits' next-token probability mass per row of `RewardModelTrainer` predictions (their sixth column)."""
    return np.exp(np.asarray(predictions, dtype=np.float64)[:, 5]).tolist()


def compute_reward_metrics(eval_pred) -> dict:
    """`compute_metrics` of `RewardModelTrainer`: `reward_metrics` of the expected scores vs the teacher's, and the
    digits' mean probability mass (`digit_mass`: the judge's `min_digit_mass` applies to each pair's)."""
    logits, teacher = eval_pred.predictions, eval_pred.label_ids
    metrics = reward_metrics(expected_scores(logits), np.asarray(teacher).reshape(-1))
    out = {k: v for k, v in metrics.items() if k in ("mae", "pearson", "spearman") and v is not None}
    return {**out, "digit_mass": float(np.mean(digit_masses(logits)))}


# ------------------------------------------------------------------------------------------------ model and LoRA


def load_reward_base(model_name_or_path: str, config: RewardDistillConfig, trust_remote_code: bool = False,
                     device_index: int = 0):
    """The audio LLM to distil into, and its processor: full precision, or the language model in 4-bit NF4 with the
    audio tower, projector and LM head unquantised (`config.load_in_4bit`; the whole model on GPU `device_index`,
    the process's own GPU in data-parallel training)."""
    return audio_llm_for_training(model_name_or_path, config.dtype, config.load_in_4bit, trust_remote_code,
                                  device_index)


def reward_lora_config(config: RewardDistillConfig, model=None):
    """`peft.LoraConfig` of the reward model: LoRA on the language model's projections only; with
    `train_projector`, the audio projector trained fully and saved in the adapter (`modules_to_save`)."""
    try:
        from peft import LoraConfig
    except ImportError as e:
        raise ImportError("Training the reward model needs peft: pip install 'parass2s_hf[train]'") from e
    from ..align.qlora import language_model_lora_targets

    modules_to_save = None
    if config.train_projector:
        if model is not None and not any(n.split(".")[-1] == PROJECTOR for n, _ in model.named_modules()):
            raise ValueError(f"train_projector is set but the model has no {PROJECTOR!r} module; unset it.")
        modules_to_save = [PROJECTOR]
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=language_model_lora_targets(config.lora_target_modules),
                      modules_to_save=modules_to_save, task_type="CAUSAL_LM")


def _teacher_summary(train_scores: Sequence[float], eval_scores: Sequence[float]) -> dict:
    """The teacher's scores on both sides, and the held-out MAE of always predicting the training mean: the bar a
    reward model must clear to have learnt anything beyond the average."""
    train, held_out = np.asarray(train_scores, dtype=np.float64), np.asarray(eval_scores, dtype=np.float64)
    return {"train_mean": float(train.mean()), "train_std": float(train.std()), "eval_mean": float(held_out.mean()),
            "eval_std": float(held_out.std()), "mean_baseline_mae": float(np.abs(held_out - train.mean()).mean())}


def _predict(trainer, dataset) -> tuple[list[float], list[float], float, float]:
    out = trainer.predict(dataset, metric_key_prefix="eval")
    return expected_scores(out.predictions), np.asarray(out.label_ids).reshape(-1).tolist(), \
        float(out.metrics.get("eval_loss", float("nan"))), float(np.min(digit_masses(out.predictions)))


def train_reward_model(model_name_or_path: str, train_pairs, eval_pairs, training_args,
                       config: RewardDistillConfig | None = None, *, model=None, processor=None,
                       trust_remote_code: bool = False, extra_report: Mapping | None = None) -> dict:
    """Distil teacher pairs into `model_name_or_path` + LoRA; evaluate on held-out pairs; save the adapter, the
    processor and `reward_model_report.json` in `training_args.output_dir`.

    Args:
        model_name_or_path (`str`): the base audio LLM (the judge's `reward_model`).
        train_pairs, eval_pairs (`datasets.Dataset`): teacher pairs (`distill.data.PAIR_COLUMNS`); `eval_pairs` are
            held out from training (their scores are only compared against).
        training_args (`transformers.TrainingArguments`): the optimisation (`remove_unused_columns` is set `False`).
        config (`RewardDistillConfig`, *optional*): target, LoRA and loading settings.
        model, processor (*optional*): a loaded base (not yet wrapped by PEFT) and its processor instead of loading
            `model_name_or_path`.
        extra_report (`dict`, *optional*): more entries for the report (e.g. where the pairs came from).

    Returns:
        `dict`: the report: `untrained` and `trained` metrics on the held-out pairs (`mae`, `pearson`, `spearman`,
        `n`, the predictions' mean and spread, the held-out loss), `teacher` (the teacher scores' mean and spread, and
        `mean_baseline_mae`: the MAE of always predicting the training mean), `train_seconds`, `train_loss`,
        `train_steps`, the pairs' counts, `judge_config` (the `JudgeConfig` fields that load the result) and the
        held-out `predictions` (per pair: `id`, `teacher`, `predicted`, and `untrained`).
    """
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import set_seed

    config = config or RewardDistillConfig()
    set_seed(training_args.seed)  # the LoRA initialisation draws from the global RNG before the Trainer seeds it
    if model is None or processor is None:
        model, processor = load_reward_base(model_name_or_path, config, trust_remote_code=trust_remote_code,
                                            device_index=training_args.local_process_index)
    checkpointing = bool(getattr(training_args, "activation_checkpointing", None)
                         or getattr(training_args, "gradient_checkpointing", False))  # the name before transformers 5.2x
    if config.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    elif checkpointing:
        model.enable_input_require_grads()  # the frozen embeddings' output must carry gradients through checkpoints
    model = get_peft_model(model, reward_lora_config(config, model))
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("trainable parameters: %d of %d (%.2f%%)", trainable, total, 100 * trainable / max(total, 1))

    collator = RewardModelCollator(processor, target=config.target, max_seconds=config.max_seconds,
                                   cache_size=config.feature_cache_size, prompt_notes=config.reward_prompt_notes)
    trainer = RewardModelTrainer(model=model, args=training_args, data_collator=collator, train_dataset=train_pairs,
                                 eval_dataset=eval_pairs, processing_class=processor, digit_ids=collator.digit_ids)
    report = {"base_model": model_name_or_path, "adapter": os.path.abspath(training_args.output_dir),
              "distill_config": asdict(config), "train_pairs": len(train_pairs), "eval_pairs": len(eval_pairs),
              "teacher": _teacher_summary(train_pairs["teacher_score"], eval_pairs["teacher_score"]),
              "trainable_parameters": int(trainable), **(extra_report or {})}
    tic = time.perf_counter()
    result = trainer.train()
    report["train_seconds"] = round(time.perf_counter() - tic, 2)
    report["train_loss"] = float(result.training_loss)
    report["train_steps"] = int(result.global_step)

    after, teacher, loss, mass = _predict(trainer, eval_pairs)
    report["trained"] = {**reward_metrics(after, teacher), "loss": loss, "min_digit_mass": mass}
    if config.eval_untrained:
        # The untrained model is the base with the adapter switched off (LoRA bypassed, the original projector in
        # place of the trained copy): the same weights as before training, since training touches only the adapter.
        # Scored after training because bitsandbytes' CPU inference repacks 4-bit weights into a layout its training
        # path cannot use.
        with model.disable_adapter():
            before, _, before_loss, before_mass = _predict(trainer, eval_pairs)
        report["untrained"] = {**reward_metrics(before, teacher), "loss": before_loss, "min_digit_mass": before_mass}
        logger.info("untrained on %d held-out pairs: %s", len(teacher), report["untrained"])
    report["predictions"] = [{"id": i, "teacher": t, "predicted": p, **({"untrained": before[k]}
                                                                        if config.eval_untrained else {})}
                             for k, (i, t, p) in enumerate(zip(eval_pairs["id"], teacher, after))]
    logger.info("trained on %d pairs, held-out %d: %s", len(train_pairs), len(teacher), report["trained"])

    trainer.save_model(training_args.output_dir)  # the adapter (LoRA + a trained projector) and the processor
    base = os.path.abspath(model_name_or_path) if os.path.isdir(model_name_or_path) else model_name_or_path
    report["judge_config"] = {"mode": "reward_model", "reward_model": base,
                              "reward_adapter": os.path.abspath(training_args.output_dir),
                              "reward_prompt_notes": config.reward_prompt_notes}
    if trainer.is_world_process_zero():
        with open(os.path.join(training_args.output_dir, REPORT_FILE), "w") as f:
            json.dump(report, f, indent=2)
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return report
