"""transformers speech-output models as systems under test: Qwen2.5-Omni and Qwen3-Omni (thinker -> talker -> vocoder).

The spoken query goes in as audio with the model's system prompt; the thinker's text and the talker's 24 kHz
waveform come out. Building the inputs (`_inputs`) is kept apart from generation (`generate_from_inputs`): the
Omni processors need torchvision for their video processor, which does not install beside CPU-only torch, so CPU
tests feed `generate_from_inputs` with inputs built by hand.

```python
>>> system = build_system("omni", model="Qwen/Qwen2.5-Omni-7B", speaker="Chelsie")   # a GPU machine
>>> [response] = system.respond([row])
>>> response.sampling_rate, response.text
(24000, "Oh no, that sounds really frustrating...")
```
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

from ..audio import load_audio
from ..constants import SAMPLING_RATE
from ..judge.prompts import AUDIO_PART
from ..models.generation import expected_generation_notes
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
    "qwen2_5_omni": ("Qwen2_5OmniForConditionalGeneration", "Qwen2_5OmniProcessor"),
    "qwen3_omni_moe": ("Qwen3OmniMoeForConditionalGeneration", "Qwen3OmniMoeProcessor"),
}
"""Supported checkpoints, by `config.model_type`: (model class, processor class) in transformers."""


def _checkpoint_file(model_id: str, filename: str) -> str | None:
    """The local path of a checkpoint's file: from its folder, or from the Hub (its cache offline); `None` when the
    checkpoint has no such file."""
    import os

    if os.path.isdir(model_id):
        path = os.path.join(model_id, filename)
        return path if os.path.isfile(path) else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return hf_hub_download(model_id, filename)
    except EntryNotFoundError:
        return None


def _read_json(model_id: str, filename: str) -> dict:
    import json

    path = _checkpoint_file(model_id, filename)
    if path is None:
        raise ValueError(f"model {model_id!r} has no {filename}: not a transformers checkpoint.")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@register_system("omni")
class OmniSystem:
    """A transformers model that listens and speaks: Qwen2.5-Omni or Qwen3-Omni.

    Args:
        model (`str`): checkpoint (Hub id or path) of model type `qwen2_5_omni` or `qwen3_omni_moe`.
        speaker (`str`, *optional*): the talker's voice (`"Chelsie"` / `"Ethan"` for Qwen2.5-Omni, `"Ethan"`,
            `"Chelsie"`, `"Aiden"` for Qwen3-Omni); the model's default when `None`.
        system_prompt (`str`, *optional*, defaults to `QWEN_SYSTEM_PROMPT`): the system message; Qwen2.5-Omni
            speaks only with this one. `None` sends no system message.
        max_new_tokens (`int`, *optional*, defaults to `256`): the thinker's (text) token budget.
        temperature (`float`, *optional*, defaults to `0.0`): the thinker's temperature; `0` is greedy. The talker
            samples by the model's own defaults either way, so the waveform depends on `seed`.
        seed (`int`, *optional*, defaults to `0`): every batch is seeded from it, the sample index and the batch's
            row ids, so that each sample is reproducible.
        batch_size (`int`, *optional*, defaults to `1`): queries per `generate` call.
        torch_dtype (`str`, *optional*, defaults to `"auto"`): dtype of the model (the vocoder stays float32).
        device_map (`str`, *optional*, defaults to `"auto"`): passed to `from_pretrained`; CPU when `None`.
        generate_kwargs (`dict`, *optional*): more arguments of the model's `generate` (e.g.
            `{"talker_max_new_tokens": 2048}`); they take precedence.

    Raises:
        `ValueError`: a checkpoint of another model type, one without a talker, an unknown speaker, a bad setting.
    """

    name = "omni"

    def __init__(self, model: str, speaker: str | None = None, system_prompt: str | None = QWEN_SYSTEM_PROMPT,
                 max_new_tokens: int = 256, temperature: float = 0.0, seed: int = 0, batch_size: int = 1,
                 torch_dtype: str = "auto", device_map: str | None = "auto", generate_kwargs: dict | None = None):
        if temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or more, got {temperature!r}.")
        for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}.")
        # Everything checkable is checked from the checkpoint's small files now; the weights load on first use, so a
        # rerun of a finished run (nothing to generate) never loads the model.
        config = _read_json(model, "config.json")
        self.model_type = config.get("model_type")
        if self.model_type not in MODEL_CLASSES:
            raise ValueError(f"model {model!r} is a {self.model_type!r} checkpoint; the omni system supports the "
                             f"model types {sorted(MODEL_CLASSES)} (e.g. Qwen/Qwen2.5-Omni-7B, "
                             f"Qwen/Qwen3-Omni-30B-A3B-Instruct).")
        if config.get("enable_audio_output") is False:
            raise ValueError(f"model {model!r} has enable_audio_output off in its config.json, so it loads without "
                             f"its talker and cannot speak; use a checkpoint with audio output.")
        self.model_id = model
        self.speaker = speaker
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.seed = seed
        self.batch_size = batch_size
        self.torch_dtype = torch_dtype
        self.device_map = device_map
        self.generate_kwargs = dict(generate_kwargs or {})
        self._model_cls, self._processor_cls = MODEL_CLASSES[self.model_type]
        self._config = config
        self._model = self._tokenizer = self._processor = None
        if speaker is not None:
            self._check_speaker(self.speakers())

    def _check_speaker(self, speakers: list[str]) -> None:
        if self.speaker is not None and speakers and self.speaker not in speakers and \
                self.speaker.lower() not in speakers:
            raise ValueError(f"Unknown speaker {self.speaker!r} for {self.model_id!r}; expected one of {speakers}.")

    @property
    def model(self):
        """The model, loaded on first use (its talker checked)."""
        if self._model is None:
            from ..models import LoadSettings, load_pretrained

            model = load_pretrained(self._model_cls, self.model_id,
                                    LoadSettings(torch_dtype=self.torch_dtype, device_map=self.device_map))
            if not getattr(model, "has_talker", False):
                raise ValueError(f"model {self.model_id!r} was loaded without its talker (enable_audio_output is "
                                 f"off), so it cannot speak; use a checkpoint with audio output.")
            self._model = model
        return self._model

    @property
    def tokenizer(self):
        """The tokenizer (for decoding; unlike the processor, it needs no torchvision), loaded on first use."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_id)
        return self._tokenizer

    def speakers(self) -> list[str]:
        """The voices the checkpoint ships (Qwen2.5-Omni's `spk_dict.pt`, Qwen3-Omni's talker config), read without
        loading the model."""
        if self._model is not None and getattr(self._model, "speaker_map", None):
            return list(self._model.speaker_map)
        found = (self._config.get("talker_config") or {}).get("speaker_id")
        if found:
            return list(found)
        path = _checkpoint_file(self.model_id, "spk_dict.pt")
        if path is None:
            return []
        import torch

        return list(torch.load(path, weights_only=True))

    def config(self) -> dict:
        return {"model": self.model_id, "model_type": self.model_type, "speaker": self.speaker,
                "system_prompt": self.system_prompt, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "seed": self.seed, "batch_size": self.batch_size,
                "torch_dtype": self.torch_dtype, "generate_kwargs": self.generate_kwargs}

    @property
    def processor(self):
        """The checkpoint's processor, loaded on first use.

        Raises:
            `ImportError`: torchvision is missing (the Omni processors need it for their video processor).
        """
        if self._processor is None:
            message = (f"The Omni processor ({self._processor_cls}) needs torchvision for its video processor, which "
                       f"does not install beside CPU-only torch: run Omni systems on a GPU machine with torchvision "
                       f"installed (pip install torchvision).")
            if importlib.util.find_spec("torchvision") is None:
                raise ImportError(message)
            import transformers

            try:
                self._processor = getattr(transformers, self._processor_cls).from_pretrained(self.model_id)
            except ImportError as e:
                raise ImportError(f"{message} ({e})") from e
        return self._processor

    def conversation(self) -> list[dict]:
        """The chat for one spoken query (the audio itself goes to the processor)."""
        chat = [{"role": "user", "content": [dict(AUDIO_PART)]}]
        if self.system_prompt:
            chat.insert(0, {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        return chat

    def _inputs(self, rows: Sequence[dict]):
        """Processor outputs (token ids with the audio placeholders expanded, log-mel features and masks) for rows."""
        processor = self.processor
        text = processor.apply_chat_template(self.conversation(), add_generation_prompt=True, tokenize=False)
        audios = [load_audio(row["audio"], name=str(row["id"])).array for row in rows]
        return processor(text=[text] * len(rows), audio=audios, sampling_rate=SAMPLING_RATE, return_tensors="pt",
                         padding=True)

    def generate_from_inputs(self, inputs, seed: int | None = None) -> list[S2SResponse]:
        """Generate the spoken replies of a batch of model inputs.

        Args:
            inputs (`dict` or `BatchFeature`): `input_ids` (left-padded) and `attention_mask`, plus the audio's
                `input_features` and `feature_attention_mask`, as the processor makes them.
            seed (`int`, *optional*): seeds torch's RNG first (the talker and, when sampling, the thinker).

        Returns:
            `list[S2SResponse]`: one per input row, 24 kHz audio and the thinker's text.
        """
        import torch

        device = self.model.device
        dtype = self.model.thinker.dtype
        inputs = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) if torch.is_tensor(v) else v
                  for k, v in dict(inputs).items()}
        kwargs = {"thinker_max_new_tokens": self.max_new_tokens, "thinker_do_sample": self.temperature > 0}
        if self.temperature > 0:
            kwargs["thinker_temperature"] = self.temperature
        if self.speaker is not None:
            kwargs["speaker"] = self.speaker
        kwargs.update(self.generate_kwargs)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode(), expected_generation_notes():
            sequences, wavs = self.model.generate(**inputs, **kwargs)
        batch = sequences.shape[0]
        if torch.is_tensor(wavs):  # one waveform (batch of 1): (samples,) for Qwen2.5-Omni, (1, 1, samples) for Qwen3
            wavs = [wavs.reshape(-1)] if batch == 1 else list(wavs.reshape(batch, -1))
        texts = self.tokenizer.batch_decode(sequences[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        out = []
        for text, wav in zip(texts, wavs):
            audio = wav.detach().float().cpu().numpy().reshape(-1) if wav is not None else np.zeros(0, np.float32)
            out.append(S2SResponse(audio, OUTPUT_SAMPLING_RATE, text=text.strip(), info={"speaker": self.speaker}))
        return out

    def respond(self, rows: Sequence[dict], sample_index: int = 0) -> list[S2SResponse]:
        rows = list(rows)
        out = []
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start:start + self.batch_size]
            seed = row_seed(self.seed, sample_index, "|".join(str(r["id"]) for r in batch))
            out += self.generate_from_inputs(self._inputs(batch), seed=seed)
        return out
