"""Command-line arguments of an evaluation: the system under test and the judge (`HfArgumentParser` dataclasses).

`parass2s evaluate` and `examples/evaluate_s2s.py` parse `(SystemArguments, EvaluationConfig, JudgeArguments)`.
`JudgeArguments` is `JudgeConfig` with every field prefixed `judge_` (`--judge_mode`, `--judge_audio_llm`, ...), written
out so a reader (and a tool) can follow a setting from the command line to the model; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from ..judge.config import JudgeConfig

SYSTEM_TYPES = ("precomputed", "cascade", "omni", "openai-audio", "policy")
CASCADE_DEFAULTS = {"asr": "openai/whisper-large-v3", "llm": "Qwen/Qwen2.5-7B-Instruct"}


@dataclass
class SystemArguments:
    """The speech-to-speech system under test.

    Args:
        system (`str`): `precomputed` (a folder or manifest of response audio), `cascade` (ASR -> text LLM -> TTS),
            `omni` (a transformers speech-output model such as Qwen2.5-Omni), `openai-audio` (an OpenAI-compatible
            audio chat endpoint) or `policy` (a ParaS2SAlign policy: a base audio LLM, the SFT model, or a base with a
            GRPO adapter, heard and spoken as in training).
        responses (`str`, *optional*): `precomputed`: the folder of audio files named by record id, or a manifest.
        model (`str`, *optional*): `omni`: the checkpoint (e.g. `Qwen/Qwen2.5-Omni-7B`); `openai-audio`: the model
            name (e.g. `gpt-4o-audio-preview`); `policy`: the policy's checkpoint (or its adapter's base).
        adapter (`str`, *optional*): `policy`: a PEFT adapter on top of `model` (a GRPO run's output folder);
            `omni`: a PEFT adapter trained on the thinker (the GRPO policy), loaded unmerged so the speech is the
            reward's, byte for byte (same device and dtype).
        asr (`str`, *optional*): `cascade`: the speech recogniser (defaults to `openai/whisper-large-v3`).
        llm (`str`, *optional*): `cascade`: the text LLM, a checkpoint or, with `llm_api_base`, an endpoint's model
            name (defaults to `Qwen/Qwen2.5-7B-Instruct`).
        llm_api_base (`str`, *optional*): `cascade`: an OpenAI-compatible endpoint for the LLM.
        tts (`str`, *optional*): `cascade`: the renderer (defaults to `espeak-ng`); `policy`: instead of training's.
        labelled (`bool`, *optional*, defaults to `False`): `cascade`: tell the LLM the query's true style and speak
            the reply's style (the paper's topline); otherwise style-blind (its Whisper-GPT-TTS baseline).
        api_base (`str`, *optional*): `openai-audio`: the endpoint (OpenAI when unset).
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the variable holding an endpoint's key.
        voice (`str`, *optional*): `openai-audio`: the output voice; `omni`: the speaker.
        temperature (`float`, *optional*, defaults to `0.0`): `0` decodes greedily; above it samples (needed for
            `num_samples > 1`), seeded per sample.
        max_new_tokens (`int`, *optional*): the system's text budget (its own default when unset).
        system_device_map (`str`, *optional*), system_dtype (`str`, *optional*): where and in what dtype local
            models of the system load.
        system_generate_kwargs (`str`, *optional*): `omni`: more arguments of the model's `generate`, as a JSON object
            (e.g. `'{"talker_max_new_tokens": 2048}'`).
    """

    _argument_group_name = "the system under test"  # a class attribute, not a field: HfArgumentParser's group title

    system: str = field(metadata={"help": f"one of {', '.join(SYSTEM_TYPES)}"})
    responses: str | None = field(default=None, metadata={"help": "precomputed: folder or manifest"})
    model: str | None = field(default=None, metadata={"help": "omni / policy checkpoint, openai-audio model name"})
    adapter: str | None = field(default=None, metadata={
        "help": "policy: a PEFT adapter on top of --model; omni: a PEFT adapter on the thinker (the GRPO policy)"})
    asr: str | None = field(default=None, metadata={
        "help": f"cascade: ASR checkpoint (default: {CASCADE_DEFAULTS['asr']})"})
    llm: str | None = field(default=None, metadata={
        "help": f"cascade: text LLM, a checkpoint or an endpoint's model name (default: {CASCADE_DEFAULTS['llm']})"})
    llm_api_base: str | None = field(default=None, metadata={"help": "cascade: OpenAI-compatible LLM endpoint"})
    tts: str | None = field(default=None, metadata={"help": "cascade: renderer (default: espeak-ng); policy: "
                                                                 "instead of training's"})
    labelled: bool = field(default=False, metadata={"help": "cascade: the LLM is told the true style (topline)"})
    api_base: str | None = field(default=None, metadata={"help": "openai-audio: endpoint"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "env var holding an endpoint's key"})
    voice: str | None = field(default=None, metadata={"help": "openai-audio voice / omni speaker"})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; > 0 samples"})
    max_new_tokens: int | None = field(default=None, metadata={"help": "the system's text budget (default: the "
                                                                           "system's own)"})
    system_device_map: str | None = field(default=None, metadata={"help": "device map of the system's models"})
    system_dtype: str = field(default="auto", metadata={"help": "dtype of the system's models"})
    system_generate_kwargs: str | None = field(default=None, metadata={"help": "omni: JSON of more generate args"})

    def __post_init__(self):
        if self.system not in SYSTEM_TYPES:
            raise ValueError(f"Unknown system {self.system!r}; expected one of {list(SYSTEM_TYPES)}.")
        if self.system_generate_kwargs is not None:
            try:
                parsed = json.loads(self.system_generate_kwargs)
            except json.JSONDecodeError as e:
                raise ValueError(f"system_generate_kwargs must be a JSON object, got {self.system_generate_kwargs!r} "
                                 f"({e}).") from None
            if not isinstance(parsed, dict):
                raise ValueError(f"system_generate_kwargs must be a JSON object, got {self.system_generate_kwargs!r}.")
        needs = {"precomputed": "responses", "omni": "model", "policy": "model"}
        if self.system in needs and not getattr(self, needs[self.system]):
            raise ValueError(f"--system {self.system} needs --{needs[self.system]}.")

    def model_checks(self) -> list:
        """The checks (`models.preflight`) of the checkpoints and endpoints this system will use: run before any data is
        prepared or any model loaded, so a missing or wrong model is one line at start-up, not a traceback hours in.
        The system's own endpoints are checked for the client and the key (no request: a system answering wrongly
        fails its first batch, which stops the run)."""
        from ..models.preflight import EndpointCheck, ModelCheck

        if self.system == "cascade":
            checks = [ModelCheck("--asr", self.asr or CASCADE_DEFAULTS["asr"], "asr")]
            llm = self.llm or CASCADE_DEFAULTS["llm"]
            checks.append(EndpointCheck("--llm_api_base", self.llm_api_base, llm, self.api_key_env, "llm", probe=False)
                          if self.llm_api_base else ModelCheck("--llm", llm, "text_llm"))
            return checks
        if self.system == "omni":
            return [ModelCheck("--model", self.model, "omni"),
                    *([ModelCheck("--adapter", self.adapter, "adapter")] if self.adapter else [])]
        if self.system == "policy":
            return [ModelCheck("--model", self.model, "audio_llm"),
                    *([ModelCheck("--adapter", self.adapter, "adapter")] if self.adapter else [])]
        if self.system == "openai-audio":
            return [EndpointCheck("--api_base", self.api_base or "https://api.openai.com/v1",
                                  self.model or "gpt-4o-audio-preview", self.api_key_env, "openai-audio", probe=False)]
        return []

    def to_kwargs(self) -> dict:
        """Keyword arguments of `parass2s_hf.s2s.build_system` for this system type."""
        budget = {"max_new_tokens": self.max_new_tokens} if self.max_new_tokens else {}
        local = {"torch_dtype": self.system_dtype, **({"device_map": self.system_device_map}
                                                       if self.system_device_map else {})}
        if self.system == "precomputed":
            return {"name": "precomputed", "responses": self.responses}
        if self.system == "cascade":
            return {"name": "cascade", "asr": self.asr or CASCADE_DEFAULTS["asr"],
                    "llm": self.llm or CASCADE_DEFAULTS["llm"], "tts": self.tts or "espeak-ng",
                    "labelled": self.labelled,
                    "llm_api_base": self.llm_api_base, "llm_api_key_env": self.api_key_env,
                    "temperature": self.temperature, **budget, **local}
        if self.system == "omni":
            extra = json.loads(self.system_generate_kwargs) if self.system_generate_kwargs else {}
            return {"name": "omni", "model": self.model, "temperature": self.temperature,
                    **({"adapter": self.adapter} if self.adapter else {}),
                    **({"speaker": self.voice} if self.voice else {}),
                    **({"generate_kwargs": extra} if extra else {}), **budget, **local}
        if self.system == "policy":
            return {"name": "policy", "model": self.model, "adapter": self.adapter, "renderer": self.tts,
                    "temperature": self.temperature, **budget, **local}
        return {"name": "openai-audio", "model": self.model or "gpt-4o-audio-preview", "api_base": self.api_base,
                "api_key_env": self.api_key_env, **({"voice": self.voice} if self.voice else {}),
                **({"temperature": self.temperature} if self.temperature else {})}


@dataclass
class JudgeArguments:
    """The judge's settings on the command line: every `JudgeConfig` field prefixed `judge_` (see `JudgeConfig` for
    each one's meaning, and its defaults, which these repeat: `tests/test_evaluation_arguments.py` checks that the two match
    field for field). `judge_style_analyzers` takes `dimension=checkpoint` pairs for `JudgeConfig.style_analyzers`.
    `to_config()` builds the `JudgeConfig`."""

    _argument_group_name = "the judge (JudgeConfig's fields, prefixed judge_)"  # HfArgumentParser's group title

    judge_mode: str = field(default="multistage", metadata={"help": "judge: multistage, end2end or reward_model"})
    judge_asr_model: str = field(default="openai/whisper-large-v3", metadata={"help": "judge: ASR checkpoint"})
    judge_audio_llm: str = field(default="Qwen/Qwen2-Audio-7B-Instruct", metadata={
        "help": "judge: audio LLM checkpoint"})
    judge_rubric_model: str = field(default="Qwen/Qwen2.5-7B-Instruct", metadata={
        "help": "judge: rubric LLM (or API model name)"})
    judge_rubric_api_base: str | None = field(default=None, metadata={
        "help": "judge: OpenAI-compatible endpoint for the rubric"})
    judge_asr_api_base: str | None = field(default=None, metadata={
        "help": "judge: endpoint serving asr_model (transcriptions)"})
    judge_audio_llm_api_base: str | None = field(default=None, metadata={
        "help": "judge: endpoint serving audio_llm (audio chat)"})
    judge_reward_api_base: str | None = field(default=None, metadata={
        "help": "judge: endpoint serving reward_model (logprobs)"})
    judge_api_key_env: str = field(default="OPENAI_API_KEY", metadata={
        "help": "judge: env var holding the endpoints' key"})
    judge_api_max_retries: int = field(default=3, metadata={"help": "judge: retries of a failed request (backoff)"})
    judge_api_timeout: float = field(default=120.0, metadata={"help": "judge: seconds per request to an endpoint"})
    judge_reward_model: str | None = field(default=None, metadata={"help": "judge: reward_model mode checkpoint"})
    judge_reward_adapter: str | None = field(default=None, metadata={
        "help": "judge: LoRA adapter for the reward model"})
    judge_style_analyzers: list[str] | None = field(default=None, metadata={
        "help": "judge: dimension=checkpoint pairs (e.g. gender=my/analyzer): the style analyzers"})
    judge_torch_dtype: str = field(default="auto", metadata={"help": "judge: dtype of local models"})
    judge_device_map: str | None = field(default=None, metadata={"help": "judge: device map of local models"})
    judge_load_in_4bit: bool = field(default=False, metadata={"help": "judge: 4-bit NF4 LLMs (bitsandbytes)"})
    judge_trust_remote_code: bool = field(default=False, metadata={"help": "judge: allow checkpoint code"})
    judge_batch_size: int = field(default=8, metadata={"help": "judge: clips or prompts per model call"})
    judge_rubric_max_new_tokens: int = field(default=256, metadata={
        "help": "judge: rubric / end2end generation budget"})
    judge_tone_max_new_tokens: int = field(default=64, metadata={"help": "judge: tone description budget"})
    judge_asr_max_new_tokens: int = field(default=128, metadata={"help": "judge: transcript budget"})
    judge_style_max_new_tokens: int = field(default=8, metadata={
        "help": "judge: query-style answer budget (more for reasoners)"})
    judge_max_retries: int = field(default=1, metadata={"help": "judge: stricter retries of an answer without a score"})
    judge_strict: bool = field(default=False, metadata={
        "help": "judge: raise JudgeParseError instead of a missing score"})
    judge_cache_dir: str | None = field(default=None, metadata={"help": "judge: on-disk perception cache"})
    judge_max_seconds: float = field(default=60.0, metadata={"help": "judge: longest accepted clip"})
    judge_min_response_seconds: float = field(default=0.1, metadata={
        "help": "judge: shorter sounding part (or empty/silent) = empty_response, score 1"})
    judge_min_digit_mass: float = field(default=0.5, metadata={
        "help": "judge: reward_model: least probability on the digits 1-5, else missing (low_digit_mass)"})
    judge_reward_prompt_notes: bool = field(default=False, metadata={
        "help": "judge: reward_model: also give the dimension and requirement note"})
    judge_use_response_tone: bool = field(default=True, metadata={
        "help": "judge: multistage: give the response's tone description to the rubric (O2); false = O1"})
    judge_query_labels: str = field(default="given", metadata={
        "help": "judge: multistage: given (use labels) or predicted (O5: always predict the query style)"})

    def to_config(self) -> JudgeConfig:
        """The `JudgeConfig` these arguments describe."""
        kwargs = {f.name[len("judge_"):]: getattr(self, f.name) for f in dataclasses.fields(self)}
        pairs = kwargs.pop("style_analyzers") or []
        analyzers = {}
        for pair in pairs:
            dim, sep, path = pair.partition("=")
            if not sep or not path:
                raise ValueError(f"--judge_style_analyzers takes dimension=checkpoint pairs, got {pair!r}.")
            analyzers[dim] = path
        return JudgeConfig(**kwargs, style_analyzers=analyzers)
