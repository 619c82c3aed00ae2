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

With `train_talker` (issue 24, option 2) the talker trains too: `add_talker_lora` wraps its decoder in a PEFT LoRA of
its own, `speak` captures what the talker's `generate` got and sampled (`TalkerSample`), and the trainer adds to the
loss, per completion, the clipped policy-gradient term of those codec tokens with the completion's advantage
(`talker_token_logps`: teacher-forced, equal to the sampling-time log-probs), so the reward shapes how a reply sounds,
not only its words. The thinker's states reach the talker as inputs: the talker's term trains the talker's LoRA only.

This module imports `s2s.omni` (a sibling package of the same layer) inside its functions: the policy is spoken by
the very code that speaks the `omni` system under test, so evaluation hears what the reward heard.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
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
        from ..s2s.omni import checkpoint_model_type

        kind = checkpoint_model_type(model)  # None when not readable here: the ordinary loader reports it
    else:
        kind = getattr(getattr(model, "config", None), "model_type", None)
        if kind in OMNI_MODEL_TYPES and not hasattr(model, "thinker"):
            return None
    return kind if kind in OMNI_MODEL_TYPES else None


def waveform_sha256(array) -> str:
    """SHA-256 of a waveform's float32 samples: what the tests compare between the reward and `speak_completion`."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


@dataclass
class TalkerSample:
    """What the talker generated for one completion, and what recomputes its log-probs teacher-forced
    (`talker_token_logps`): the arguments transformers' `Qwen2_5OmniForConditionalGeneration.generate` handed
    `talker.generate` (captured by `OmniPolicy.speak` with `capture_talker` on), and the codec tokens it sampled.

    Attributes:
        inputs_embeds (`torch.Tensor`): `(1, prompt + 2, thinker hidden)`, the prefill as `generate` built it (before
            the talker's forward adds the codec pad/bos embeddings to its last two positions).
        input_text_ids (`torch.Tensor`): `(1, prompt + 2)`, the text ids the talker's rope positions come from.
        thinker_reply_part (`torch.Tensor`): `(1, L, thinker hidden)`, one thinker state per decoding step (the last,
            the text pad embedding, repeats once the reply is read).
        attention_mask (`torch.Tensor` or `None`): `(1, prompt + 2)`, the mask `generate` was given (all ones: it
            drops it before the forward, see `talker_token_logps`).
        audio_feature_lengths (`torch.Tensor` or `None`): the prompt audio's feature lengths (rope positions).
        codes (`torch.Tensor`): the sampled codec ids, up to and including the first end id.
        temperature (`float`): the talker's sampling temperature (the log-probs are of `logits / temperature`).
        old_logps (`torch.Tensor` or `None`): the codes' log-probs when sampled (set by the trainer when the policy
            may have moved between sampling and the loss, as TRL does for the thinker's tokens).
    """

    inputs_embeds: object
    input_text_ids: object
    thinker_reply_part: object
    attention_mask: object
    audio_feature_lengths: object
    use_audio_in_video: bool
    codes: object
    temperature: float
    suppress_tokens: tuple = ()
    old_logps: object = None

    def __len__(self) -> int:
        return int(self.codes.numel())


@dataclass
class SpokenReply:
    """One completion spoken by the talker: its waveform, rate and the talker's seed (and, when the policy captures
    it, what the talker generated: `talker`)."""

    array: np.ndarray
    sampling_rate: int
    seed: int
    talker: TalkerSample | None = None

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
        self.capture_talker = False
        """When on, `speak` also returns what the talker generated (`SpokenReply.talker`): `train_talker`."""
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
        captured = []
        try:
            with _capture_talker(talker, captured) if self.capture_talker else _nothing():
                wav = speak_completion(self.model, row, ids, seed, **self.speech_kwargs())
        finally:
            thinker.train(modes[0])
            talker.train(modes[1])
        sample = _talker_sample(*captured[-1]) if captured else None
        return SpokenReply(wav, OUTPUT_SAMPLING_RATE, seed, sample)

    def settings(self, max_new_tokens: int | None = None, temperature: float | None = None,
                 talker_adapter: str | None = None) -> dict:
        """What `OMNI_POLICY_FILE` holds: the `omni` system's arguments that speak as training did (and, with
        `train_talker`, the talker adapter's folder relative to the thinker adapter's: `TALKER_ADAPTER_DIR`)."""
        return {"system": "omni", "model": self.model_id, "speaker": self.speaker, "system_prompt": self.system_prompt,
                "seed": self.seed, "generate_kwargs": self.generate_kwargs, "max_new_tokens": max_new_tokens,
                "temperature": temperature, "talker_adapter": talker_adapter}

    def write_settings(self, folder: str, **kwargs) -> str:
        """Write `folder/OMNI_POLICY_FILE`: the settings, `build_system("omni", **system_kwargs)`'s arguments, and the
        `parass2s evaluate` command that speaks as training did (where its flags can say it: the command line has no
        seed or system prompt for `omni`, whose defaults, 0 and `QWEN_SYSTEM_PROMPT`, are this policy's defaults)."""
        from ..io import write_json
        from ..s2s.omni import QWEN_SYSTEM_PROMPT

        path = os.path.join(os.fspath(folder), OMNI_POLICY_FILE)
        settings = self.settings(**kwargs)
        # the dtype the reward spoke in: evaluation speaks byte for byte as training only in the same one (a 4-bit
        # thinker has no unquantised twin: its evaluation in this dtype is close, not identical)
        dtype = str(self.model.talker.dtype).replace("torch.", "")
        settings["system_kwargs"] = {"model": self.model_id, "adapter": os.fspath(folder), "speaker": self.speaker,
                                     "system_prompt": self.system_prompt, "seed": self.seed,
                                     "generate_kwargs": self.generate_kwargs, "torch_dtype": dtype}
        command = (f"parass2s evaluate --system omni --model {self.model_id} --adapter {os.fspath(folder)}"
                   f" --system_dtype {dtype}"
                   + (f" --voice {self.speaker}" if self.speaker else "")
                   + (f" --system_generate_kwargs '{json.dumps(self.generate_kwargs)}'" if self.generate_kwargs else ""))
        if self.seed != 0 or self.system_prompt != QWEN_SYSTEM_PROMPT:
            command = None  # not expressible with the command's flags: use system_kwargs
        settings["evaluate"] = command
        write_json(path, settings)
        return path


TALKER_ADAPTER_DIR = "talker_adapter"
"""With `train_talker`, the talker's LoRA is saved in this subfolder of the thinker adapter's folder (a PEFT adapter of
`model.talker.model`); `OmniSystem(adapter=...)` merges it into the talker when it is there."""
TALKER_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The talker's linear layers the talker LoRA adapts (those of its decoder, `model.talker.model`)."""


def add_talker_lora(model, r: int = 16, alpha: int = 32):
    """Wrap an Omni model's talker decoder (`model.talker.model`) in its own PEFT LoRA (no dropout: the talker samples
    and is scored in one mode); returns the LoRA's parameters. The thinker's LoRA (TRL's) is a separate PEFT model, so
    neither adapter sees the other's weights, and the talker's `generate` and forward run through the wrapper."""
    from peft import LoraConfig, get_peft_model

    talker = model.talker
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(TALKER_LORA_TARGETS))
    talker.model = get_peft_model(talker.model, config)
    return [p for p in talker.model.parameters() if p.requires_grad]


def talker_token_logps(talker, sample: TalkerSample):
    """The log-probs of a completion's codec tokens under the talker as it is now, teacher-forced: one forward over
    the prefill and every sampled code but the last, with the inputs, positions and per-step thinker states the
    talker's `generate` used (`Qwen2_5OmniTalkerForConditionalGeneration.forward`): each step after the prefill is
    the previous code's embedding plus that step's `thinker_reply_part` (its last state repeating once it is read).
    transformers 5 drops the all-ones attention mask of one unpadded completion in `generate`, so the talker's forward
    takes plain positions and the prefill as given (its rope index and codec pad/bos additions are skipped): that is
    the forward recomputed here, and `OmniPolicy.speak` refuses to capture a generation whose first forward got a mask
    or positions. Tested equal, to the bit on a CPU, to the log-softmax of the logits the talker sampled from.

    The distribution is `logits / temperature` with the suppressed ids (the codec bos) removed, as TRL scores the
    thinker's tokens (no top-k, top-p or repetition penalty). Returns `(len(sample),)` float32, with gradients through
    the talker's trainable weights when grad is on; the thinker's states are inputs (no gradient to the thinker).
    """
    import torch

    embeds, codes = sample.inputs_embeds, sample.codes
    device = embeds.device
    steps, prefill_length = codes.numel(), embeds.shape[1]
    table = talker.get_input_embeddings()
    reply = sample.thinker_reply_part
    which = torch.arange(steps - 1, device=device).clamp(max=reply.shape[1] - 1)
    decoded = table(codes[:-1].unsqueeze(0)).to(embeds.dtype) + reply[:, which]
    # one unpadded completion: `generate` drops its all-ones mask, so the talker's forward took plain positions and
    # the prefill as given (no codec pad/bos embeddings, no rope index): the same forward over the whole sequence
    out = talker(inputs_embeds=torch.cat([embeds, decoded], dim=1), use_cache=False)
    logits = out.logits[0, prefill_length - 1:prefill_length - 1 + steps].float() / sample.temperature
    if sample.suppress_tokens:
        logits = logits.index_fill(-1, torch.tensor(list(sample.suppress_tokens), device=device), float("-inf"))
    return torch.log_softmax(logits, dim=-1).gather(-1, codes.view(-1, 1)).squeeze(-1)


@contextmanager
def _nothing():
    yield


@contextmanager
def _capture_talker(talker, captured: list):
    """`talker.generate` records its arguments (cloned: its forward adds to `inputs_embeds` in place) and its result
    in `captured` inside the block (an instance attribute shadowing the method, removed after)."""
    import torch

    original = talker.generate

    def generate(*args, **kwargs):
        kept = {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in kwargs.items()}
        prefill = []

        def first_forward(module, args_, kwargs_):
            if not prefill:
                prefill.append({k: kwargs_.get(k) for k in ("attention_mask", "position_ids")})

        hook = talker.register_forward_pre_hook(first_forward, with_kwargs=True)
        try:
            result = original(*args, **kwargs)
        finally:
            hook.remove()
        # `generate` drops an all-ones mask (one unpadded completion) before the forward, which then takes plain
        # positions and no codec pad/bos embeddings: `talker_token_logps` recomputes that forward, and only that one
        if not prefill or any(prefill[0][k] is not None for k in ("attention_mask", "position_ids")):
            raise RuntimeError("The talker's first forward got an attention mask or positions (a padded batch, or "
                               "another transformers version): train_talker recomputes only the unmasked forward.")
        captured.append((kept, result))
        return result

    talker.generate = generate
    try:
        yield
    finally:
        del talker.generate


def _talker_sample(kwargs: dict, result) -> TalkerSample:
    """A `TalkerSample` of one captured `talker.generate` call (a batch of one). Tensors captured under inference
    mode are cloned here, outside it, so that autograd can use them."""
    import torch

    def plain(value):
        return value.clone() if torch.is_tensor(value) else value

    sequences = result if torch.is_tensor(result) else result.sequences
    codes = plain(sequences[0, kwargs["input_ids"].shape[1]:])
    eos = torch.as_tensor(kwargs.get("eos_token_id") or [], device=codes.device).flatten()
    if eos.numel():
        ends = torch.nonzero((codes.unsqueeze(-1) == eos).any(-1)).flatten()
        if ends.numel():
            codes = codes[:int(ends[0]) + 1]
    temperature = float(kwargs.get("temperature") or 1.0) if kwargs.get("do_sample", True) else 1.0
    return TalkerSample(inputs_embeds=plain(kwargs["inputs_embeds"]), input_text_ids=plain(kwargs["input_text_ids"]),
                        thinker_reply_part=plain(kwargs["thinker_reply_part"]),
                        attention_mask=plain(kwargs.get("attention_mask")),
                        audio_feature_lengths=plain(kwargs.get("audio_feature_lengths")),
                        use_audio_in_video=bool(kwargs.get("use_audio_in_video", False)), codes=codes,
                        temperature=temperature, suppress_tokens=tuple(int(t) for t in kwargs.get("suppress_tokens") or ()))


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
        talker_samples (`dict[int, TalkerSample]`): with the policy's `capture_talker` on (`train_talker`), what the
            talker generated for each completion it spoke in the last call, by completion index.
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
        self.talker_samples: dict[int, TalkerSample] = {}

    def _speak(self, completions, completion_ids, queries, rewards):
        if completion_ids is None:
            raise ValueError("The Omni reward speaks the thinker's token ids: call it with completion_ids (TRL does).")
        replies, words, inputs = {}, {}, {}
        self.heard, self.seeds, self.talker_samples = {}, {}, {}
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
            if reply.talker is not None and len(reply.talker):
                self.talker_samples[i] = reply.talker
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
