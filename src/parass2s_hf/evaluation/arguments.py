"""Command-line arguments of an evaluation: the system under test and the judge (`HfArgumentParser` dataclasses).

`parass2s evaluate` and `examples/evaluate_s2s.py` parse `(SystemArguments, EvaluationConfig, JudgeArguments)`.
`JudgeArguments` is `JudgeConfig` with every field prefixed `judge_` (`--judge_mode`, `--judge_audio_llm`, ...), built
from it so the two never drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import typing
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
        adapter (`str`, *optional*): `policy`: a PEFT adapter on top of `model` (a GRPO run's output folder).
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
    adapter: str | None = field(default=None, metadata={"help": "policy: a PEFT adapter on top of --model"})
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
            return [ModelCheck("--model", self.model, "omni")]
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
                    **({"speaker": self.voice} if self.voice else {}),
                    **({"generate_kwargs": extra} if extra else {}), **budget, **local}
        if self.system == "policy":
            return {"name": "policy", "model": self.model, "adapter": self.adapter, "renderer": self.tts,
                    "temperature": self.temperature, **budget, **local}
        return {"name": "openai-audio", "model": self.model or "gpt-4o-audio-preview", "api_base": self.api_base,
                "api_key_env": self.api_key_env, **({"voice": self.voice} if self.voice else {}),
                **({"temperature": self.temperature} if self.temperature else {})}


def _judge_arguments_class():
    hints = typing.get_type_hints(JudgeConfig)
    fields = []
    for f in dataclasses.fields(JudgeConfig):
        if f.name == "style_analyzers":  # a dict: given on the command line as dimension=checkpoint pairs
            fields.append(("judge_style_analyzers", list[str] | None,
                           field(default=None, metadata={"help": "dimension=checkpoint, e.g. gender=my/analyzer"})))
            continue
        default = {"default": f.default} if f.default is not dataclasses.MISSING else {"default_factory": f.default_factory}
        fields.append((f"judge_{f.name}", hints[f.name], field(metadata={"help": f"judge: {f.metadata['help']}"},
                                                              **default)))

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

    cls = dataclasses.make_dataclass("JudgeArguments", fields, namespace={
        "to_config": to_config, "_argument_group_name": "the judge (JudgeConfig's fields, prefixed judge_)"})
    cls.__doc__ = ("The judge's settings on the command line: every `JudgeConfig` field prefixed `judge_` (see "
                   "`JudgeConfig` for each one's meaning); `to_config()` builds the `JudgeConfig`.")
    cls.__module__ = __name__
    return cls


JudgeArguments = _judge_arguments_class()
