"""How local models load: one settings object, the `from_pretrained` arguments it gives, and the one quantisation
builder (bitsandbytes) of the project, which the judge, the systems under test, construction, distillation and the
TRL trainers all use.

An audio LLM's audio encoder has attention projections with the same names as the language model's (`q_proj`, ...),
and quantising the encoder and its projector costs the model its hearing for little memory: they stay unquantised,
with the LM head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

QUANTIZATION_SKIP_MODULES = ("audio_tower", "multi_modal_projector", "lm_head")
"""Modules kept out of 4-bit (or 8-bit) quantisation: the audio encoder and its projector, and the LM head."""


@dataclass
class LoadSettings:
    """How a local model is loaded and batched.

    Args:
        torch_dtype (`str`, *optional*, defaults to `"auto"`): `"auto"`, `"bfloat16"`, `"float16"` or `"float32"`.
        device_map (`str`, *optional*): passed to `from_pretrained` (e.g. `"auto"` on GPUs); CPU when `None`.
        load_in_4bit (`bool`, *optional*, defaults to `False`): language models in 4-bit NF4 (bitsandbytes), the
            audio encoder, projector and LM head unquantised.
        trust_remote_code (`bool`, *optional*, defaults to `False`): allow checkpoint code; off unless asked.
        batch_size (`int`, *optional*, defaults to `8`): inputs per model call (requests in flight for an endpoint).
    """

    torch_dtype: str = field(default="auto", metadata={"help": "dtype of local models"})
    device_map: str | None = field(default=None, metadata={"help": "device map of local models"})
    load_in_4bit: bool = field(default=False, metadata={"help": "4-bit NF4 language models (bitsandbytes)"})
    trust_remote_code: bool = field(default=False, metadata={"help": "allow checkpoint code"})
    batch_size: int = field(default=8, metadata={"help": "inputs per model call"})

    def __post_init__(self):
        torch_dtype(self.torch_dtype)  # an unknown dtype fails here, not at the first load
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size!r}.")


def torch_dtype(name: str | None):
    """The `torch.dtype` called `name`, or `"auto"` for `None`/`"auto"`.

    Raises:
        `ValueError`: an unknown name.
    """
    if name in (None, "auto"):
        return "auto"
    import torch

    value = getattr(torch, str(name), None)
    if isinstance(value, torch.dtype):
        return value
    raise ValueError(f"Unknown torch_dtype {name!r}; use 'auto', 'bfloat16', 'float16' or 'float32'.")


def skip_patterns(modules: Sequence[str]) -> list[str]:
    """`llm_int8_skip_modules` entries that keep `modules` (e.g. `audio_tower`) out of bitsandbytes quantisation at
    any depth. transformers 5.2x matches a skip entry from the start of a module's full name, as a regex, or as a
    suffix, so a bare `"audio_tower"` misses `model.audio_tower.layers.0.fc1`: each name is given both bare (older
    releases match substrings) and as `.*name` (a regex from the start)."""
    out = []
    for name in modules:
        out += [name, f".*{name}"] if name != "lm_head" else [name]
    return out


def quantization_config(load_in_4bit: bool = True, load_in_8bit: bool = False, quant_type: str = "nf4",
                        double_quant: bool = False, compute_dtype=None, quant_storage=None,
                        skip_modules: Sequence[str] = QUANTIZATION_SKIP_MODULES):
    """The project's one `BitsAndBytesConfig` builder: 4-bit (or 8-bit) weights for the language model, the modules in
    `skip_modules` (the audio encoder, its projector and the LM head) unquantised.

    Args:
        load_in_4bit (`bool`, *optional*, defaults to `True`): 4-bit weights.
        load_in_8bit (`bool`, *optional*, defaults to `False`): 8-bit weights instead.
        quant_type (`str`, *optional*, defaults to `"nf4"`): `"nf4"` or `"fp4"`.
        double_quant (`bool`, *optional*, defaults to `False`): quantise the quantisation constants too.
        compute_dtype (`torch.dtype` or `str`, *optional*): dtype of the 4-bit matmuls; bfloat16 on a GPU and float32
            on a CPU by default.
        quant_storage (`str`, *optional*): storage dtype of the packed weights (e.g. for FSDP).
        skip_modules (`list[str]`, *optional*): modules kept unquantised, at any depth.

    Returns:
        `transformers.BitsAndBytesConfig`, or `None` when neither 4-bit nor 8-bit is asked for.

    Raises:
        `ImportError`: bitsandbytes is not installed (extra `train`).
    """
    if not (load_in_4bit or load_in_8bit):
        return None
    if load_in_4bit and load_in_8bit:
        raise ValueError("load_in_4bit and load_in_8bit are both set; choose one.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise ImportError("4-bit and 8-bit models need bitsandbytes: pip install 'parass2s_hf[train]'") from e
    import torch
    from transformers import BitsAndBytesConfig

    if compute_dtype in (None, "auto"):
        compute_dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    elif isinstance(compute_dtype, str):
        compute_dtype = torch_dtype(compute_dtype)
    skip = skip_patterns(skip_modules)
    if load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                              bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=compute_dtype,
                              bnb_4bit_quant_storage=quant_storage, llm_int8_skip_modules=skip)


def load_kwargs(settings: LoadSettings, quantize: bool = False) -> dict:
    """`from_pretrained` arguments: dtype, device map, safetensors only, no remote code unless asked, and
    `quantization_config` when `quantize` and `settings.load_in_4bit` (language models only: an ASR model or a
    classifier is never quantised)."""
    kwargs = {"dtype": torch_dtype(settings.torch_dtype), "use_safetensors": True,
              "trust_remote_code": bool(settings.trust_remote_code)}
    if settings.device_map:
        kwargs["device_map"] = settings.device_map
    if quantize and settings.load_in_4bit:
        kwargs["quantization_config"] = quantization_config(load_in_4bit=True)
    return kwargs


CPU_4BIT_BLOCK = 64
"""bitsandbytes' CPU kernels (on CPUs with AVX512-BF16) repack a 4-bit layer's weights in blocks of this many inputs
when it first runs without gradients."""


def check_cpu_4bit(model, model_id: str, role: str) -> None:
    """Refuse a 4-bit model on a CPU whose quantised layers bitsandbytes cannot run there: a layer whose input size
    is not a multiple of `CPU_4BIT_BLOCK` fails at its first inference with a bare `shape '[32, 0]' is invalid`.

    Raises:
        `ValueError`: naming the model, the first such layer and what to do.
    """
    for name, module in model.named_modules():
        if not getattr(module, "support_avx512bf16_for_cpu", False) or not hasattr(module, "in_features"):
            continue  # not a bitsandbytes 4-bit layer, or a CPU that runs the generic kernels
        weight = getattr(module, "weight", None)
        if weight is None or weight.device.type != "cpu" or module.in_features % CPU_4BIT_BLOCK == 0:
            continue
        raise ValueError(
            f"{role} {model_id!r} cannot run in 4-bit on this CPU: layer {name!r} takes {module.in_features} inputs, "
            f"and bitsandbytes' CPU kernels need a multiple of {CPU_4BIT_BLOCK} (a model this small gains nothing "
            f"from 4-bit anyway). Load it without 4-bit, or run it on a GPU.")
