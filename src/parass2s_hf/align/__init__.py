"""ParaS2SAlign: GRPO with the ParaS2S judge as reward (paper Part 3), as a TRL `GRPOTrainer` subclass with QLoRA,
and the SFT warm-up that precedes it. Needs the `train` extra: `pip install 'parass2s_hf[train]'`."""

from .config import ParaS2SGRPOConfig
from .data import CONTEXT_COLUMNS, InvalidPromptAudioError, to_policy_rows, validate_prompt_audio
from .prompts import POLICY_SYSTEM_PROMPT, policy_prompt
from .qlora import language_model_lora_targets, quantization_config_for_audio_llm
from .reward import ParaS2SReward
from .trainer import ParaS2SGRPOTrainer

__all__ = ["CONTEXT_COLUMNS", "POLICY_SYSTEM_PROMPT", "InvalidPromptAudioError", "ParaS2SGRPOConfig",
           "ParaS2SGRPOTrainer", "ParaS2SReward", "language_model_lora_targets", "policy_prompt",
           "quantization_config_for_audio_llm", "to_policy_rows", "validate_prompt_audio"]
