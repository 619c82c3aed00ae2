"""`JudgeConfig`: every setting of the ParaS2S judge, and the fingerprint of those that change scores."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from ..constants import DIMENSIONS
from .prompts import PROMPT_VERSION

MODES = ("multistage", "end2end", "reward_model")


@dataclass
class JudgeConfig:
    """Configuration of `ParaS2SJudge`.

    Args:
        mode (`str`, *optional*, defaults to `"multistage"`): `"multistage"` (perception per clip, then a rubric LLM:
            the paper's best judge), `"end2end"` (one audio LLM hears both clips and scores: the paper's baseline) or
            `"reward_model"` (one forward of an audio LLM over both clips; the score is the expected value over the
            probabilities of "1".."5").
        asr_model (`str`, *optional*, defaults to `"openai/whisper-large-v3"`): speech recogniser (Hub id or path).
        audio_llm (`str`, *optional*, defaults to `"Qwen/Qwen2-Audio-7B-Instruct"`): audio LLM for the response's tone
            description, the query style when no label or analyzer is given, and the `end2end` mode.
        rubric_model (`str`, *optional*, defaults to `"Qwen/Qwen2.5-7B-Instruct"`): text LLM that applies the rubric;
            with `rubric_api_base`, the model name sent to that endpoint (e.g. `"gpt-4.1"`).
        rubric_api_base (`str`, *optional*): an OpenAI-compatible endpoint (OpenAI, vLLM, TGI) for the rubric stage.
        rubric_api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding the
            endpoint's key. The key itself is never stored, logged or written to results.
        reward_model (`str`, *optional*): checkpoint of the `reward_model` mode (defaults to `audio_llm`).
        reward_adapter (`str`, *optional*): a LoRA adapter (PEFT) loaded on top of `reward_model`.
        style_analyzers (`dict[str, str]`, *optional*): per dimension, an audio classifier (Hub id or path) whose
            labels are that dimension's styles; used for queries without a style label.
        torch_dtype (`str`, *optional*, defaults to `"auto"`): dtype of local models (`"auto"`, `"bfloat16"`, ...).
        device_map (`str`, *optional*): passed to `from_pretrained` (e.g. `"auto"` on GPUs); CPU when `None`.
        load_in_4bit (`bool`, *optional*, defaults to `False`): load the LLMs in 4-bit NF4 (bitsandbytes); the audio
            encoder stays unquantised.
        trust_remote_code (`bool`, *optional*, defaults to `False`): allow checkpoint code; off unless you ask.
        batch_size (`int`, *optional*, defaults to `8`): clips or prompts per model call.
        rubric_max_new_tokens (`int`, *optional*, defaults to `256`): generation budget of the rubric and `end2end`.
        tone_max_new_tokens (`int`, *optional*, defaults to `64`): budget of a tone description.
        asr_max_new_tokens (`int`, *optional*, defaults to `128`): budget of a transcript.
        max_retries (`int`, *optional*, defaults to `1`): retries, with a stricter instruction, of an answer that holds
            no score; after them the score is missing, with its reason.
        strict (`bool`, *optional*, defaults to `False`): raise `JudgeParseError` instead of reporting a missing score.
        cache_dir (`str`, *optional*): folder for the on-disk perception cache (in memory only when `None`).
        max_seconds (`float`, *optional*, defaults to `60.0`): longest clip accepted by the audio door.
    """

    mode: str = field(default="multistage", metadata={"help": "multistage, end2end or reward_model"})
    asr_model: str = field(default="openai/whisper-large-v3", metadata={"help": "ASR checkpoint"})
    audio_llm: str = field(default="Qwen/Qwen2-Audio-7B-Instruct", metadata={"help": "audio LLM checkpoint"})
    rubric_model: str = field(default="Qwen/Qwen2.5-7B-Instruct", metadata={"help": "rubric LLM (or API model name)"})
    rubric_api_base: str | None = field(default=None, metadata={"help": "OpenAI-compatible endpoint for the rubric"})
    rubric_api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "env var holding the API key"})
    reward_model: str | None = field(default=None, metadata={"help": "reward_model mode checkpoint"})
    reward_adapter: str | None = field(default=None, metadata={"help": "LoRA adapter for the reward model"})
    style_analyzers: dict = field(default_factory=dict, metadata={"help": "dimension -> audio classifier"})
    torch_dtype: str = field(default="auto", metadata={"help": "dtype of local models"})
    device_map: str | None = field(default=None, metadata={"help": "device map of local models"})
    load_in_4bit: bool = field(default=False, metadata={"help": "4-bit NF4 LLMs (bitsandbytes)"})
    trust_remote_code: bool = field(default=False, metadata={"help": "allow checkpoint code"})
    batch_size: int = field(default=8, metadata={"help": "clips or prompts per model call"})
    rubric_max_new_tokens: int = field(default=256, metadata={"help": "rubric / end2end generation budget"})
    tone_max_new_tokens: int = field(default=64, metadata={"help": "tone description budget"})
    asr_max_new_tokens: int = field(default=128, metadata={"help": "transcript budget"})
    max_retries: int = field(default=1, metadata={"help": "stricter retries of an answer without a score"})
    strict: bool = field(default=False, metadata={"help": "raise JudgeParseError instead of a missing score"})
    cache_dir: str | None = field(default=None, metadata={"help": "on-disk perception cache"})
    max_seconds: float = field(default=60.0, metadata={"help": "longest accepted clip"})

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Unknown judge mode {self.mode!r}; expected one of {list(MODES)}.")
        unknown = [d for d in self.style_analyzers if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"style_analyzers has unknown dimension(s) {unknown}; expected some of {list(DIMENSIONS)}.")
        for name in ("batch_size", "rubric_max_new_tokens", "tone_max_new_tokens", "asr_max_new_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}.")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries!r}.")

    # Settings that do not change a score: how fast, where, and how failures are reported.
    _NOT_IN_FINGERPRINT = ("batch_size", "cache_dir", "device_map", "strict", "rubric_api_key_env")

    def fingerprint(self) -> str:
        """A stable hash of everything that changes scores (models, mode, prompts, budgets), for cache keys."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self._NOT_IN_FINGERPRINT}
        fields["prompt_version"] = PROMPT_VERSION
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """The settings, safe to write to a manifest (holds the key's variable name, never the key)."""
        return dataclasses.asdict(self)
