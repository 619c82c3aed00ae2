"""`ParaS2SGRPOTrainer`: GRPO with spoken prompts and the ParaS2S judge as reward (ParaS2SAlign, paper Part 3).

Stock `GRPOTrainer` (trl 1.16) carries images, not audio, to generation and to the log-prob forwards. This subclass
overrides five private methods so that the prompt's audio reaches generation, the reference and old log-probs and
the loss (docs/architecture.md, "GRPO with spoken prompts"):

- `_generate_and_score_completions`: decodes each row's audio once per distinct prompt, builds the policy's
  conversation, runs the processor (audio placeholders expanded, log-mel features), and keeps the features beside the
  batch so TRL splits and shuffles them with it;
- `_tokenize_prompts`: hands generation the processor's token ids and features;
- `_compute_loss` and `_get_per_token_logps_and_entropies`: put the features back into every policy/reference forward
  (a forward pre-hook, chunk by chunk);
- `_calculate_rewards`: logs within-group reward spread, the fraction of groups whose rewards are all equal and the
  missing rewards, over the whole (gathered) generation batch.

A Qwen2.5-Omni checkpoint as the model makes an Omni policy (`align/omni_policy.py`): the whole Omni model is loaded
once, TRL trains its thinker (LoRA on the thinker's language model; a LoRA is required, the KL reference being the
thinker with the adapter disabled), prompts are encoded by `OmniAudioInputs` with the Omni conversation, and the default
reward is `OmniSpeechReward`: the frozen talker and token2wav speak each completion and the judge hears that waveform.
The audio-tower cache is off for it (the Omni tower takes packed features). With `train_talker` the talker trains as
well (a LoRA of its own, in one more param group of TRL's optimizer, clipped on its own): `_compute_loss` adds the
talker's term, the clipped policy-gradient term of the codec tokens it sampled for each completion, with the same
advantages (`_talker_loss`; logged as `parass2s/talker_loss` and `parass2s/talker_codec_tokens`).

Rows without audio are text prompts and take stock TRL's path untouched. These are private methods of trl: the
package pins trl to the minor version they were written against, and `tests/test_grpo.py` fails loudly when their
signatures change.

```python
>>> from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer, to_policy_rows
>>> from parass2s_hf import load_parass2sbench
>>> args = ParaS2SGRPOConfig(output_dir="runs/grpo", judge_config={"mode": "reward_model",
...                          "audio_llm": "Qwen/Qwen2-Audio-7B-Instruct"})
>>> trainer = ParaS2SGRPOTrainer(model="runs/sft/merged", args=args,
...                              train_dataset=to_policy_rows(load_parass2sbench("synthetic", split="train")))
>>> trainer.train()
```
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
import torch
from transformers import TrainerCallback
from trl import GRPOTrainer

from ..audio import load_audio
from ..constants import SAMPLING_RATE
from ..models import QUANTIZATION_SKIP_MODULES, skip_patterns
from .config import ParaS2SGRPOConfig
from .data import LazyPromptCheck, to_policy_rows
from .omni_policy import omni_model_type
from .prompts import encode_policy_prompt, policy_prompt
from .reward import ParaS2SReward, prompt_key

logger = logging.getLogger(__name__)

AUDIO_FEATURES = ("input_features", "feature_attention_mask")

PAPER_CITATION = """\
@article{parass2s2025,
    title         = {{ParaS2S: Benchmarking and Aligning Spoken Language Models for Paralinguistic-aware Speech-to-Speech Interaction}},
    year          = 2025,
    eprint        = {arXiv:2511.08723}
}"""


class ParaS2SGRPOTrainer(GRPOTrainer):
    """GRPO with spoken prompts, rewarded by the ParaS2S judge on the spoken reply.

    Args:
        model (`str` or `PreTrainedModel`): the policy, an audio LLM (Qwen2-Audio family), ideally the SFT warm-up
            merged into its base (`examples/train_sft.py`), so that the KL reference is the SFT model. A path is loaded
            with `quantization_config`, keeping `QUANTIZATION_SKIP_MODULES` in full precision. A Qwen2.5-Omni checkpoint
            (or loaded `Qwen2_5OmniForConditionalGeneration`) is an Omni policy: its thinker is trained, its talker
            speaks each completion for the reward (`omni_*` settings of the config; `self.omni` holds it).
        reward_funcs (*optional*): TRL reward functions. Defaults to one `ParaS2SReward` built from `args`
            (`judge_config`, `renderer`, ...). Pass your own (e.g. a `ParaS2SReward` with a shared judge) to override.
        args (`ParaS2SGRPOConfig`, *optional*): the configuration.
        train_dataset (`datasets.Dataset`): rows with the spoken prompt in `args.prompt_audio_column` (see
            `to_policy_rows`), and optionally `dimension`, `style`, `text`, `requirement` for the judge. Validated
            before training (unusable audio is listed).
        judge (`ParaS2SJudge`, *optional*): a ready judge for the default reward (instead of building one from
            `args.judge_config`): how tests inject tiny models and how a loaded judge is shared.
        **kwargs: the other arguments of `GRPOTrainer` (`processing_class`, `peft_config`, `quantization_config`,
            `callbacks`, ...).
    """

    _tag_names: ClassVar[list] = ["trl", "grpo", "parass2s", "speech-to-speech", "paralinguistics"]
    _name = "ParaS2S-GRPO"
    _paper: ClassVar[dict] = {"title": "ParaS2S: Benchmarking and Aligning Spoken Language Models for Paralinguistic-aware "
                       "Speech-to-Speech Interaction", "id": "2511.08723", "citation": PAPER_CITATION}

    def __init__(self, model, reward_funcs=None, args: ParaS2SGRPOConfig | None = None, train_dataset=None,
                 eval_dataset=None, judge=None, quantization_config=None, **kwargs):
        if args is None:
            name = model if isinstance(model, str) else model.config._name_or_path
            args = ParaS2SGRPOConfig(f"{str(name).split('/')[-1]}-ParaS2S-GRPO")
        if not isinstance(args, ParaS2SGRPOConfig):
            raise TypeError(f"args must be a ParaS2SGRPOConfig, got {type(args).__name__}.")
        self._preflight(model, args, judge if reward_funcs is None else False)
        import datasets

        streamed = isinstance(train_dataset, datasets.IterableDataset)  # its column_names may be None: checked lazily
        has_audio = train_dataset is not None and (
            streamed or args.prompt_audio_column in (getattr(train_dataset, "column_names", None) or []))
        self.prompt_check = None
        """Streamed prompts: the `LazyPromptCheck` that drops (and counts in `.dropped`) or refuses bad rows as drawn."""
        if has_audio and args.validate_prompt_audio and streamed:
            self.prompt_check = LazyPromptCheck(args.prompt_audio_column, args.max_prompt_seconds,
                                                drop=args.drop_invalid_prompts)
            train_dataset = train_dataset.filter(self.prompt_check)
        elif has_audio and args.validate_prompt_audio:
            train_dataset = to_policy_rows(train_dataset, args.prompt_audio_column,
                                           drop_invalid=args.drop_invalid_prompts, max_seconds=args.max_prompt_seconds)
        self.omni = None
        """`OmniPolicy` when the policy is a Qwen2.5-Omni checkpoint: TRL trains its thinker, its talker speaks."""
        self.talker_params = []
        """With `train_talker`: the talker LoRA's parameters (a param group of the optimizer TRL creates)."""
        self._talker_batch = None
        if omni_model_type(model) is not None:
            model = self._load_omni_policy(model, args, quantization_config, kwargs)
        if isinstance(model, str):
            model = self._load_policy(model, args, quantization_config)
            # used: stop TRL from warning that they are ignored because it now receives a loaded model
            args.model_init_kwargs = None
        # TRL suppresses `config.image_token_id` while sampling (a sampled placeholder would mismatch the features);
        # for an audio LLM that placeholder is the audio token.
        audio_token = getattr(model.config, "audio_token_index", None) or getattr(model.config, "audio_token_id", None)
        if audio_token is not None and getattr(model.config, "image_token_id", None) is None:
            model.config.image_token_id = audio_token
        if reward_funcs is None:
            reward_funcs = [self._default_reward(args, judge, self.omni)]
        self._audio_ctx = None
        self.audio_forwards = 0
        """Policy/reference forwards that received the prompt audio (a test checks every forward does)."""
        super().__init__(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train_dataset,
                         eval_dataset=eval_dataset, **kwargs)
        self._keep_audio_token_suppressed(audio_token)
        if self.omni is not None:
            self._place_speech_modules()
        if self.talker_params:
            self._talker_reward = self._check_talker_reward()
            self.add_callback(_TalkerGradients(self.talker_params))
            if args.activation_checkpointing or args.gradient_checkpointing:
                self.omni.model.talker.gradient_checkpointing_enable({"use_reentrant": False})
        self.audio_cache = None
        """`AudioTowerCache`: the frozen tower once per distinct prompt of a generation batch (`None` when off)."""
        # the Omni audio tower takes packed features (no per-clip batch): the cache, written for Qwen2-Audio's, is off
        if args.cache_audio_tower and self.omni is None:
            from ..models.audio_cache import AudioTowerCache

            sharded = self.accelerator.distributed_type in ("FSDP", "DEEPSPEED") or self.is_fsdp_enabled or \
                self.is_deepspeed_enabled
            self.audio_cache = AudioTowerCache.install(self.model, sharded=bool(sharded))

    def _keep_audio_token_suppressed(self, audio_token) -> None:
        """TRL replaces its suppress list with `generation_kwargs["suppress_tokens"]` when a user gives one; a sampled
        audio placeholder then breaks the next forward (more placeholders than features). Keep it suppressed."""
        kwargs = getattr(self, "generation_kwargs", None)
        if audio_token is None or kwargs is None or not (self._is_vlm or self.omni is not None):
            return
        suppress = list(kwargs.get("suppress_tokens") or [])
        if audio_token not in suppress:
            suppress.append(audio_token)
            kwargs["suppress_tokens"] = suppress
            if getattr(self, "generation_config", None) is not None:
                self.generation_config.suppress_tokens = suppress

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """TRL's `save_model`, plus `parass2s_policy.json`: the prompt, voice and sampling settings the policy was
        trained with, which the `policy` system under test reads (`parass2s evaluate --system policy`). An Omni policy
        writes `parass2s_omni_policy.json` instead, and with `train_talker` the talker's adapter in
        `talker_adapter/`."""
        super().save_model(output_dir, _internal_call)
        if self.args.should_save and self.omni is not None:
            import os

            from .omni_policy import TALKER_ADAPTER_DIR

            folder = output_dir or self.args.output_dir
            talker = None
            if self.talker_params:
                self.omni.model.talker.model.save_pretrained(os.path.join(folder, TALKER_ADAPTER_DIR))
                talker = TALKER_ADAPTER_DIR
            self.omni.write_settings(folder, max_new_tokens=self.args.max_completion_length,
                                     temperature=self.args.temperature, talker_adapter=talker)
        elif self.args.should_save:
            from .policy_settings import write_policy_settings

            args = self.args
            write_policy_settings(output_dir or args.output_dir, system_prompt=args.policy_system_prompt or None,
                                  renderer=args.renderer, renderer_kwargs=args.renderer_kwargs,
                                  max_new_tokens=args.max_completion_length, temperature=args.temperature,
                                  top_p=args.top_p, top_k=args.top_k)

    # ---- set-up ----
    @staticmethod
    def _preflight(model, args: ParaS2SGRPOConfig, judge) -> None:
        """The policy (given by name) and every model and endpoint of the reward's judge (built from `judge_config`)
        are checked from their config files before any prompt is read or model loaded: a missing checkpoint is one
        line naming it (`PreflightError`), not a long `OSError` from the Hub client minutes in."""
        from ..models import ModelCheck, judge_checks, preflight

        checks = [ModelCheck("model", model, "model", args.trust_remote_code)] if isinstance(model, str) else []
        if judge is None:
            checks += judge_checks(args.judge_config, prefix="judge_config.")
            config = args.judge_config
            if "wer" in (args.reward_signals or []) and config.get("mode") != "multistage":
                # the WER signal transcribes with the judge's asr_model, which only a multi-stage judge checks itself
                checks += [check for check in judge_checks({**config, "mode": "multistage"}, prefix="judge_config.")
                           if check.setting in ("judge_config.asr_model", "judge_config.asr_api_base")]
        preflight(checks)

    @staticmethod
    def _load_policy(model_id: str, args: ParaS2SGRPOConfig, quantization_config):
        from trl.trainer.utils import create_model_from_path

        kwargs = dict(args.model_init_kwargs or {})
        if quantization_config is not None:
            skip = list(getattr(quantization_config, "llm_int8_skip_modules", None) or [])
            quantization_config.llm_int8_skip_modules = skip + [p for p in skip_patterns(QUANTIZATION_SKIP_MODULES)
                                                                if p not in skip]
            kwargs["quantization_config"] = quantization_config
        if args.distributed_state.distributed_type in ["MULTI_GPU", "DEEPSPEED"]:
            kwargs["device_map"] = None
        kwargs.setdefault("trust_remote_code", args.trust_remote_code)
        return create_model_from_path(model_id, **kwargs)

    def _load_omni_policy(self, model, args: ParaS2SGRPOConfig, quantization_config, kwargs: dict):
        """Load the whole Omni model once; returns its thinker (the policy TRL trains) and keeps the rest in
        `self.omni`. Its tokenizer is the processing class (the Omni processor needs torchvision)."""
        from .omni_policy import OmniPolicy

        if args.train_talker and args.distributed_state.num_processes > 1:
            raise NotImplementedError("train_talker runs in one process only: the talker's LoRA lives outside the "
                                      "model the accelerator wraps, so its gradients would not be synchronised.")
        if kwargs.get("peft_config") is None and args.beta != 0:
            raise ValueError("An Omni policy trains a LoRA on its thinker (pass peft_config, or use_peft in the example "
                             "script): its KL reference is the thinker with the adapter disabled. Full fine-tuning of "
                             "the thinker (beta=0 only) is not supported with a reference model.")
        init = dict(args.model_init_kwargs or {})
        if init.get("dtype") == "auto":
            init["dtype"] = None
        self.omni = OmniPolicy.load(model, speaker=args.omni_speaker, system_prompt=args.omni_system_prompt,
                                    seed=args.omni_seed, generate_kwargs=args.omni_generate_kwargs,
                                    model_init_kwargs=init, quantization_config=quantization_config)
        args.model_init_kwargs = None
        kwargs.setdefault("processing_class", self.omni.builder.tokenizer)
        speech = (self.omni.model.talker, self.omni.model.token2wav)
        for module in speech:
            module.requires_grad_(False)
        thinker = self.omni.thinker
        thinker.get_submodule("model.audio_tower").requires_grad_(False)  # the frozen ear, as for Qwen2-Audio
        if args.train_talker:
            from .omni_policy import add_talker_lora

            self.talker_params = add_talker_lora(self.omni.model, r=args.talker_lora_r, alpha=args.talker_lora_alpha)
            self.omni.capture_talker = True
        return thinker

    def _place_speech_modules(self) -> None:
        """The talker and token2wav on the thinker's device (the accelerator moved the thinker there)."""
        model = self.omni.model
        if getattr(model, "hf_device_map", None):
            return
        device = self.omni.thinker.device
        model.talker.to(device)
        model.token2wav.to(device)

    @staticmethod
    def _default_reward(args: ParaS2SGRPOConfig, judge, omni=None):
        from ..judge import JudgeConfig, ParaS2SJudge

        if judge is None:
            judge = ParaS2SJudge(JudgeConfig(**args.judge_config))
        if omni is not None:
            from .omni_policy import OmniSpeechReward

            return OmniSpeechReward(judge, omni, audio_column=args.prompt_audio_column,
                                    reward_field=args.reward_field, fallback_to_score=args.reward_fallback_to_score,
                                    signals=args.reward_signals or ())
        return ParaS2SReward(judge, args.renderer, audio_column=args.prompt_audio_column,
                             reward_field=args.reward_field, fallback_to_score=args.reward_fallback_to_score,
                             voice_key=args.renderer_voice_key, renderer_kwargs=args.renderer_kwargs,
                             render_workers=args.render_workers, signals=args.reward_signals or ())

    # ---- the talker's term (train_talker) ----
    def _check_talker_reward(self):
        """The reward that speaks with this policy's talker: what it sampled is what the talker's term trains on."""
        from .omni_policy import OmniSpeechReward

        found = [f for f in self.reward_funcs if isinstance(f, OmniSpeechReward) and f.policy is self.omni]
        if len(found) != 1:
            raise ValueError("train_talker needs exactly one reward that speaks with the trained policy's talker (the "
                             "default OmniSpeechReward): the talker's codec tokens it samples are what the talker's "
                             "term trains on.")
        return found[0]

    def create_optimizer(self, model=None):
        """TRL's optimizer, plus the talker LoRA's parameters as one more param group (same learning rate, schedule
        and weight decay); the talker is not part of the model TRL and the accelerator wrap."""
        optimizer = super().create_optimizer(model)
        if self.talker_params and not any(p is self.talker_params[0] for g in optimizer.param_groups
                                          for p in g["params"]):
            optimizer.add_param_group({"params": list(self.talker_params), "weight_decay": self.args.weight_decay})
        return optimizer

    def _clip_grad_norm(self, model):
        """The thinker's gradients clipped as ever; the talker LoRA's clipped to the same `max_grad_norm` on their own
        (their norm logged as `parass2s/talker_grad_norm`)."""
        norm = super()._clip_grad_norm(model)
        if self.talker_params:
            talker = torch.nn.utils.clip_grad_norm_(self.talker_params, self.args.max_grad_norm)
            self._metrics["train"]["parass2s/talker_grad_norm"].append(float(talker))
        return norm

    def _capture_talker_batch(self, output: dict) -> None:
        """After a training generation batch: what the talker sampled for each completion (by row, `None` for one it
        did not speak), with the old log-probs where the policy may move before the loss (as TRL decides for the
        thinker), and the row index beside the batch so that TRL's shuffle and split keep rows and samples
        together."""
        from .omni_policy import talker_token_logps

        rows = output["prompt_ids"].shape[0]
        samples = self._talker_reward.talker_samples
        if samples and max(samples) >= rows:
            raise RuntimeError(f"The reward spoke {max(samples) + 1} completions for a batch of {rows}: the talker's "
                               f"samples and the batch went out of step.")
        batch = [samples.get(i) for i in range(rows)]
        generate_every = self.args.steps_per_generation * self.num_iterations
        if self.args.gradient_accumulation_steps % generate_every != 0:
            talker = self.omni.model.talker
            with torch.no_grad():
                for sample in batch:
                    if sample is not None:
                        sample.old_logps = talker_token_logps(talker, sample)
        self._talker_batch = batch
        output["talker_index"] = torch.arange(rows, device=output["prompt_ids"].device)

    def _talker_loss(self, inputs):
        """The talker's term of one micro-batch: per completion, the clipped policy-gradient term of its codec tokens
        (teacher-forced log-probs, `talker_token_logps`) with the completion's advantage, averaged over the codec
        tokens, weighted by `talker_loss_weight` and scaled for gradient accumulation as TRL's `grpo`/`bnpo` losses
        are. No KL term for the talker (its reference would be the talker without its adapter: a second forward)."""
        from .omni_policy import talker_token_logps

        advantages = inputs["advantages"]
        talker = self.omni.model.talker
        checkpointing = getattr(talker.model.get_base_model(), "gradient_checkpointing", False)
        terms, tokens = [], 0
        talker.train(checkpointing)  # checkpointing runs in training mode only; no dropout in the talker or its LoRA
        try:
            for row, index in enumerate(inputs["talker_index"].tolist()):
                sample = self._talker_batch[index]
                if sample is None:
                    continue
                logps = talker_token_logps(talker, sample)
                old = logps.detach() if sample.old_logps is None else sample.old_logps
                ratio = torch.exp(logps - old)
                clipped = torch.clamp(ratio, 1 - self.epsilon_low, 1 + self.epsilon_high)
                advantage = advantages[row] if advantages.dim() == 1 else advantages[row].mean()
                terms.append(-torch.min(ratio * advantage, clipped * advantage).sum())
                tokens += logps.numel()
        finally:
            talker.train(False)
        self._metrics["train"]["parass2s/talker_codec_tokens"].append(float(tokens))
        if not terms:
            self._metrics["train"]["parass2s/talker_loss"].append(0.0)
            return None
        loss = torch.stack(terms).sum() / tokens
        self._metrics["train"]["parass2s/talker_loss"].append(float(loss.detach()))
        return self.args.talker_loss_weight * loss / self.current_gradient_accumulation_steps

    # ---- audio prompts ----
    def _is_audio_batch(self, inputs) -> bool:
        column = self.args.prompt_audio_column
        with_audio = [column in x and x[column] is not None for x in inputs]
        if any(with_audio) and not all(with_audio):
            raise ValueError(f"A batch mixes rows with and without {column!r}; a dataset must be all spoken or all text "
                             f"prompts.")
        return bool(inputs) and all(with_audio)

    def _encode_prompts(self, inputs) -> tuple[list[dict], dict]:
        """Rows with the decoded audio shared between repeats of a prompt, and the processor's output per row."""
        column = self.args.prompt_audio_column
        processor = self.processing_class
        chat = self.omni.conversation() if self.omni is not None else policy_prompt(self.args.policy_system_prompt or None)
        by_key, rows, encoded = {}, [], []
        for x in inputs:
            audio = load_audio(x[column], max_seconds=self.args.max_prompt_seconds,
                               name=f"prompt {x.get('id', '')}".strip())
            key = prompt_key(audio.array)
            if key not in by_key:
                if self.omni is not None:  # the conversation the talker speaks with (OmniSystem's)
                    conversation, enc = chat, self.omni.encode(audio.array)
                else:
                    conversation = x.get("prompt") or chat
                    enc = encode_policy_prompt(processor, audio.array, conversation)
                by_key[key] = ({"array": audio.array, "sampling_rate": SAMPLING_RATE}, conversation, enc)
            shared, conversation, enc = by_key[key]
            rows.append({**x, column: shared, "prompt": conversation})
            encoded.append(enc)
        features = {name: torch.cat([e[name] for e in encoded]) for name in AUDIO_FEATURES}
        return rows, {"input_ids": [e["input_ids"][0].tolist() for e in encoded], **features}

    @contextmanager
    def _audio(self, features: tuple | None):
        previous, self._audio_ctx = self._audio_ctx, features
        try:
            yield
        finally:
            self._audio_ctx = previous

    def _generate_and_score_completions(self, inputs):
        if not self._is_audio_batch(inputs):
            return super()._generate_and_score_completions(inputs)
        if self.audio_cache is not None:  # a new generation batch: its prompts are encoded afresh
            self.audio_cache.clear()
        rows, self._encoded = self._encode_prompts(inputs)
        features = tuple(self._encoded[name] for name in AUDIO_FEATURES)
        talker = bool(self.talker_params) and self.model.training
        if talker:
            self._talker_reward.talker_samples = {}
        try:
            with self._audio(features):  # the old and reference log-probs computed in here see the audio
                output = super()._generate_and_score_completions(rows)
        finally:
            self._encoded = None
        if talker:
            self._capture_talker_batch(output)
        # beside the batch, so TRL's split/shuffle of the generation batch keeps each row with its features
        for name, value in zip(AUDIO_FEATURES, features):
            output[name] = value.to(output["prompt_ids"].device)
        return output

    def _tokenize_prompts(self, prompts: list):
        encoded = getattr(self, "_encoded", None)
        if encoded is None:
            return super()._tokenize_prompts(prompts)
        return encoded["input_ids"], None, {name: encoded[name] for name in AUDIO_FEATURES}

    def _compute_loss(self, model, inputs):
        if AUDIO_FEATURES[0] not in inputs:
            return super()._compute_loss(model, inputs)
        with self._audio(tuple(inputs[name] for name in AUDIO_FEATURES)):
            loss = super()._compute_loss(model, inputs)
        if self.talker_params and "talker_index" in inputs and self.model.training:
            talker = self._talker_loss(inputs)
            if talker is not None:
                loss = loss + talker
        return loss

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           *args, **kwargs):
        if self._audio_ctx is None:
            return super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep,
                                                              batch_size, *args, **kwargs)
        features, mask = self._audio_ctx
        if features.size(0) != input_ids.size(0):
            raise RuntimeError(f"{features.size(0)} prompt audio feature rows for {input_ids.size(0)} sequences: the "
                               f"audio and the batch went out of step.")
        step = batch_size or input_ids.size(0)
        # under DDP (torchrun, accelerate launch) `model` is the wrapper, which has no dtype: the wrapped model's
        dtype = self.accelerator.unwrap_model(model).dtype
        parts = []
        for start in range(0, input_ids.size(0), step):
            rows = slice(start, start + step)

            def inject(module, args_, kwargs_, rows=rows):
                self.audio_forwards += 1
                return args_, {**kwargs_, "input_features": features[rows].to(dtype),
                               "feature_attention_mask": mask[rows]}

            hook = model.register_forward_pre_hook(inject, with_kwargs=True)
            try:
                parts.append(super()._get_per_token_logps_and_entropies(
                    model, input_ids[rows], attention_mask[rows], logits_to_keep, step, *args, **kwargs))
            finally:
                hook.remove()
        return tuple(_concat(values) for values in zip(*parts))

    # ---- reward statistics ----
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        mode = "train" if self.model.training else "eval"
        group = self.num_generations if mode == "train" else self.num_generations_eval
        total = rewards_per_func.nansum(dim=1)
        total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
        if group and total.numel() % group == 0:
            grouped = total.view(-1, group)
            valid = ~torch.isnan(grouped)
            spreads, zero = [], 0
            for values, ok in zip(grouped, valid):
                kept = values[ok]
                if kept.numel() >= 2:
                    spread = float(kept.std(unbiased=False))
                    spreads.append(spread)
                    zero += spread < 1e-6
            if spreads:
                self._metrics[mode]["parass2s/group_reward_std"].append(float(np.mean(spreads)))
                self._metrics[mode]["parass2s/frac_groups_zero_spread"].append(zero / len(spreads))
        self._metrics[mode]["parass2s/missing_rewards"].append(float(torch.isnan(total).sum()))
        return rewards_per_func


class _TalkerGradients(TrainerCallback):
    """`Trainer` zeroes the gradients of the model it wraps (the thinker) after each optimizer step; the talker LoRA's
    are zeroed here, at the same points."""

    def __init__(self, params):
        self.params = params

    def _zero(self):
        for p in self.params:
            p.grad = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._zero()

    def on_optimizer_step(self, args, state, control, **kwargs):
        self._zero()


def _concat(values):
    if values[0] is None:
        return None
    if values[0].dim() == 0:  # a scalar per chunk (the MoE aux loss): their mean
        return torch.stack(values).mean()
    return torch.cat(values)
