"""transformers speech-output models as systems under test: Qwen2.5-Omni and Qwen3-Omni (thinker -> talker -> vocoder).

The spoken query goes in as audio with the model's system prompt; the thinker's text and the talker's 24 kHz
waveform come out. The inputs are built without the Omni processor (`models.omni_inputs`: the processor needs
torchvision for its video part, which does not install beside CPU-only torch), so the system runs on a CPU too.

A response is made in two steps, and the second is public: the thinker writes its completion (`complete`, a batch
at a time), then `speak` voices that completion with the talker and the vocoder in the configured speaker. `speak`
runs the thinker once over prompt + completion (teacher forcing) and hands its hidden states to the model's own
`generate` in place of the thinker's decoding, so the talker and vocoder code is transformers' own. Each completion is
spoken alone (a batch of one, without padding), seeded by `speech_seed(completion_ids, seed)`: the same completion of
the same query gives the same waveform, byte for byte, whatever batch it came in, whether evaluation sampled it or a
GRPO reward did (on the same device and dtype; GPU kernels are assumed deterministic in inference). For a greedy
thinker and one query, that is also the waveform of the model's own `generate` (tested on the tiny model on a CPU; the
teacher-forced states equal the decoding steps' up to floating-point rounding, which on a real model in bfloat16 can
turn a talker sample).

With `adapter`, a PEFT LoRA adapter trained on the thinker (saved from a LoRA on `model.thinker`, or on the whole
model) is loaded onto the thinker and kept unmerged, its LoRA layers beside the base weights as GRPO training held
them (`load_thinker_adapter`), so `generate`, `complete` and `speak` all run the trained policy, and `speak` gives the
GRPO reward's waveform for a completion byte for byte (same device and dtype). `merge_adapter=True` merges it into the
weights instead: equal up to float rounding only.

Tested offline with a tiny random Qwen2.5-Omni (tests/test_omni_policy_inputs.py). Qwen3-Omni goes through the same
code (its `generate` reads the thinker's per-step hidden states the same way, at its `accept_hidden_layer`), but no
Qwen3-Omni model runs in the tests: only its inputs are compared with its processor's.

```python
>>> system = build_system("omni", model="Qwen/Qwen2.5-Omni-7B", speaker="Chelsie")   # a GPU machine
>>> [response] = system.respond([row])
>>> response.sampling_rate, response.text
(24000, "Oh no, that sounds really frustrating...")
>>> inputs = system.inputs([row])
>>> [again] = system.speak(inputs, [response.info["completion_ids"]])   # the same waveform
```
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import numbers
import os
from collections.abc import Sequence

import numpy as np

from ..audio import load_audio
from ..io import files_fingerprint
from ..judge.prompts import AUDIO_PART
from ..models.generation import expected_generation_notes
from ..models.omni_inputs import OmniAudioInputs, omni_conversation, unpadded_row
from .base import S2SResponse, register_system
from .cascade import row_seed

QWEN_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory and "
    "visual inputs, as well as generating text and speech."
)
"""The system prompt Qwen2.5-Omni needs to speak (with another one its talker output is not supported)."""
OUTPUT_SAMPLING_RATE = 24_000
"""Rate of the Qwen Omni vocoders' waveforms."""
MODEL_CLASSES = {
    "qwen2_5_omni": "Qwen2_5OmniForConditionalGeneration",
    "qwen3_omni_moe": "Qwen3OmniMoeForConditionalGeneration",
}
"""Supported checkpoints, by `config.model_type`: the model class in transformers."""
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
"""Where a PEFT adapter keeps its weights (the first found is hashed and loaded)."""
THINKER_FORWARD_KEYS = ("input_features", "feature_attention_mask", "audio_feature_lengths", "use_audio_in_video")
"""The arguments `generate` gives the thinker that its forward pass over prompt + completion needs too (the rest are
decoding settings)."""


def checkpoint_file(model_id: str, filename: str) -> str | None:
    """The local path of a checkpoint's file: from its folder, or from the Hub (its cache offline); `None` when the
    checkpoint has no such file."""
    if os.path.isdir(model_id):
        path = os.path.join(model_id, filename)
        return path if os.path.isfile(path) else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return hf_hub_download(model_id, filename)
    except EntryNotFoundError:
        return None


def read_checkpoint_json(model_id: str, filename: str) -> dict:
    import json

    path = checkpoint_file(model_id, filename)
    if path is None:
        raise ValueError(f"model {model_id!r} has no {filename}: not a transformers checkpoint.")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def checkpoint_model_type(checkpoint: str) -> str | None:
    """The `model_type` of a checkpoint's config.json (a folder, or a Hub id through its cache); `None` when it has
    none or cannot be read (offline and not cached, not a repository): the SFT warm-up and the GRPO trainer tell an
    Omni policy apart with it."""
    try:
        kind = read_checkpoint_json(checkpoint, "config.json").get("model_type")
    except Exception:  # noqa: BLE001 - not readable here: not an Omni we can tell
        return None
    return kind if isinstance(kind, str) else None


def speech_seed(completion_ids: Sequence[int], seed: int = 0) -> int:
    """The talker's seed for a completion: a 31-bit hash of the base `seed` and the completion's token ids, so that
    the same completion is spoken the same way by evaluation and by a reward, with no seed passed between them."""
    return row_seed(seed, 0, "speech:" + ",".join(str(int(t)) for t in completion_ids))


def until_eos(ids: Sequence[int], eos_token_ids) -> list[int]:
    """A completion's token ids up to and including its first end token (what follows it in a batch is padding)."""
    ids = [int(t) for t in ids]
    for i, token in enumerate(ids):
        if token in eos_token_ids:
            return ids[:i + 1]
    return ids


def teacher_forced_thinker_output(thinker, input_ids, completion, thinker_kwargs: dict):
    """What `thinker.generate(..., output_hidden_states=True, return_dict_in_generate=True)` returns when it
    generates `completion`, from one forward pass over prompt + completion instead of sampling.

    `generate` keeps, for each decoding step, the hidden states of every layer for the tokens that step read: the
    prompt at step 0, then the generated token `j - 1` at step `j`; the last generated token is never read (no step
    follows it). The forward pass reads the prompt and every completion token but the last, and its hidden states are
    cut into the same steps; they equal the decoding steps' up to floating-point rounding.

    Args:
        thinker: the model's thinker (or a PEFT model wrapping it).
        input_ids (`torch.Tensor`): the prompt, `(1, prompt_length)`.
        completion (`torch.Tensor`): the completion's token ids, `(1, n)` with `n >= 2`.
        thinker_kwargs (`dict`): the other arguments `generate` passes the thinker (`attention_mask`, the audio
            features, ...; the decoding settings are ignored).

    Returns:
        `GenerateDecoderOnlyOutput`: `sequences` (prompt + completion) and `hidden_states` (one tuple of layers per
        step).
    """
    import torch
    from transformers.generation.utils import GenerateDecoderOnlyOutput

    prompt_length, steps = input_ids.shape[1], completion.shape[1]
    read = torch.cat([input_ids, completion[:, :-1]], dim=1)
    mask = thinker_kwargs.get("attention_mask")
    mask = torch.ones_like(input_ids) if mask is None else mask
    mask = torch.cat([mask, mask.new_ones((mask.shape[0], steps - 1))], dim=1)
    forward = {k: thinker_kwargs[k] for k in THINKER_FORWARD_KEYS if thinker_kwargs.get(k) is not None}
    out = thinker(input_ids=read, attention_mask=mask, output_hidden_states=True, use_cache=False, **forward)
    layers = out.hidden_states
    hidden = (tuple(h[:, :prompt_length] for h in layers),) + tuple(
        tuple(h[:, prompt_length + j - 1:prompt_length + j] for h in layers) for j in range(1, steps))
    return GenerateDecoderOnlyOutput(sequences=torch.cat([input_ids, completion], dim=1), hidden_states=hidden)


@contextlib.contextmanager
def _thinker_generates(thinker, result):
    """`thinker.generate` answers with `result(input_ids=..., **kwargs)` inside the block (an instance attribute
    shadowing the method, removed after)."""
    thinker.generate = result
    try:
        yield
    finally:
        del thinker.generate


def speak_completion(model, inputs, completion_ids: Sequence[int], seed: int, **generate_kwargs) -> np.ndarray:
    """The waveform an Omni model's talker and vocoder make of a given thinker completion.

    The model's own `generate` runs with the thinker's sampling replaced by a forward pass over the prompt and the
    completion (`teacher_forced_thinker_output`): the talker gets the thinker's hidden states of exactly these tokens,
    and everything after the thinker is transformers' code. For use outside `OmniSystem` (a GRPO reward speaking the
    completions it sampled with the policy's own thinker, LoRA-wrapped or merged).

    Args:
        model: a `Qwen2_5OmniForConditionalGeneration` or `Qwen3OmniMoeForConditionalGeneration` with its talker.
        inputs (`dict`): ONE query's inputs without padding (`models.omni_inputs.unpadded_row`), on the model's
            device.
        completion_ids (`Sequence[int]`): the thinker's completion, ending with its end token unless it was cut by the
            token budget.
        seed (`int`): seeds torch's RNG just before (the talker samples, the vocoder starts from noise).
        **generate_kwargs: the model's `generate` arguments (`speaker`, `talker_*`, `token2wav_*`); the thinker's
            decoding settings are ignored. The thinker runs as it is: put a trained one in eval mode first (LoRA
            dropout would otherwise change its states).

    Returns:
        `np.ndarray`: the float32 waveform at `OUTPUT_SAMPLING_RATE`; empty for a completion of fewer than two tokens
        (the talker reads every token but the last, so it would have no text).
    """
    import torch

    ids = [int(t) for t in completion_ids]
    if len(ids) < 2:
        return np.zeros(0, np.float32)
    if inputs["input_ids"].shape[0] != 1:
        raise ValueError(f"speak_completion speaks one query at a time, got a batch of {inputs['input_ids'].shape[0]}.")
    completion = torch.tensor([ids], dtype=inputs["input_ids"].dtype, device=inputs["input_ids"].device)
    thinker = model.thinker

    def thinker_result(input_ids=None, **thinker_kwargs):
        return teacher_forced_thinker_output(thinker, input_ids, completion, thinker_kwargs)

    kwargs = {k: v for k, v in generate_kwargs.items() if k != "generation_mode"}
    with _thinker_generates(thinker, thinker_result), torch.inference_mode(), expected_generation_notes():
        torch.manual_seed(seed)
        _, wav = model.generate(**inputs, **kwargs)
    if isinstance(wav, (list, tuple)):
        wav = wav[0]
    return wav.detach().float().cpu().numpy().reshape(-1)


def speak_completions(model, inputs, completions: Sequence[Sequence[int]], seeds: Sequence[int],
                      **generate_kwargs) -> list[np.ndarray]:
    """The waveforms of several completions (a GRPO group, or one per query): each exactly `speak_completion`'s.

    Only what is exact is shared, and nothing numeric is: each completion's thinker pass, talker sampling and vocoder
    run alone, in a batch of one, as `speak_completion` runs them. Running them in a batch gives other bits (tested on
    the tiny Omni on a CPU: the thinker's forward over a padded batch of eight differs from the same row alone by up to
    8e-7, its audio tower already by 7e-8, as matrix kernels change with the batch's shape, and more so on a GPU in
    bfloat16); through the talker's sampling such a difference can turn a codec token, and the vocoder, fed only the
    codec tokens, would then speak another waveform. Batched sampling also shares one random stream where each
    completion has its own seed (`speech_seed`), and transformers' vocoder decodes a batch one sample at a time
    anyway. So this is the call a reward makes for all its completions at once (one signature for a future batched
    path that keeps this contract), and its result is `[speak_completion(model, row, ids, seed) ...]` byte for byte.

    Args:
        model: the Omni model with its talker (its thinker as `speak_completion` takes it).
        inputs (`dict` or `Sequence[dict]`): ONE query's unpadded inputs (`unpadded_row`) on the model's device, for
            every completion (a GRPO group), or one such dict per completion.
        completions (`Sequence[Sequence[int]]`): the thinker's completions (token ids, ending with the end token).
        seeds (`Sequence[int]`): the talker seed of each completion (`speech_seed(ids, seed)` as the reward and
            evaluation seed them).
        **generate_kwargs: the model's `generate` arguments (`speaker`, `talker_*`, `token2wav_*`).

    Returns:
        `list[np.ndarray]`: one float32 24 kHz waveform per completion, in order (empty for fewer than two tokens).
    """
    completions = list(completions)
    seeds = [int(s) for s in seeds]
    rows = [inputs] * len(completions) if isinstance(inputs, dict) or hasattr(inputs, "keys") else list(inputs)
    if len(rows) != len(completions) or len(seeds) != len(completions):
        raise ValueError(f"{len(completions)} completions, {len(rows)} inputs and {len(seeds)} seeds; give one seed per "
                         f"completion, and one query's inputs or one per completion.")
    return [speak_completion(model, row, ids, seed, **generate_kwargs)
            for row, ids, seed in zip(rows, completions, seeds)]


def adapter_files(adapter: str) -> tuple[str, str]:
    """The local paths of a PEFT adapter's `adapter_config.json` and weights (a folder, or a Hub repository through
    its cache).

    Raises:
        `ValueError`: either is missing (named).
    """
    config = checkpoint_file(adapter, "adapter_config.json")
    if config is None:
        raise ValueError(f"adapter {adapter!r} has no adapter_config.json: not a PEFT adapter (pass the folder a "
                         f"trainer saved the adapter to).")
    for name in ADAPTER_FILES:
        weights = checkpoint_file(adapter, name)
        if weights is not None:
            return config, weights
    raise ValueError(f"adapter {adapter!r} has adapter_config.json but no weights ({' or '.join(ADAPTER_FILES)}).")


def _adapter_keys(weights: str) -> set[str]:
    if weights.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(weights, framework="pt") as f:
            return set(f.keys())
    import torch

    return set(torch.load(weights, map_location="cpu", weights_only=True))


def load_thinker_adapter(model, adapter: str, merge: bool = False):
    """Load a PEFT adapter onto an Omni model's thinker; returns the model, its thinker running the adapter.

    The adapter is the one a trainer saves from a LoRA on `model.thinker` (its keys start `base_model.model.model.`);
    one saved from a LoRA on the whole Omni model (keys `base_model.model.thinker.`) is applied to the whole model.

    By default (`merge=False`) the LoRA layers are injected into the thinker in place and kept apart from the base
    weights, as GRPO training holds them: `model.thinker` stays the thinker class itself (its linear layers become
    PEFT's LoRA layers, each `base(x) + B(A(x)) * scaling`), so the model's `generate`, `complete` and
    `speak_completion` run exactly the computation the reward ran, and a completion is spoken byte for byte as the
    reward spoke it (same device, dtype and seed). With `merge=True` the adapter is merged into the weights
    (`merge_and_unload`): a plain thinker, a little faster, equal to the adapter's computation up to float rounding
    only (the waveform then matches the reward's to about 1e-3, not byte for byte).

    Put the model in eval mode before use (LoRA dropout).

    Raises:
        `ImportError`: peft is missing.
        `ValueError`: the adapter's weights do not all land on the model (a LoRA for another model), or the reverse.
    """
    try:
        from peft import PeftModel
        from peft.utils import get_peft_model_state_dict
    except ImportError as e:
        raise ImportError("An omni --adapter needs peft: pip install 'parass2s_hf[train]'") from e
    _, weights = adapter_files(adapter)
    saved = _adapter_keys(weights)
    whole = any(k.startswith("base_model.model.thinker.") for k in saved)
    wrapped = PeftModel.from_pretrained(model if whole else model.thinker, adapter, is_trainable=False)
    expected = set(get_peft_model_state_dict(wrapped))
    if saved != expected:
        unused, missing = sorted(saved - expected), sorted(expected - saved)
        raise ValueError(f"adapter {adapter!r} does not fit the {'model' if whole else 'thinker'} of this checkpoint: "
                         f"{len(unused)} saved weights have no place (e.g. {unused[:2]}), {len(missing)} adapter "
                         f"weights were not saved (e.g. {missing[:2]}).")
    if not merge:
        # PEFT injected the LoRA layers into the modules themselves: the unwrapped model runs them.
        return model
    merged = wrapped.merge_and_unload()
    if whole:
        return merged
    model.thinker = merged
    return model


def merge_thinker_adapter(model, adapter: str):
    """`load_thinker_adapter(model, adapter, merge=True)`: the adapter merged into the thinker's weights, the thinker
    a plain module again (what an SFT warm-up writes as a merged checkpoint)."""
    return load_thinker_adapter(model, adapter, merge=True)


def load_talker_adapter(model, folder: str, merge: bool = True):
    """Load a talker LoRA (a PEFT adapter of `model.talker.model`: what GRPO with `train_talker` saves in the
    `talker_adapter/` subfolder of the thinker's adapter) onto an Omni model's talker, merged into its weights unless
    `merge=False` (then the talker's decoder stays PEFT-wrapped); returns the model.

    Raises:
        `ImportError`: peft is missing.
        `ValueError`: the adapter's weights do not all land on the talker, or the reverse.
    """
    try:
        from peft import PeftModel
        from peft.utils import get_peft_model_state_dict
    except ImportError as e:
        raise ImportError("An omni talker adapter needs peft: pip install 'parass2s_hf[train]'") from e
    _, weights = adapter_files(folder)
    wrapped = PeftModel.from_pretrained(model.talker.model, folder, is_trainable=False)
    saved, expected = _adapter_keys(weights), set(get_peft_model_state_dict(wrapped))
    if saved != expected:
        raise ValueError(f"talker adapter {folder!r} does not fit the talker of this checkpoint: "
                         f"{len(saved - expected)} saved weights have no place, {len(expected - saved)} adapter "
                         f"weights were not saved.")
    model.talker.model = wrapped.merge_and_unload() if merge else wrapped
    return model


@register_system("omni")
class OmniSystem:
    """A transformers model that listens and speaks: Qwen2.5-Omni or Qwen3-Omni, optionally with a trained thinker.

    Args:
        model (`str`): checkpoint (Hub id or path) of model type `qwen2_5_omni` or `qwen3_omni_moe`.
        adapter (`str`, *optional*): a PEFT adapter (folder or Hub id) trained on the thinker (the GRPO policy),
            loaded onto the thinker on load (`load_thinker_adapter`). `config()` holds its path, `adapter_sha256`, a
            SHA-256 of its `adapter_config.json` and weights (16 hex digits), so a run's fingerprint follows the
            weights, not just the folder's name, and `adapter_merged`.
        merge_adapter (`bool`, *optional*, defaults to `False`): merge the adapter into the thinker's weights
            (`merge_and_unload`) instead of running its LoRA layers unmerged. Unmerged, the thinker computes exactly
            what it computed in GRPO training, and `speak` gives the reward's waveform byte for byte; merged, it
            agrees up to float rounding (about 1e-3 on the waveform), a little faster.
        speaker (`str`, *optional*): the talker's voice (`"Chelsie"` / `"Ethan"` for Qwen2.5-Omni, `"Ethan"`,
            `"Chelsie"`, `"Aiden"` for Qwen3-Omni); the model's default when `None`.
        system_prompt (`str`, *optional*, defaults to `QWEN_SYSTEM_PROMPT`): the system message; Qwen2.5-Omni
            speaks only with this one. `None` sends no system message.
        max_new_tokens (`int`, *optional*, defaults to `256`): the thinker's (text) token budget.
        temperature (`float`, *optional*, defaults to `0.0`): the thinker's temperature; `0` is greedy. The talker
            samples by the model's own defaults either way, seeded per completion (`speech_seed`).
        seed (`int`, *optional*, defaults to `0`): the thinker's sampling is seeded from it, the sample index and the
            batch's row ids; the talker's from it and the completion.
        batch_size (`int`, *optional*, defaults to `1`): queries per thinker `generate` call (each completion is
            then spoken alone).
        torch_dtype (`str`, *optional*, defaults to `"auto"`): dtype of the model (the vocoder stays float32).
        device_map (`str`, *optional*, defaults to `"auto"`): passed to `from_pretrained`; CPU when `None`.
        generate_kwargs (`dict`, *optional*): more arguments of the model's `generate` (e.g.
            `{"talker_max_new_tokens": 2048}`); they take precedence.

    Raises:
        `ValueError`: a checkpoint of another model type, one without a talker, an unknown speaker, a bad setting, an
            adapter folder without an adapter.
        `ImportError`: an adapter without peft installed.
    """

    name = "omni"

    def __init__(self, model: str, speaker: str | None = None, system_prompt: str | None = QWEN_SYSTEM_PROMPT,
                 max_new_tokens: int = 256, temperature: float = 0.0, seed: int = 0, batch_size: int = 1,
                 torch_dtype: str = "auto", device_map: str | None = "auto", generate_kwargs: dict | None = None,
                 adapter: str | None = None, merge_adapter: bool = False):
        if temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or more, got {temperature!r}.")
        for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}.")
        # Everything checkable is checked from the checkpoint's small files now; the weights load on first use, so a
        # rerun of a finished run (nothing to generate) never loads the model.
        config = read_checkpoint_json(model, "config.json")
        self.model_type = config.get("model_type")
        if self.model_type not in MODEL_CLASSES:
            raise ValueError(f"model {model!r} is a {self.model_type!r} checkpoint; the omni system supports the "
                             f"model types {sorted(MODEL_CLASSES)} (e.g. Qwen/Qwen2.5-Omni-7B, "
                             f"Qwen/Qwen3-Omni-30B-A3B-Instruct).")
        if config.get("enable_audio_output") is False:
            raise ValueError(f"model {model!r} has enable_audio_output off in its config.json, so it loads without "
                             f"its talker and cannot speak; use a checkpoint with audio output.")
        self.model_id = model
        self.adapter = adapter
        self.merge_adapter = bool(merge_adapter)
        self.adapter_sha256 = None
        if adapter:
            if importlib.util.find_spec("peft") is None:
                raise ImportError("An omni --adapter needs peft: pip install 'parass2s_hf[train]'")
            files = adapter_files(adapter)
            talker = os.path.join(adapter, "talker_adapter")  # GRPO with train_talker: part of what speaks
            if os.path.isdir(talker):
                files = (*files, *adapter_files(talker))
            self.adapter_sha256 = files_fingerprint(files, root=os.path.dirname(files[1]))
        self.speaker = speaker
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.seed = seed
        self.batch_size = batch_size
        self.torch_dtype = torch_dtype
        self.device_map = device_map
        self.generate_kwargs = dict(generate_kwargs or {})
        self._model_cls = MODEL_CLASSES[self.model_type]
        self._config = config
        self._model = self._builder = None
        if speaker is not None:
            self._check_speaker(self.speakers())

    def _check_speaker(self, speakers: list[str]) -> None:
        if self.speaker is not None and speakers and self.speaker not in speakers and \
                self.speaker.lower() not in speakers:
            raise ValueError(f"Unknown speaker {self.speaker!r} for {self.model_id!r}; expected one of {speakers}.")

    @property
    def model(self):
        """The model, loaded on first use (its talker checked, the adapter loaded onto its thinker), in eval mode."""
        if self._model is None:
            from ..models import LoadSettings, load_pretrained

            model = load_pretrained(self._model_cls, self.model_id,
                                    LoadSettings(torch_dtype=self.torch_dtype, device_map=self.device_map))
            if not getattr(model, "has_talker", False):
                raise ValueError(f"model {self.model_id!r} was loaded without its talker (enable_audio_output is "
                                 f"off), so it cannot speak; use a checkpoint with audio output.")
            if self.adapter:
                model = load_thinker_adapter(model, self.adapter, merge=self.merge_adapter).eval()
                talker = os.path.join(self.adapter, "talker_adapter")  # GRPO with train_talker saves one there
                if os.path.isfile(os.path.join(talker, "adapter_config.json")):
                    model = load_talker_adapter(model, talker, merge=self.merge_adapter).eval()
            self._model = model
        return self._model

    @property
    def input_builder(self) -> OmniAudioInputs:
        """Builds the model inputs from the tokenizer and the feature extractor (no processor, no torchvision)."""
        if self._builder is None:
            self._builder = OmniAudioInputs.from_pretrained(self.model_id, self.model_type)
        return self._builder

    @property
    def tokenizer(self):
        """The checkpoint's tokenizer, loaded on first use."""
        return self.input_builder.tokenizer

    def speakers(self) -> list[str]:
        """The voices the checkpoint ships (Qwen2.5-Omni's `spk_dict.pt`, Qwen3-Omni's talker config), read without
        loading the model."""
        if self._model is not None and getattr(self._model, "speaker_map", None):
            return list(self._model.speaker_map)
        found = (self._config.get("talker_config") or {}).get("speaker_id")
        if found:
            return list(found)
        path = checkpoint_file(self.model_id, "spk_dict.pt")
        if path is None:
            return []
        import torch

        return list(torch.load(path, weights_only=True))

    def config(self) -> dict:
        adapter = {"adapter": self.adapter, "adapter_sha256": self.adapter_sha256,
                   "adapter_merged": self.merge_adapter} if self.adapter else {}
        # "speech": how the talker is driven and seeded (each completion alone, teacher-forced thinker states, seeded
        # by speech_seed); runs made before it spoke differently, so their responses are not reused.
        return {"model": self.model_id, "model_type": self.model_type, **adapter, "speaker": self.speaker,
                "system_prompt": self.system_prompt, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "seed": self.seed, "batch_size": self.batch_size,
                "torch_dtype": self.torch_dtype, "generate_kwargs": self.generate_kwargs,
                "speech": "per_completion"}

    def conversation(self) -> list[dict]:
        """The chat for one spoken query (the audio itself goes to the feature extractor)."""
        return omni_conversation(self.system_prompt, AUDIO_PART)

    def inputs(self, rows: Sequence[dict]):
        """The model inputs of rows' spoken queries (`input_ids` left-padded, `attention_mask`, `input_features`,
        `feature_attention_mask`), the tensors the Omni processor would make."""
        audios = [load_audio(row["audio"], name=str(row["id"])).array for row in rows]
        return self.input_builder(audios, self.conversation())

    def generation_kwargs(self) -> dict:
        """The model's `generate` arguments of this system: the thinker's budget and sampling, the speaker, and
        `generate_kwargs` over them."""
        kwargs = {"thinker_max_new_tokens": self.max_new_tokens, "thinker_do_sample": self.temperature > 0}
        if self.temperature > 0:
            kwargs["thinker_temperature"] = self.temperature
        if self.speaker is not None:
            kwargs["speaker"] = self.speaker
        kwargs.update(self.generate_kwargs)
        return kwargs

    def eos_token_ids(self) -> set[int]:
        """The thinker's end tokens as the model's `generate` uses them: `thinker_eos_token_id` of `generate_kwargs`,
        else `generate`'s own default for it (Qwen3-Omni has one), else the thinker's generation config."""
        given = self.generate_kwargs.get("thinker_eos_token_id")
        if given is None:
            param = inspect.signature(type(self.model).generate).parameters.get("thinker_eos_token_id")
            given = None if param is None or param.default is inspect.Parameter.empty else param.default
        if given is None:
            given = self.model.thinker.generation_config.eos_token_id
        if given is None:
            given = self.tokenizer.eos_token_id
        return {int(t) for t in (given if isinstance(given, (list, tuple)) else [given])}

    def _to_model(self, inputs) -> dict:
        import torch

        device, dtype = self.model.device, self.model.thinker.dtype
        return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) if torch.is_tensor(v) else v
                for k, v in dict(inputs).items()}

    def complete(self, inputs, seed: int | None = None) -> list[list[int]]:
        """The thinker's completions of a batch of inputs: each row's generated token ids, up to its end token.

        Args:
            inputs (`dict`): as `inputs` makes them.
            seed (`int`, *optional*): seeds torch's RNG first (matters when the thinker samples).
        """
        import torch

        inputs = self._to_model(inputs)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode(), expected_generation_notes():
            sequences = self.model.generate(**inputs, **self.generation_kwargs(), generation_mode="text")
        if not torch.is_tensor(sequences):
            sequences = sequences.sequences
        eos = self.eos_token_ids()
        return [until_eos(row, eos) for row in sequences[:, inputs["input_ids"].shape[1]:].tolist()]

    def completion_ids(self, completion) -> list[int]:
        """Token ids of a completion given as ids (cut after the first end token) or as text (tokenized, the end
        token added: the ids the thinker would have written, if its text tokenizes back the same way)."""
        eos = self.eos_token_ids()
        if isinstance(completion, str):
            end = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id in eos else min(eos)
            return self.tokenizer.encode(completion, add_special_tokens=False) + [end]
        if hasattr(completion, "tolist"):
            completion = completion.tolist()
        return until_eos(completion, eos)

    def speak(self, inputs, completions: Sequence, seed: int | Sequence[int] | None = None) -> list[S2SResponse]:
        """Speak given thinker completions in the configured speaker, each alone and seeded.

        For a completion it gave, this is `respond`'s waveform, byte for byte; a GRPO reward speaking the completions
        it sampled gets the waveforms evaluation would.

        Args:
            inputs (`dict`): the queries' inputs, as `inputs` makes them (one row per completion; padding is removed).
            completions (`Sequence`): per row, the completion's token ids (a list or 1-D tensor; cut after the first
                end token) or its text (tokenized, the end token added).
            seed (`int` or `Sequence[int]`, *optional*): the talker's seed, for every row or per row; by default
                `speech_seed(ids, self.seed)`, the seed `respond` uses.

        Returns:
            `list[S2SResponse]`: 24 kHz audio (empty for a completion of fewer than two tokens), the completion's text,
            and in `info` the speaker, the completion's token ids and the seed.
        """
        rows = inputs["input_ids"].shape[0]
        if len(completions) != rows:
            raise ValueError(f"{len(completions)} completions for {rows} queries; give one per query.")
        one_seed = isinstance(seed, numbers.Integral)
        if seed is not None and not one_seed and len(seed) != rows:
            raise ValueError(f"{len(seed)} seeds for {rows} completions; give one, or one per completion.")
        all_ids = [self.completion_ids(completion) for completion in completions]
        seeds = [int(speech_seed(ids, self.seed) if seed is None else seed if one_seed else seed[i])
                 for i, ids in enumerate(all_ids)]
        rows = [self._to_model(unpadded_row(inputs, i)) for i in range(rows)]
        audios = speak_completions(self.model, rows, all_ids, seeds, **self.generation_kwargs())
        return [S2SResponse(audio, OUTPUT_SAMPLING_RATE, text=self.tokenizer.decode(ids, skip_special_tokens=True).strip(),
                            info={"speaker": self.speaker, "completion_ids": ids, "speech_seed": talker_seed})
                for audio, ids, talker_seed in zip(audios, all_ids, seeds)]

    def generate_from_inputs(self, inputs, seed: int | None = None) -> list[S2SResponse]:
        """The spoken replies of a batch of model inputs: the thinker's completions (`complete`, seeded by `seed`),
        each spoken by `speak` with its `speech_seed`.

        Args:
            inputs (`dict` or `BatchFeature`): `input_ids` (left-padded) and `attention_mask`, plus the audio's
                `input_features` and `feature_attention_mask`, as `inputs` (or the processor) makes them.
            seed (`int`, *optional*): seeds torch's RNG before the thinker (matters when it samples).

        Returns:
            `list[S2SResponse]`: one per input row, 24 kHz audio and the thinker's text.
        """
        return self.speak(inputs, self.complete(inputs, seed=seed))

    def respond(self, rows: Sequence[dict], sample_index: int = 0) -> list[S2SResponse]:
        rows = list(rows)
        out = []
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start:start + self.batch_size]
            seed = row_seed(self.seed, sample_index, "|".join(str(r["id"]) for r in batch))
            out += self.generate_from_inputs(self.inputs(batch), seed=seed)
        return out
