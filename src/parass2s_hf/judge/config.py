"""`JudgeConfig`: every setting of the ParaS2S judge, and the fingerprint of those that change scores."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from ..constants import DIMENSIONS
from .prompts import PROMPT_VERSION

MODES = ("multistage", "end2end", "reward_model")
QUERY_LABELS = ("given", "predicted")
REWARD_MODEL_REPORT = "reward_model_report.json"
"""The report distillation writes beside a reward adapter (`distill.train_reward_model`); its `judge_config` holds the
settings the adapter was trained with, which the judge checks when it loads the adapter."""


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
        rubric_api_base (`str`, *optional*): an OpenAI-compatible endpoint (OpenAI, vLLM, TGI) for the rubric stage;
            `rubric_model` is then the model name sent to it.
        asr_api_base (`str`, *optional*): an endpoint serving `asr_model` at `/audio/transcriptions` (e.g.
            `vllm serve openai/whisper-large-v3`).
        audio_llm_api_base (`str`, *optional*): an endpoint serving `audio_llm` through chat completions with
            `input_audio` parts (e.g. `vllm serve Qwen/Qwen2-Audio-7B-Instruct`, or GPT-4o audio: the paper's
            end-to-end baseline B1). Tone, query style and `end2end` then run there; so does `reward_model` unless
            `reward_model` or `reward_adapter` names a local model.
        reward_api_base (`str`, *optional*): an endpoint serving `reward_model` (a merged distilled reward model under
            vLLM); it must return `top_logprobs`.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding the
            endpoints' key. The key itself is never stored, logged or written to results.
        api_max_retries (`int`, *optional*, defaults to `3`): retries of a request that failed with a connection
            error, a timeout, 408/409/429 or 5xx, with exponential backoff (the `openai` client's); a request that
            still fails makes that pair's score missing, with the error; a server that cannot be reached stops the
            run with one line naming it.
        api_timeout (`float`, *optional*, defaults to `120.0`): seconds per request.
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
        tone_max_new_tokens (`int`, *optional*, defaults to `64`): budget of a tone description. A reasoning tone
            model such as Audio-Reasoner (the paper's) thinks before its `<RESPONSE>...</RESPONSE>` answer: give it
            room (e.g. 1024); only the answer reaches the rubric.
        asr_max_new_tokens (`int`, *optional*, defaults to `128`): budget of a transcript.
        style_max_new_tokens (`int`, *optional*, defaults to `8`): budget of the audio LLM's choice of the query's
            style (one word; a reasoning model needs room to think first).
        max_retries (`int`, *optional*, defaults to `1`): retries, with a stricter instruction, of an answer that holds
            no score; after them the score is missing, with its reason.
        strict (`bool`, *optional*, defaults to `False`): raise `JudgeParseError` instead of reporting a missing score.
        cache_dir (`str`, *optional*): folder for the on-disk perception cache (in memory only when `None`).
        max_seconds (`float`, *optional*, defaults to `60.0`): longest clip accepted by the audio door.
        min_response_seconds (`float`, *optional*, defaults to `0.1`): a response whose sounding part (10-ms frames
            above -60 dBFS) is shorter than this, or that is empty or silent, is the system's failure: score 1,
            status `empty_response`, in every mode (the same rule as the evaluation runner and the RL reward).
        min_digit_mass (`float`, *optional*, defaults to `0.5`): `reward_model` mode: the least next-token probability
            the digits "1".."5" must hold together; below it the model is not answering the question, and the score is
            missing with reason `low_digit_mass` rather than an expected value over noise.
        reward_prompt_notes (`bool`, *optional*, defaults to `False`): `reward_model` mode: also tell the model the
            query's dimension and the requirement note. Off, as in the paper: the reward model hears the two clips and
            reads the rubric. A distilled adapter must be used with the setting it was trained with.
        use_response_tone (`bool`, *optional*, defaults to `True`): `multistage`: describe the response's tone with the
            audio LLM and give it to the rubric LLM (the paper's O2, its best judge); `False` is its O1 ablation (no
            response-style information, and no tone stage).
        query_labels (`str`, *optional*, defaults to `"given"`): `multistage`: `"given"` uses an item's `query_style`
            when it has one; `"predicted"` always predicts it (a style analyzer, else the audio LLM), as on unlabelled
            speech: the paper's O5 ablation. The given label is kept in the perception as `query_style_given`.
    """

    mode: str = field(default="multistage", metadata={"help": "multistage, end2end or reward_model"})
    asr_model: str = field(default="openai/whisper-large-v3", metadata={"help": "ASR checkpoint"})
    audio_llm: str = field(default="Qwen/Qwen2-Audio-7B-Instruct", metadata={"help": "audio LLM checkpoint"})
    rubric_model: str = field(default="Qwen/Qwen2.5-7B-Instruct", metadata={"help": "rubric LLM (or API model name)"})
    rubric_api_base: str | None = field(default=None, metadata={"help": "OpenAI-compatible endpoint for the rubric"})
    asr_api_base: str | None = field(default=None, metadata={"help": "endpoint serving asr_model (transcriptions)"})
    audio_llm_api_base: str | None = field(default=None, metadata={"help": "endpoint serving audio_llm (audio chat)"})
    reward_api_base: str | None = field(default=None, metadata={"help": "endpoint serving reward_model (logprobs)"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "env var holding the endpoints' key"})
    api_max_retries: int = field(default=3, metadata={"help": "retries of a failed request (backoff)"})
    api_timeout: float = field(default=120.0, metadata={"help": "seconds per request to an endpoint"})
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
    style_max_new_tokens: int = field(default=8, metadata={"help": "query-style answer budget (more for reasoners)"})
    max_retries: int = field(default=1, metadata={"help": "stricter retries of an answer without a score"})
    strict: bool = field(default=False, metadata={"help": "raise JudgeParseError instead of a missing score"})
    cache_dir: str | None = field(default=None, metadata={"help": "on-disk perception cache"})
    max_seconds: float = field(default=60.0, metadata={"help": "longest accepted clip"})
    min_response_seconds: float = field(default=0.1, metadata={
        "help": "shorter sounding part (or empty/silent) = empty_response, score 1"})
    min_digit_mass: float = field(default=0.5, metadata={
        "help": "reward_model: least probability on the digits 1-5, else missing (low_digit_mass)"})
    reward_prompt_notes: bool = field(default=False, metadata={
        "help": "reward_model: also give the dimension and requirement note"})
    use_response_tone: bool = field(default=True, metadata={
        "help": "multistage: give the response's tone description to the rubric (O2); false = O1"})
    query_labels: str = field(default="given", metadata={
        "help": "multistage: given (use labels) or predicted (O5: always predict the query style)"})

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Unknown judge mode {self.mode!r}; expected one of {list(MODES)}.")
        unknown = [d for d in self.style_analyzers if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"style_analyzers has unknown dimension(s) {unknown}; expected some of {list(DIMENSIONS)}.")
        for name in ("batch_size", "rubric_max_new_tokens", "tone_max_new_tokens", "asr_max_new_tokens",
                     "style_max_new_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}.")
        if self.api_max_retries < 0 or self.api_timeout <= 0:
            raise ValueError(f"api_max_retries must be 0 or more and api_timeout positive, got {self.api_max_retries!r} "
                             f"and {self.api_timeout!r}.")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries!r}.")
        if self.query_labels not in QUERY_LABELS:
            raise ValueError(f"query_labels must be one of {list(QUERY_LABELS)}, got {self.query_labels!r}.")
        if not 0 <= self.min_digit_mass <= 1:
            raise ValueError(f"min_digit_mass is a probability, from 0 to 1; got {self.min_digit_mass!r}.")
        if self.min_response_seconds < 0:
            raise ValueError(f"min_response_seconds must be 0 or more, got {self.min_response_seconds!r}.")
        if self.reward_adapter and self.reward_api_base:
            raise ValueError("reward_adapter loads a LoRA adapter locally; a served reward model (reward_api_base) "
                             "must be merged first (examples/train_reward_model.py --merge_output_dir).")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds!r}.")

    # Settings that do not change a score: how fast, where, and how failures are reported.
    _NOT_IN_FINGERPRINT = ("batch_size", "cache_dir", "device_map", "strict", "api_key_env", "api_max_retries",
                           "api_timeout")

    def scoring_settings(self) -> dict:
        """The settings that change scores (what `fingerprint` hashes), e.g. to say which of them differ."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self._NOT_IN_FINGERPRINT}
        # A served stage counts by the model it serves (the model fields), not by where: a server that moves to another
        # host gives the same scores, and a run judged there resumes.
        for name in ("rubric_api_base", "asr_api_base", "audio_llm_api_base", "reward_api_base"):
            fields[name] = bool(fields[name])
        fields["prompt_version"] = PROMPT_VERSION
        return fields

    def fingerprint(self) -> str:
        """A stable hash of everything that changes scores (models, mode, prompts, budgets), for cache keys."""
        return hashlib.sha256(json.dumps(self.scoring_settings(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def api_bases(self) -> dict:
        """The served stages: role -> endpoint."""
        bases = {"asr": self.asr_api_base, "audio_llm": self.audio_llm_api_base, "rubric_model": self.rubric_api_base,
                 "reward_model": self.reward_api_base}
        return {role: url for role, url in bases.items() if url}

    def load_settings(self):
        """How the judge's local models load (`models.LoadSettings`)."""
        from ..models import LoadSettings

        return LoadSettings(torch_dtype=self.torch_dtype, device_map=self.device_map, load_in_4bit=self.load_in_4bit,
                            trust_remote_code=self.trust_remote_code, batch_size=self.batch_size)

    def to_dict(self) -> dict:
        """The settings, safe to write to a manifest (holds the key's variable name, never the key)."""
        return dataclasses.asdict(self)
