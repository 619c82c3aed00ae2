"""Warm-up SFT of a ParaS2SAlign policy (an audio LLM) on ParaS2SBench demonstrations, then merge the LoRA adapter into
the base: the merged model is where the GRPO recipe starts, and its KL reference.

Each demonstration is a spoken query (the prompt, in the policy's own conversation format, the one GRPO uses) and its
reference reply written `[style: <reply style>] <reply text>` (the target). Rows without a reference reply (real
corpora) are skipped and counted.

```
# the GPU recipe: Qwen2-Audio-7B-Instruct, QLoRA (4-bit base, LoRA r=16 on the language model), the synthetic train pool
python examples/train_sft.py --config examples/configs/sft_warmup.yaml

# several GPUs (data parallel)
accelerate launch --num_processes 4 examples/train_sft.py --config examples/configs/sft_warmup.yaml

# a CPU smoke run in minutes with a tiny random Qwen2-Audio (build it first)
python -m parass2s_hf.testing tiny/
python examples/train_sft.py --config examples/configs/sft_cpu_smoke.yaml

# any field from the command line, over the YAML
python examples/train_sft.py --config examples/configs/sft_warmup.yaml --limit 200 --output_dir runs/sft-small

# a Qwen2.5-Omni policy (detected from the checkpoint's config.json): a LoRA on its thinker; CPU smoke run
python -m parass2s_hf.testing tiny/ --omni
python examples/train_sft.py --config examples/configs/sft_omni_cpu_smoke.yaml
parass2s evaluate --system omni --model tiny/omni --adapter runs/sft-omni-cpu-smoke ...
```
Outputs: the adapter and processor in `output_dir`, the merged model and processor in `merge_output_dir` (default
`<output_dir>/merged`); pass that folder as the GRPO recipe's model.

An Omni policy (`align/sft_omni.py`) speaks with its own talker, so its target is the reply's words without the
`[style: ...]` tag, in the Omni's conversation (`omni_system_prompt`, Qwen2.5-Omni's own system prompt, as
`--system omni` sends it). Only the thinker's language model is trained (LoRA, `use_peft` required; `--load_in_4bit` quantises
it, never the audio or vision tower); the talker is not trained (see `align/sft_omni.py`). Outputs: the thinker adapter
in `output_dir`, which `--system omni --model BASE --adapter output_dir` evaluates, and in `merge_output_dir` (default
`<output_dir>/merged`) the whole Omni checkpoint with the adapter merged into its thinker: the GRPO recipe's model.
"""

from __future__ import annotations

import parass2s_hf  # noqa: F401  # isort: skip - first: quiets library notes before trl loads bitsandbytes
import gc
import logging
import os
import sys
from dataclasses import dataclass, field

import torch
from transformers import AutoModelForMultimodalLM, AutoProcessor
from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from parass2s_hf import load_parass2sbench
from parass2s_hf.align.data import validate_prompt_audio
from parass2s_hf.align.policy_settings import write_policy_settings
from parass2s_hf.align.prompts import POLICY_SYSTEM_PROMPT
from parass2s_hf.align.qlora import language_model_lora_targets, quantization_config_for_audio_llm
from parass2s_hf.align.sft import AudioSFTCollator, demonstration_rows, merge_lora_and_save
from parass2s_hf.align.sft_omni import (
    THINKER_CLASSES,
    OmniSFTCollator,
    load_omni_thinker,
    merge_omni_adapter_and_save,
    thinker_quantization_config,
)
from parass2s_hf.models import ModelCheck, preflight
from parass2s_hf.s2s.omni import MODEL_CLASSES as OMNI_MODEL_CLASSES
from parass2s_hf.s2s.omni import QWEN_SYSTEM_PROMPT, checkpoint_model_type
from parass2s_hf.script_errors import run_script

logger = logging.getLogger(__name__)


@dataclass
class SFTScriptArguments:
    """Arguments of `examples/train_sft.py` beyond `SFTConfig` (training) and `ModelConfig` (model, LoRA, 4-bit).

    Args:
        dataset_config (`str`, *optional*, defaults to `"synthetic"`): ParaS2SBench config of the demonstrations
            (`synthetic`, one dimension such as `emotion`, or `sample` for smoke runs).
        dataset_split (`str`, *optional*, defaults to `"train"`): split to train on (`train` is the pool kept apart
            from the benchmark's test split).
        data_dir (`str`, *optional*): your own rendered demonstrations in the `data_dir` layout.
        renderer (`str`, *optional*): renderer of the text layer at prepare time (defaults to the builder's,
            espeak-ng); ignored when `data_dir` holds audio.
        limit (`int`, *optional*): train on the first `limit` demonstrations only.
        audio_column (`str`, *optional*, defaults to `"audio"`): column holding the spoken query.
        max_seconds (`float`, *optional*, defaults to `60.0`): longest accepted query.
        drop_invalid_audio (`bool`, *optional*, defaults to `False`): drop rows whose audio is unusable (logged)
            instead of stopping before training.
        policy_system_prompt (`str`, *optional*, defaults to `POLICY_SYSTEM_PROMPT`): the policy's system prompt;
            keep it equal to the GRPO recipe's.
        omni_system_prompt (`str`, *optional*, defaults to `QWEN_SYSTEM_PROMPT`): the system prompt of an Omni
            policy (used instead of `policy_system_prompt`); Qwen2.5-Omni speaks only with its own, which is what
            `--system omni` sends.
        merge_output_dir (`str`, *optional*): where the merged model goes (defaults to `<output_dir>/merged`).
    """

    dataset_config: str = field(default="synthetic", metadata={"help": "ParaS2SBench config of the demonstrations."})
    dataset_split: str = field(default="train", metadata={"help": "Split to train on."})
    data_dir: str | None = field(default=None, metadata={"help": "Your own demonstrations in the data_dir layout."})
    renderer: str | None = field(default=None, metadata={"help": "Renderer of the text layer (default: espeak-ng)."})
    limit: int | None = field(default=None, metadata={"help": "Train on the first `limit` demonstrations only."})
    audio_column: str = field(default="audio", metadata={"help": "Column holding the spoken query."})
    max_seconds: float = field(default=60.0, metadata={"help": "Longest accepted query, in seconds."})
    drop_invalid_audio: bool = field(default=False, metadata={"help": "Drop rows with unusable audio instead of "
                                                                      "stopping."})
    policy_system_prompt: str = field(default=POLICY_SYSTEM_PROMPT, metadata={"help": "The policy's system prompt "
                                                                                      "(keep it equal to GRPO's)."})
    omni_system_prompt: str = field(default=QWEN_SYSTEM_PROMPT, metadata={"help": "An Omni policy's system prompt "
                                                                                   "(Qwen2.5-Omni's own)."})
    merge_output_dir: str | None = field(default=None, metadata={"help": "Where the merged model goes (default: "
                                                                         "<output_dir>/merged)."})

    def __post_init__(self):
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit}; expected a positive number of demonstrations, or leave it unset.")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds={self.max_seconds}; expected a positive duration in seconds.")


def build_parser() -> TrlParser:
    return TrlParser((SFTScriptArguments, SFTConfig, ModelConfig))


def load_demonstrations(script_args: SFTScriptArguments):
    """The demonstrations: ParaS2SBench rows with a reference reply and usable audio."""
    kwargs = {"renderer": script_args.renderer} if script_args.renderer else {}
    dataset = load_parass2sbench(script_args.dataset_config, split=script_args.dataset_split,
                                 data_dir=script_args.data_dir, **kwargs)
    dataset = demonstration_rows(dataset, limit=script_args.limit)
    return validate_prompt_audio(dataset, script_args.audio_column, max_seconds=script_args.max_seconds,
                                 drop=script_args.drop_invalid_audio)


def load_policy(model_args: ModelConfig, training_args: SFTConfig):
    """The audio LLM to fine-tune: full precision, or 4-/8-bit language model with the audio tower unquantised."""
    if not model_args.model_name_or_path:
        raise ValueError("Set model_name_or_path (e.g. Qwen/Qwen2-Audio-7B-Instruct, or tiny/qwen2_audio on CPU).")
    dtype = model_args.dtype if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    kwargs = {"dtype": dtype, "revision": model_args.model_revision,
              "trust_remote_code": training_args.trust_remote_code}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    quantization = quantization_config_for_audio_llm(
        load_in_4bit=model_args.load_in_4bit, load_in_8bit=model_args.load_in_8bit,
        quant_type=model_args.bnb_4bit_quant_type, double_quant=model_args.use_bnb_nested_quant,
        compute_dtype=model_args.dtype, quant_storage=model_args.bnb_4bit_quant_storage)  # "auto": bf16 GPU, fp32 CPU
    if quantization is not None:
        if not model_args.use_peft:
            raise ValueError("A 4-bit or 8-bit base can only be trained through LoRA: set use_peft: true.")
        kwargs["quantization_config"] = quantization
        # one full copy per process: data-parallel QLoRA puts each process's copy on its own GPU
        kwargs["device_map"] = {"": training_args.distributed_state.local_process_index} \
            if torch.cuda.is_available() else "cpu"
    model = AutoModelForMultimodalLM.from_pretrained(model_args.model_name_or_path, **kwargs)
    processor = AutoProcessor.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision,
                                              trust_remote_code=training_args.trust_remote_code)
    return model, processor


def policy_kind(model_name_or_path: str) -> str:
    """`"omni"` for a Qwen2.5-Omni checkpoint (its thinker is trained), `"audio_llm"` otherwise (Qwen2-Audio and the
    like; a checkpoint that cannot be read yet is left to the audio-LLM preflight, which names the problem).

    Raises:
        `ValueError`: an Omni model type whose thinker SFT is not wired (Qwen3-Omni).
    """
    model_type = checkpoint_model_type(model_name_or_path)
    if model_type in THINKER_CLASSES:
        return "omni"
    if model_type in OMNI_MODEL_CLASSES:
        raise ValueError(f"{model_name_or_path!r} is a {model_type} checkpoint; the Omni SFT warm-up trains the thinker "
                         f"of {sorted(THINKER_CLASSES)} only (e.g. Qwen/Qwen2.5-Omni-7B).")
    return "audio_llm"


def load_omni_policy(model_args: ModelConfig, training_args: SFTConfig):
    """The thinker of an Omni checkpoint to train a LoRA on: full precision, or its language model in 4-/8-bit with
    the audio and vision towers unquantised."""
    if not model_args.use_peft:
        raise ValueError("The Omni SFT warm-up trains a LoRA on the thinker (the adapter --system omni --adapter "
                         "loads): set use_peft: true.")
    dtype = model_args.dtype if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    kwargs = {"dtype": dtype, "revision": model_args.model_revision}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    quantization = thinker_quantization_config(
        load_in_4bit=model_args.load_in_4bit, load_in_8bit=model_args.load_in_8bit,
        quant_type=model_args.bnb_4bit_quant_type, double_quant=model_args.use_bnb_nested_quant,
        compute_dtype=model_args.dtype, quant_storage=model_args.bnb_4bit_quant_storage)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": training_args.distributed_state.local_process_index} \
            if torch.cuda.is_available() else "cpu"
    return load_omni_thinker(model_args.model_name_or_path, **kwargs)


def main_omni(script_args: SFTScriptArguments, training_args: SFTConfig, model_args: ModelConfig) -> str:
    """The Omni path of `main`: a LoRA on the thinker's language model, saved to `output_dir` (the adapter
    `--system omni --adapter` loads), then merged into a whole Omni checkpoint (thinker, talker, vocoder, voices) in
    `merge_output_dir` (default `<output_dir>/merged`), the GRPO recipe's Omni model. Returns the merged folder."""
    base = model_args.model_name_or_path
    preflight([ModelCheck("--model_name_or_path", base, "omni", training_args.trust_remote_code,
                          revision=model_args.model_revision)])
    with training_args.main_process_first(desc="preparing the demonstrations"):
        dataset = load_demonstrations(script_args)
    logger.info("%d demonstrations from ParaS2SBench %s/%s (Omni policy: the reply's words, no style tag)",
                len(dataset), script_args.dataset_config, script_args.dataset_split)
    model = load_omni_policy(model_args, training_args)
    collator = OmniSFTCollator.from_pretrained(base, system_prompt=script_args.omni_system_prompt or None,
                                               audio_column=script_args.audio_column,
                                               max_seconds=script_args.max_seconds)
    peft_config = get_peft_config(model_args)
    peft_config.target_modules = language_model_lora_targets(model_args.lora_target_modules)
    trainer = SFTTrainer(model=model, args=training_args, data_collator=collator, train_dataset=dataset,
                         processing_class=collator.tokenizer, peft_config=peft_config)
    trainer.train()
    trainer.save_model(training_args.output_dir)  # the thinker's adapter and the tokenizer
    is_main = trainer.accelerator.is_main_process
    merge_output_dir = script_args.merge_output_dir or os.path.join(training_args.output_dir, "merged")
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if is_main:
        merge_omni_adapter_and_save(training_args.output_dir, base, merge_output_dir,
                                    torch_dtype=model_args.dtype or "auto")
    if training_args.distributed_state.num_processes > 1:
        training_args.distributed_state.wait_for_everyone()
    if is_main:
        logger.info("thinker adapter: %s (--system omni --model %s --adapter %s); merged Omni checkpoint (the GRPO "
                    "recipe's model, or --system omni --model): %s", training_args.output_dir, base,
                    training_args.output_dir, merge_output_dir)
    return merge_output_dir


def main(script_args: SFTScriptArguments, training_args: SFTConfig, model_args: ModelConfig) -> str:
    """Train, save the adapter (and processor) to `training_args.output_dir`, merge it into the base and save the
    merged model and processor; returns the merged checkpoint's folder. A Qwen2.5-Omni checkpoint goes to
    `main_omni` (its thinker's LoRA, merged into the whole Omni checkpoint).

    Raises:
        `PreflightError` (a `ValueError`): the policy is not available (offline: not in the Hub cache) or is not an
            audio LLM; raised before any demonstration is prepared.
    """
    # The collator reads the raw rows (audio, reference reply): keep every column and skip TRL's text tokenisation.
    training_args.remove_unused_columns = False
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    # The policy is checked before the demonstrations are prepared (rendering them takes minutes the first time): a
    # model that is missing offline, or that does not hear audio, stops here with one line.
    if not model_args.model_name_or_path:
        raise ValueError("Set model_name_or_path (e.g. Qwen/Qwen2-Audio-7B-Instruct, or tiny/qwen2_audio on CPU).")
    if policy_kind(model_args.model_name_or_path) == "omni":
        return main_omni(script_args, training_args, model_args)
    merge_output_dir = script_args.merge_output_dir or os.path.join(training_args.output_dir, "merged")
    preflight([ModelCheck("--model_name_or_path", model_args.model_name_or_path, "audio_llm",
                          training_args.trust_remote_code, revision=model_args.model_revision)])

    with training_args.main_process_first(desc="preparing the demonstrations"):  # one process renders/caches them
        dataset = load_demonstrations(script_args)
    logger.info("%d demonstrations from ParaS2SBench %s/%s", len(dataset), script_args.dataset_config,
                script_args.dataset_split)
    model, processor = load_policy(model_args, training_args)
    collator = AudioSFTCollator(processor, system_prompt=script_args.policy_system_prompt,
                                audio_column=script_args.audio_column, max_seconds=script_args.max_seconds)
    peft_config = get_peft_config(model_args)
    if peft_config is not None:
        peft_config.target_modules = language_model_lora_targets(model_args.lora_target_modules)

    trainer = SFTTrainer(model=model, args=training_args, data_collator=collator, train_dataset=dataset,
                         processing_class=processor, peft_config=peft_config)
    trainer.train()
    trainer.save_model(training_args.output_dir)  # the adapter (or the full model without LoRA) and the processor

    is_main = trainer.accelerator.is_main_process
    if peft_config is None:  # full fine-tuning: the trained model is the starting checkpoint
        if is_main:
            trainer.model.save_pretrained(merge_output_dir)
            processor.save_pretrained(merge_output_dir)
    else:
        del trainer, model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if is_main:
            merge_lora_and_save(training_args.output_dir, merge_output_dir, base_model=model_args.model_name_or_path,
                                torch_dtype=model_args.dtype or "auto")
    if training_args.distributed_state.num_processes > 1:
        training_args.distributed_state.wait_for_everyone()
    if is_main:  # how it hears and speaks, for `parass2s evaluate --system policy` (the SFT replies are spoken
        # by espeak-ng with the assistant's voice, as the GRPO reward speaks them)
        write_policy_settings(merge_output_dir, system_prompt=script_args.policy_system_prompt or None)
        logger.info("merged SFT checkpoint (the GRPO recipe's model): %s", merge_output_dir)
    return merge_output_dir


if __name__ == "__main__":
    sys.exit(run_script("train_sft.py", lambda: build_parser().parse_args_and_config(), main))
