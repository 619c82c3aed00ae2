"""A Qwen2.5-Omni policy for ParaS2SAlign: the thinker writes the reply, the frozen talker speaks it, the judge hears it.

With an Omni checkpoint as its `model`, `ParaS2SGRPOTrainer` loads the whole Omni model once (`OmniPolicy.load`) and
hands TRL its *thinker* as the policy: the thinker hears the spoken prompt (the Qwen2-Audio-style
`input_features` / `feature_attention_mask` plumbing of the trainer), writes the completion GRPO scores and trains
(LoRA on the thinker's language model; the KL reference is the thinker with the adapter disabled). The talker and
token2wav stay frozen beside it: `OmniSpeechReward` speaks each completion with them, in the configured speaker's
voice, and the judge scores that 24 kHz waveform (through the audio door, resampled to 16 kHz). No `[style: ...]` tag
and no renderer: the talker decides how the reply sounds, from the thinker's hidden states.

The speech of a completion is the one `--system omni --adapter <output_dir>` gives in evaluation for it
(`s2s.omni.speak_completion`, seeded by `speech_seed(completion_ids, seed)`, with the same speaker and `generate`
arguments, the thinker in eval mode); the trainer writes those settings to `parass2s_omni_policy.json` beside the
adapter (`OMNI_POLICY_FILE`). The inputs are built without the Omni processor (`models.omni_inputs`), so this runs
on a CPU without torchvision.

This module imports `s2s.omni` (a sibling package of the same layer) inside its functions: the policy is spoken by
the very code that speaks the `omni` system under test, so evaluation hears what the reward heard.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from ..constants import SCORE_MIN
from .reward import ParaS2SReward, completion_text, has_words, prompt_key

OMNI_MODEL_TYPES = ("qwen2_5_omni",)
"""Omni model types a GRPO policy can be (Qwen3-Omni's MoE thinker is not tried here)."""
OMNI_POLICY_FILE = "parass2s_omni_policy.json"
"""The speech settings of an Omni policy, written beside its adapter: what `--system omni` needs to speak as training
did (speaker, system prompt, seed, `generate` arguments)."""


def omni_model_type(model) -> str | None:
    """The Omni model type of `model` (a checkpoint path / Hub id or a loaded model), `None` when it is not an Omni
    model with a talker (any other policy: the Qwen2-Audio path)."""
    if isinstance(model, str):
        try:
            from ..s2s.omni import _read_json

            kind = _read_json(model, "config.json").get("model_type")
        except Exception:  # noqa: BLE001 - not readable here: the ordinary loader reports it
            return None
    else:
        kind = getattr(getattr(model, "config", None), "model_type", None)
        if kind in OMNI_MODEL_TYPES and not hasattr(model, "thinker"):
            return None
    return kind if kind in OMNI_MODEL_TYPES else None


def waveform_sha256(array) -> str:
    """SHA-256 of a waveform's float32 samples: what the tests compare between the reward and `speak_completion`."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


@dataclass
class SpokenReply:
    """One completion spoken by the talker: its waveform, rate and the talker's seed."""

    array: np.ndarray
    sampling_rate: int
    seed: int

    @property
    def duration(self) -> float:
        return self.array.size / float(self.sampling_rate)


class OmniPolicy:
    """The Omni model whose thinker GRPO trains, and how its completions are heard and spoken.

    Args:
        model: a `Qwen2_5OmniForConditionalGeneration` with its talker.
        builder (`OmniAudioInputs`): its input builder (tokenizer + feature extractor).
        speaker (`str`, *optional*): the talker's voice; the model's default when `None`.
        system_prompt (`str`, *optional*, defaults to `QWEN_SYSTEM_PROMPT`): the conversation's system message
            (Qwen2.5-Omni speaks only with its own).
        seed (`int`, *optional*, defaults to `0`): base of every completion's talker seed (`speech_seed`).
        generate_kwargs (`dict`, *optional*): the model's `generate` arguments for the talker and vocoder
            (`talker_*`, `token2wav_*`).
        model_id (`str`, *optional*): the checkpoint, for the saved settings.
    """

    def __init__(self, model, builder, speaker: str | None = None, system_prompt: str | None = None,
                 seed: int = 0, generate_kwargs: dict | None = None, model_id: str | None = None):
        from ..s2s.omni import QWEN_SYSTEM_PROMPT

        if not getattr(model, "has_talker", False):
            raise ValueError("The Omni policy needs its talker to speak (enable_audio_output is off in the checkpoint).")
        self.model = model
        self.builder = builder
        self.speaker = speaker
        self.system_prompt = QWEN_SYSTEM_PROMPT if system_prompt is None else system_prompt
        self.seed = int(seed)
        self.generate_kwargs = dict(generate_kwargs or {})
        self.model_id = model_id or getattr(model.config, "_name_or_path", None)
        speakers = list(getattr(model, "speaker_map", None) or [])
        if speaker is not None and speakers and speaker not in speakers:
            raise ValueError(f"Unknown Omni speaker {speaker!r}; the checkpoint has {speakers}.")

    @classmethod
    def load(cls, model, *, speaker=None, system_prompt=None, seed=0, generate_kwargs=None, model_init_kwargs=None,
             quantization_config=None) -> OmniPolicy:
        """The policy of a checkpoint (path or Hub id) or of a loaded Omni model.

        With `quantization_config` (QLoRA) the thinker's language model is quantised; the audio tower, the LM head,
        the talker and token2wav are kept out (`OMNI_QUANTIZATION_SKIP`)."""
        from ..models.omni_inputs import OmniAudioInputs

        if isinstance(model, str):
            from transformers import Qwen2_5OmniForConditionalGeneration

            kwargs = {k: v for k, v in dict(model_init_kwargs or {}).items() if v is not None}
            if quantization_config is None:  # in full precision the accelerator places the thinker (the talker follows)
                kwargs.pop("device_map", None)
            else:
                from ..models import skip_patterns

                skip = list(getattr(quantization_config, "llm_int8_skip_modules", None) or [])
                quantization_config.llm_int8_skip_modules = skip + [
                    p for p in skip_patterns(OMNI_QUANTIZATION_SKIP) if p not in skip]
                kwargs["quantization_config"] = quantization_config
                kwargs.setdefault("device_map", _kbit_device_map())
            model_id = model
            loaded = Qwen2_5OmniForConditionalGeneration.from_pretrained(model, **kwargs)
        else:
            model_id, loaded = getattr(model.config, "_name_or_path", None), model
        builder = OmniAudioInputs.from_pretrained(model_id, loaded.config.model_type)
        return cls(loaded, builder, speaker=speaker, system_prompt=system_prompt, seed=seed,
                   generate_kwargs=generate_kwargs, model_id=model_id)

    @property
    def thinker(self):
        return self.model.thinker

    def conversation(self) -> list[dict]:
        """The chat of one spoken query: `OmniSystem.conversation()` with this system prompt."""
        from ..judge.prompts import AUDIO_PART
        from ..models.omni_inputs import omni_conversation

        return omni_conversation(self.system_prompt, AUDIO_PART)

    def encode(self, audio: np.ndarray):
        """One spoken prompt's inputs (a batch of one, no padding): what `OmniSystem.inputs` makes of it."""
        return self.builder([audio], self.conversation())

    def eos_token_ids(self) -> set[int]:
        """The thinker's end tokens (`OmniSystem.eos_token_ids` for a Qwen2.5-Omni without `thinker_eos_token_id`)."""
        given = self.generate_kwargs.get("thinker_eos_token_id")
        if given is None:
            given = self.thinker.generation_config.eos_token_id
        if given is None:
            given = self.builder.tokenizer.eos_token_id
        return {int(t) for t in (given if isinstance(given, (list, tuple)) else [given])}

    def speech_kwargs(self) -> dict:
        """The `generate` arguments the talker and vocoder see (the thinker's are ignored when speaking a given
        completion): the speaker, then `generate_kwargs`, as `OmniSystem.generation_kwargs` orders them."""
        kwargs = {"speaker": self.speaker} if self.speaker is not None else {}
        kwargs.update(self.generate_kwargs)
        return kwargs

    def speak(self, audio: np.ndarray, completion_ids, inputs=None) -> SpokenReply:
        """The talker's waveform of one completion of the prompt `audio` (24 kHz), seeded by `speech_seed`; the
        thinker in eval mode for it (no LoRA dropout), its mode restored after."""
        import torch

        from ..models.omni_inputs import unpadded_row
        from ..s2s.omni import OUTPUT_SAMPLING_RATE, speak_completion, speech_seed, until_eos

        ids = until_eos(completion_ids, self.eos_token_ids())
        seed = speech_seed(ids, self.seed)
        inputs = self.encode(audio) if inputs is None else inputs
        device, dtype = self.thinker.device, self.thinker.dtype
        row = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) if torch.is_tensor(v) else v
               for k, v in unpadded_row(inputs, 0).items()}
        thinker, talker = self.thinker, self.model.talker
        modes = (thinker.training, talker.training)
        thinker.eval()
        talker.eval()
        try:
            wav = speak_completion(self.model, row, ids, seed, **self.speech_kwargs())
        finally:
            thinker.train(modes[0])
            talker.train(modes[1])
        return SpokenReply(wav, OUTPUT_SAMPLING_RATE, seed)

    def settings(self, max_new_tokens: int | None = None, temperature: float | None = None) -> dict:
        """What `OMNI_POLICY_FILE` holds: the `omni` system's arguments that speak as training did."""
        return {"system": "omni", "model": self.model_id, "speaker": self.speaker, "system_prompt": self.system_prompt,
                "seed": self.seed, "generate_kwargs": self.generate_kwargs, "max_new_tokens": max_new_tokens,
                "temperature": temperature}

    def write_settings(self, folder: str, **kwargs) -> str:
        """Write `folder/OMNI_POLICY_FILE`: the settings, `build_system("omni", **system_kwargs)`'s arguments, and the
        `parass2s evaluate` command that speaks as training did (where its flags can say it: the command line has no
        seed or system prompt for `omni`, whose defaults, 0 and `QWEN_SYSTEM_PROMPT`, are this policy's defaults)."""
        from ..io import write_json
        from ..s2s.omni import QWEN_SYSTEM_PROMPT

        path = os.path.join(os.fspath(folder), OMNI_POLICY_FILE)
        settings = self.settings(**kwargs)
        settings["system_kwargs"] = {"model": self.model_id, "adapter": os.fspath(folder), "speaker": self.speaker,
                                     "system_prompt": self.system_prompt, "seed": self.seed,
                                     "generate_kwargs": self.generate_kwargs}
        command = (f"parass2s evaluate --system omni --model {self.model_id} --adapter {os.fspath(folder)}"
                   + (f" --voice {self.speaker}" if self.speaker else "")
                   + (f" --system_generate_kwargs '{json.dumps(self.generate_kwargs)}'" if self.generate_kwargs else ""))
        if self.seed != 0 or self.system_prompt != QWEN_SYSTEM_PROMPT:
            command = None  # not expressible with the command's flags: use system_kwargs
        settings["evaluate"] = command
        write_json(path, settings)
        return path


OMNI_QUANTIZATION_SKIP = ("audio_tower", "lm_head", "talker", "token2wav")
"""Modules of an Omni model kept out of 4-bit: the thinker's audio tower and LM head, and the whole speech side (the
talker in the model's dtype, bf16 on GPU; token2wav as transformers keeps it). The vision encoder, never used here, is
quantised with the language model (about 1 GB less)."""


def _kbit_device_map() -> dict:
    import torch

    if torch.cuda.is_available():
        return {"": torch.cuda.current_device()}
    return {"": "cpu"}


class OmniSpeechReward(ParaS2SReward):
    """The reward of an Omni policy: each completion spoken by the policy's own talker, then judged.

    `ParaS2SReward`'s rules and logs, with the talker in place of the renderer: a completion with no words is an empty
    response (score 1, `no_words`); a waveform the judge finds silent or too short is an `empty_response` (score 1);
    a talker error is a missing reward (`None`, counted as `talker_failed`); a judge without a score is missing too.

    Args:
        judge (`ParaS2SJudge`): the judge.
        policy (`OmniPolicy`): the model whose talker speaks.
        **kwargs: `ParaS2SReward`'s keyword arguments (`audio_column`, `reward_field`, `signals`, ...); the renderer
            ones are unused.

    Attributes:
        heard (`dict[int, str]`): for the last call, the SHA-256 (`waveform_sha256`) of each waveform handed to the
            judge, by completion index: what a test compares with `speak_completion`.
        seeds (`dict[int, int]`): the talker seed of each spoken completion of the last call.
    """

    speak_failure = "talker_failed"

    def __init__(self, judge, policy: OmniPolicy, **kwargs):
        kwargs.pop("renderer", None)
        for name in ("renderer_kwargs", "voice_key", "render_workers"):
            kwargs.pop(name, None)
        super().__init__(judge, _NoRenderer(), **kwargs)
        self.policy = policy
        self.heard: dict[int, str] = {}
        self.seeds: dict[int, int] = {}

    def _speak(self, completions, completion_ids, queries, rewards):
        if completion_ids is None:
            raise ValueError("The Omni reward speaks the thinker's token ids: call it with completion_ids (TRL does).")
        replies, words, inputs = {}, {}, {}
        self.heard, self.seeds = {}, {}
        for i, completion in enumerate(completions):
            if rewards[i] is not None or isinstance(queries[i], Exception):
                continue
            text = completion_text(completion)
            if not has_words(text):
                rewards[i] = float(SCORE_MIN)
                self.empty["no_words"] += 1
                continue
            key = prompt_key(queries[i])
            try:
                if key not in inputs:
                    inputs[key] = self.policy.encode(queries[i])
                reply = self.policy.speak(queries[i], completion_ids[i], inputs[key])
            except Exception as e:  # noqa: BLE001 - one completion's failure is a missing reward
                replies[i] = e
                words[i] = text
                continue
            self.seeds[i] = reply.seed
            if reply.array.size == 0:  # a completion of one token: nothing for the talker to read
                rewards[i] = float(SCORE_MIN)
                self.empty["empty_response"] += 1
                continue
            replies[i] = reply
            words[i] = text
        return replies, words

    def _heard(self, index: int, reply) -> None:
        self.heard[index] = waveform_sha256(reply.array)


class _NoRenderer:
    name = "omni-talker"
    parallel_safe = False

    def render(self, *args, **kwargs):
        raise RuntimeError("An Omni policy speaks with its talker, not a renderer.")
