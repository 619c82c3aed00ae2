"""QLoRA on an audio LLM: LoRA on the language model only, 4-bit on the language model only.

An audio LLM's audio encoder has attention projections with the same names as the language model's (`q_proj`, ...),
and quantising the encoder and its projector costs the model its hearing for little memory. These helpers keep both
out, for the SFT warm-up, GRPO and the judge alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models import QUANTIZATION_SKIP_MODULES, quantization_config

LANGUAGE_MODEL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The attention and MLP projections of a Qwen2-style language model: the default LoRA targets."""

# QUANTIZATION_SKIP_MODULES (from `models`): the audio encoder and its projector (small, and sensitive to quantisation)
# and the LM head; they reach `llm_int8_skip_modules` through `models.skip_patterns`, since transformers 5 matches skip
# entries from the start of a module's full name: a bare "audio_tower" misses `model.audio_tower.layers.0.fc1`.


def language_model_lora_targets(target_modules: str | Sequence[str] | None = None) -> str:
    """LoRA `target_modules` for an audio LLM that reach the language model's linear layers only (never the audio
    tower or the projector, whose attention layers share names such as `q_proj`).

    Args:
        target_modules (`str` or `list[str]`, *optional*): module names (e.g. `["q_proj", "v_proj"]`), a single name,
            `"all-linear"`, or a regular expression (returned as is). `None` or `"all-linear"`: the attention and
            MLP projections (`LANGUAGE_MODEL_PROJECTIONS`).

    Returns:
        `str`: a regular expression for `peft.LoraConfig(target_modules=...)`, matched against full module names.
    """
    import re

    if target_modules is None or target_modules == "all-linear":
        names = list(LANGUAGE_MODEL_PROJECTIONS)
    elif isinstance(target_modules, str):
        if not re.fullmatch(r"\w+", target_modules):
            return target_modules
        names = [target_modules]
    else:
        names = list(target_modules)
    bad = [n for n in names if not re.fullmatch(r"\w+", n)]
    if bad:
        raise ValueError(f"LoRA target modules {bad} are not module names; give names such as {['q_proj', 'v_proj']}"
                         f" or one regular expression.")
    return r".*language_model\..*\.(" + "|".join(names) + ")"


def quantization_config_for_audio_llm(load_in_4bit: bool = True, load_in_8bit: bool = False,
                                      quant_type: str = "nf4", double_quant: bool = False,
                                      compute_dtype=None, quant_storage=None):
    """`BitsAndBytesConfig` for QLoRA on an audio LLM (what TRL's `model_init_kwargs["quantization_config"]` takes):
    the language model in 4-bit (or 8-bit), the audio tower, projector and LM head unquantised. The project's one
    builder, `models.quantization_config`; see it for the arguments.

    Returns:
        `transformers.BitsAndBytesConfig` or `None` when neither 4-bit nor 8-bit is asked for.
    """
    return quantization_config(load_in_4bit=load_in_4bit, load_in_8bit=load_in_8bit, quant_type=quant_type,
                               double_quant=double_quant, compute_dtype=compute_dtype, quant_storage=quant_storage,
                               skip_modules=QUANTIZATION_SKIP_MODULES)
