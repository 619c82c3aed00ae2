"""ParaS2SAlign: GRPO of a spoken-dialogue policy with the ParaS2S judge as reward (paper Part 3), QLoRA on GPU.

```
python examples/train_grpo.py --config examples/configs/grpo_qlora.yaml        # GPU recipe (start from the SFT model)
python examples/train_grpo.py --config examples/configs/grpo_cpu_smoke.yaml     # tiny, CPU, minutes
accelerate launch examples/train_grpo.py --config examples/configs/grpo_qlora.yaml   # several GPUs
python examples/train_grpo.py --config examples/configs/grpo_omni_qlora.yaml    # a Qwen2.5-Omni policy that speaks
python examples/train_grpo.py --config examples/configs/grpo_omni_cpu_smoke.yaml  # tiny Omni, CPU (testing --omni)
```
Every `ParaS2SGRPOConfig` field (TRL's `GRPOConfig` plus `judge_config`, `renderer`, `prompt_audio_column`, ...) and
every `trl.ModelConfig` field (`model_name_or_path`, `use_peft`, `lora_r`, `load_in_4bit`, ...) can be set in the YAML
file or on the command line. The policy completes each spoken prompt with a reply in the `[style: ...]` format; the
renderer speaks it in that style, and the judge scores (prompt audio, spoken reply). With a Qwen2.5-Omni checkpoint as
`model_name_or_path` the policy speaks itself: its thinker writes plain words (LoRA on the thinker), its frozen talker
speaks them (`omni_speaker`, `omni_generate_kwargs`), and the judge scores that waveform (`align/omni_policy.py`).
"""

from __future__ import annotations

import parass2s_hf  # noqa: F401  # isort: skip - first: quiets library notes before trl loads bitsandbytes
import os
import sys
from dataclasses import dataclass, field

from trl import ModelConfig, TrlParser, get_peft_config

from parass2s_hf import load_parass2sbench
from parass2s_hf.align import ParaS2SGRPOConfig, ParaS2SGRPOTrainer
from parass2s_hf.align.qlora import language_model_lora_targets, quantization_config_for_audio_llm
from parass2s_hf.models import ModelCheck, judge_checks, preflight
from parass2s_hf.script_errors import run_script


@dataclass
class GRPOScriptArguments:
    """The prompts to train on.

    Args:
        dataset_config (`str`, *optional*, defaults to `"synthetic"`): the ParaS2SBench config whose rows are the spoken
            prompts (`sample` for a smoke test).
        dataset_split (`str`, *optional*, defaults to `"train"`): its split (the benchmark's test split is for
            evaluation only).
        data_dir (`str`, *optional*): your own prompts in the `data_dir` layout (e.g. a `parass2s build` export).
        limit (`int`, *optional*): train on the first N prompts.
    """

    dataset_config: str = field(default="synthetic", metadata={"help": "ParaS2SBench config of the prompts"})
    dataset_split: str = field(default="train", metadata={"help": "split of the prompts"})
    data_dir: str | None = field(default=None, metadata={"help": "your prompts in the data_dir layout"})
    limit: int | None = field(default=None, metadata={"help": "train on the first N prompts"})


def build_parser() -> TrlParser:
    return TrlParser((GRPOScriptArguments, ParaS2SGRPOConfig, ModelConfig))


def main(script_args: GRPOScriptArguments, training_args: ParaS2SGRPOConfig, model_args: ModelConfig,
         judge=None) -> ParaS2SGRPOTrainer:
    """Train; returns the trainer (its adapter and model card are saved in `training_args.output_dir`).

    `judge` (*optional*): a ready `ParaS2SJudge` for the reward instead of one built from `judge_config`.

    Raises:
        `PreflightError` (a `ValueError`): the policy (an audio LLM) or a model or endpoint of `judge_config` is not
            available or not of the kind its setting needs (settings named `--judge_config.<field>`); raised before
            any prompt is prepared.
    """
    if not model_args.model_name_or_path:
        raise ValueError("Set model_name_or_path: the policy (ideally the SFT warm-up merged into its base).")
    # The policy and every model of the reward's judge are checked before the prompts are prepared and any model
    # loads: one missing offline, or of the wrong kind, would otherwise be found minutes in, one at a time.
    checks = [ModelCheck("--model_name_or_path", model_args.model_name_or_path, "audio_llm",
                         training_args.trust_remote_code)]
    if judge is None:
        checks += judge_checks(training_args.judge_config, prefix="--judge_config.")
    preflight(checks)
    with training_args.main_process_first(desc="preparing the prompts"):  # one process renders/caches them
        dataset = load_parass2sbench(script_args.dataset_config, split=script_args.dataset_split,
                                     data_dir=script_args.data_dir)
    if script_args.limit:
        dataset = dataset.select(range(min(script_args.limit, len(dataset))))
    training_args.model_init_kwargs = {"dtype": model_args.dtype or "auto",
                                       "attn_implementation": model_args.attn_implementation,
                                       **(training_args.model_init_kwargs or {})}
    peft_config = get_peft_config(model_args)
    if peft_config is not None:  # LoRA on the language model only: the audio encoder has q/k/v projections too
        peft_config.target_modules = language_model_lora_targets(model_args.lora_target_modules)
    quantization = None
    if model_args.load_in_4bit or model_args.load_in_8bit:  # the audio tower and projector stay unquantised
        quantization = quantization_config_for_audio_llm(
            load_in_4bit=model_args.load_in_4bit, load_in_8bit=model_args.load_in_8bit,
            quant_type=model_args.bnb_4bit_quant_type, double_quant=model_args.use_bnb_nested_quant,
            compute_dtype=model_args.dtype if model_args.dtype not in (None, "auto") else None)
    trainer = ParaS2SGRPOTrainer(model=model_args.model_name_or_path, args=training_args, train_dataset=dataset,
                                 peft_config=peft_config, quantization_config=quantization, judge=judge)
    trainer.train()
    trainer.save_model(training_args.output_dir)
    # TRL's card (tags, the ParaS2S paper, the trainer's citation) replaces PEFT's blank one written by save_model
    trainer.create_model_card(model_name=os.path.basename(os.path.normpath(training_args.output_dir)),
                              dataset_name="parass2sbench")
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name="parass2sbench")
    return trainer


if __name__ == "__main__":
    sys.exit(run_script("train_grpo.py", lambda: build_parser().parse_args_and_config(), main))
