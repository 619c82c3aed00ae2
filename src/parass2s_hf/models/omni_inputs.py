"""The inputs of a Qwen Omni model for spoken queries, built without its processor (which needs torchvision).

`Qwen2_5OmniProcessor` and `Qwen3OmniMoeProcessor` carry a video processor, and their `from_pretrained` builds it,
which needs torchvision; torchvision does not install beside the CPU-only torch. For audio-only prompts the
processor does three things, which `OmniAudioInputs` does from the tokenizer and the Whisper feature extractor alone:

1. the chat template (the processor's own: `chat_template.jinja` / `chat_template.json` of the checkpoint, else the
   tokenizer's) renders the conversation with one audio placeholder (`tokenizer.audio_token`) per clip, between the
   audio bos/eos tokens the template writes itself;
2. the feature extractor turns each 16 kHz clip into log-mel `input_features` with a `feature_attention_mask`:
   Qwen2.5-Omni pads every clip to 30 s (`padding="max_length"`; longer clips are truncated to 30 s), Qwen3-Omni pads
   to the longest clip of the batch and truncates nothing;
3. each placeholder is repeated once per audio-encoder output frame (`audio_token_counts`: Qwen2.5-Omni
   `((n - 1) // 2 + 1 - 2) // 2 + 1` for `n` mel frames; Qwen3-Omni the chunked rule of windows of `2 * n_window`
   frames, 13 tokens a full window), and the texts are tokenized left-padded.

The processor adds nothing else for audio: no position ids (the thinker computes its 3-D rotary positions from
`input_ids`, `attention_mask` and the feature lengths itself) and no `use_audio_in_video` (off: it is only for the
audio track of a video). The outputs are `input_ids`, `attention_mask`, `input_features` and
`feature_attention_mask`, the same tensors as `processor(text=..., audio=..., padding=True, return_tensors="pt")`.

```python
>>> build = OmniAudioInputs.from_pretrained("Qwen/Qwen2.5-Omni-7B")
>>> inputs = build([clip_a, clip_b], omni_conversation(QWEN_SYSTEM_PROMPT))   # two queries, left-padded
>>> model.generate(**inputs, ...)
```

What is tested (`tests/test_omni_policy_inputs.py`): for Qwen2.5-Omni (the tiny random model of
`parass2s_hf.testing`), equality with `Qwen2_5OmniProcessor.__call__` itself, run with stand-ins for its image and
video processors (its constructor checks their classes, and the video class cannot be imported without torchvision),
for one clip and for a batch of clips of different lengths (one longer than 30 s), and with the real processor where
torchvision is installed; for Qwen3-Omni, equality with `Qwen3OmniMoeProcessor.__call__` run the same way, with a
tokenizer whose audio tokens have Qwen3-Omni's names (`<|audio_start|><|audio_pad|><|audio_end|>`). No Qwen3-Omni
model is run offline (none is small enough to build here).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from ..constants import SAMPLING_RATE

QWEN3_N_WINDOW = 50
"""`Qwen3OmniMoeProcessor.n_window`: the audio encoder's window (half a chunk of mel frames), as the processor uses it
for the number of audio tokens (it must match `n_window` in the model's audio config)."""

AUDIO_RULES = {
    # model type: how the processor calls the feature extractor (besides sampling_rate and return_attention_mask)
    "qwen2_5_omni": {"padding": "max_length"},
    "qwen3_omni_moe": {"padding": True, "truncation": False},
}
"""The model types whose audio inputs `OmniAudioInputs` builds, with the feature extractor's padding per type."""


def audio_token_counts(model_type: str, feature_lengths, n_window: int = QWEN3_N_WINDOW) -> list[int]:
    """How many audio placeholder tokens each clip takes: the audio encoder's output length for its number of mel
    frames (the `feature_attention_mask` sums), as the model type's processor computes it.

    Raises:
        `ValueError`: a model type other than those of `AUDIO_RULES`.
    """
    lengths = np.asarray(feature_lengths, dtype=np.int64).reshape(-1)
    if model_type == "qwen2_5_omni":
        counts = ((lengths - 1) // 2 + 1 - 2) // 2 + 1
    elif model_type == "qwen3_omni_moe":
        chunk = 2 * n_window
        rest = (lengths % chunk - 1) // 2 + 1
        counts = ((rest - 1) // 2 + 1 - 1) // 2 + 1 + (lengths // chunk) * 13
    else:
        raise ValueError(f"No audio-input rule for model type {model_type!r}; supported: {sorted(AUDIO_RULES)}.")
    return [int(c) for c in counts]


def omni_conversation(system_prompt: str | None, audio_part: dict | None = None) -> list[dict]:
    """The chat of one spoken query: the system prompt (none when empty) and a user turn holding one audio part."""
    part = dict(audio_part) if audio_part is not None else {"type": "audio", "audio_url": "attached"}
    chat = [{"role": "user", "content": [part]}]
    if system_prompt:
        chat.insert(0, {"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    return chat


class OmniAudioInputs:
    """Builds a Qwen Omni model's inputs for spoken queries from its tokenizer and feature extractor.

    Args:
        tokenizer: the checkpoint's tokenizer (`AutoTokenizer.from_pretrained`).
        feature_extractor: its `WhisperFeatureExtractor`.
        model_type (`str`): `qwen2_5_omni` or `qwen3_omni_moe` (the padding and placeholder rule).
        chat_template (`str`, *optional*): the processor's chat template; the tokenizer's when `None`.
        audio_token (`str`, *optional*): the audio placeholder; `tokenizer.audio_token` when `None`.
        n_window (`int`, *optional*, defaults to `QWEN3_N_WINDOW`): Qwen3-Omni's audio window.

    Raises:
        `ValueError`: an unsupported model type, or no audio placeholder token (named).
    """

    def __init__(self, tokenizer, feature_extractor, model_type: str, chat_template: str | None = None,
                 audio_token: str | None = None, n_window: int = QWEN3_N_WINDOW):
        if model_type not in AUDIO_RULES:
            raise ValueError(f"Cannot build audio inputs for model type {model_type!r} without its processor; "
                             f"supported: {sorted(AUDIO_RULES)}.")
        audio_token = audio_token or getattr(tokenizer, "audio_token", None)
        if not audio_token:
            raise ValueError(f"The {model_type} tokenizer names no audio_token (the placeholder its processor "
                             f"expands), and none was given: pass audio_token=.")
        if tokenizer.convert_tokens_to_ids(audio_token) in (None, tokenizer.unk_token_id):
            raise ValueError(f"The audio token {audio_token!r} is not in the {model_type} tokenizer's vocabulary.")
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.model_type = model_type
        self.chat_template = chat_template
        self.audio_token = audio_token
        self.n_window = n_window

    @classmethod
    def from_pretrained(cls, checkpoint: str, model_type: str | None = None) -> OmniAudioInputs:
        """The builder of a checkpoint (Hub id or folder): its tokenizer, feature extractor, the processor's chat
        template and, from `config.json` when not given, its model type. Nothing here needs torchvision."""
        from transformers import AutoTokenizer, WhisperFeatureExtractor

        if model_type is None:
            model_type = _read_config(checkpoint).get("model_type")
        if model_type not in AUDIO_RULES:
            raise ValueError(f"{checkpoint!r} is a {model_type!r} checkpoint; audio inputs are built for "
                             f"{sorted(AUDIO_RULES)}.")
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        return cls(tokenizer, WhisperFeatureExtractor.from_pretrained(checkpoint), model_type,
                   chat_template=processor_chat_template(checkpoint, model_type))

    def prompt(self, conversation: list[dict]) -> str:
        """The chat template's text for one conversation, with the generation prompt (one audio placeholder a clip)."""
        return self.tokenizer.apply_chat_template(conversation, chat_template=self.chat_template,
                                                  add_generation_prompt=True, tokenize=False)

    def features(self, audios: Sequence[np.ndarray]) -> dict:
        """`input_features` and `feature_attention_mask` of 16 kHz mono clips, padded as the processor pads them."""
        out = self.feature_extractor([np.asarray(a, dtype=np.float32) for a in audios], sampling_rate=SAMPLING_RATE,
                                     return_attention_mask=True, return_tensors="pt",
                                     **AUDIO_RULES[self.model_type])
        return {"input_features": out["input_features"], "feature_attention_mask": out["attention_mask"]}

    def __call__(self, audios: Sequence[np.ndarray], conversation: list[dict] | Sequence[list[dict]]):
        """The model inputs of one spoken query per clip.

        Args:
            audios (`Sequence[np.ndarray]`): 16 kHz mono clips, one per query.
            conversation (`list[dict]` or a list of them): the chat (with exactly one audio part), the same for every
                clip, or one per clip.

        Returns:
            `BatchFeature`: `input_ids` and `attention_mask` (left-padded), `input_features`, `feature_attention_mask`.

        Raises:
            `ValueError`: a conversation whose template text does not hold exactly one audio placeholder, or not one
                conversation per clip.
        """
        from transformers import BatchFeature

        audios = list(audios)
        if not audios:
            raise ValueError("No clips given.")
        if conversation and isinstance(conversation[0], dict):
            conversations = [conversation] * len(audios)
        else:
            conversations = list(conversation)
        if len(conversations) != len(audios):
            raise ValueError(f"{len(conversations)} conversations for {len(audios)} clips; give one, or one per clip.")
        features = self.features(audios)
        counts = audio_token_counts(self.model_type, features["feature_attention_mask"].sum(-1), self.n_window)
        texts = []
        for chat, count in zip(conversations, counts):
            text = self.prompt(chat)
            if text.count(self.audio_token) != 1:
                raise ValueError(f"The chat template wrote {text.count(self.audio_token)} audio placeholders "
                                 f"({self.audio_token!r}) for a conversation; one spoken query needs exactly one: "
                                 f"{text!r}")
            texts.append(text.replace(self.audio_token, self.audio_token * count))
        tokens = self.tokenizer(texts, padding=True, padding_side="left", return_tensors="pt")
        return BatchFeature({"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"],
                             **features})


def processor_chat_template(checkpoint: str, model_type: str) -> str | None:
    """The chat template `from_pretrained` gives the checkpoint's processor (its `chat_template.jinja`, legacy
    `chat_template.json` or `processor_config.json`), read with the processor class's own reader, which needs no
    torchvision; `None` when the checkpoint has none (the tokenizer's then applies, as for the processor)."""
    import transformers

    cls = getattr(transformers, PROCESSOR_CLASSES[model_type])
    found = cls.get_processor_dict(checkpoint)[0].get("chat_template")
    if isinstance(found, dict):
        found = found.get("default")
    return found or None


PROCESSOR_CLASSES = {"qwen2_5_omni": "Qwen2_5OmniProcessor", "qwen3_omni_moe": "Qwen3OmniMoeProcessor"}
"""The processor class each model type's inputs stand in for."""


def _read_config(checkpoint: str) -> dict:
    if os.path.isdir(checkpoint):
        path = os.path.join(checkpoint, "config.json")
    else:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(checkpoint, "config.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def unpadded_row(inputs, index: int) -> dict:
    """Row `index` of a batch of inputs as a batch of one without its left padding (`input_ids`, `attention_mask`,
    `input_features`, `feature_attention_mask`)."""
    keep = inputs["attention_mask"][index].bool()
    row = {"input_ids": inputs["input_ids"][index][keep][None], "attention_mask": inputs["attention_mask"][index][keep][None]}
    for key in ("input_features", "feature_attention_mask"):
        if key in inputs:
            row[key] = inputs[key][index:index + 1]
    return row
