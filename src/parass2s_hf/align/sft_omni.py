"""The warm-up SFT of a Qwen Omni policy: teach the thinker to reply to demonstrations before GRPO.

An Omni policy speaks with its own voice: its talker voices the thinker's text. So its SFT target differs from the
espeak policy's (`align.sft`) in two ways, both deliberate:

- the target is the reference reply's WORDS only (`omni_demonstration_target`), not `[style: <reply style>] <words>`:
  no renderer reads a style tag here, and the talker would speak it aloud. How the reply sounds is left to the talker,
  which hears the thinker's hidden states; GRPO's judge rewards the spoken result;
- the conversation is the Omni's own (`models.omni_inputs.omni_conversation` with `QWEN_SYSTEM_PROMPT`, the system
  prompt Qwen2.5-Omni needs to speak), built by `OmniAudioInputs` exactly as `--system omni` builds it for evaluation,
  so SFT, GRPO and evaluation see one prompt.

The loss covers the reply's tokens and the end-of-turn token that closes them (`<|im_end|>`); the system prompt, the
audio placeholders and the chat scaffolding are masked. What is trained is a LoRA on the thinker's language model
(`model.language_model.*` inside the thinker; the audio tower, the vision tower, the talker and the vocoder are
frozen); the adapter a trainer saves from it loads with `OmniSystem(model, adapter=DIR)` (`s2s.omni.
merge_thinker_adapter`).

The talker is NOT trained. A demonstration with reply audio (the build's `sft` export carries the reference reply
spoken in its style, `reply`) would give the talker a target only as the talker's codec tokens of that audio, and
transformers ships no encoder from a waveform to Qwen2.5-Omni's codec tokens (`token2wav` only decodes: codec -> mel
-> wave; Qwen's speech tokenizer is not part of it), nor a talker loss (`Qwen2_5OmniTalkerForConditionalGeneration.
forward` takes no labels). Training it would need that speech tokenizer (outside transformers), a teacher-forced
talker pass over the thinker's hidden states of the reply (`s2s.omni.teacher_forced_thinker_output` gives them) with a
codec-token cross-entropy, and reply clips in the policy's own speaker, not the renderer's voices.

```python
>>> from parass2s_hf.align.sft import demonstration_rows
>>> from parass2s_hf.align.sft_omni import OmniSFTCollator, load_omni_thinker
>>> collator = OmniSFTCollator.from_pretrained("Qwen/Qwen2.5-Omni-7B")
>>> batch = collator([rows[0], rows[1]])  # input_ids, attention_mask, labels, input_features, feature_attention_mask
>>> thinker = load_omni_thinker("Qwen/Qwen2.5-Omni-7B")   # the thinker alone, from the Omni checkpoint
>>> # SFTTrainer(thinker, data_collator=collator, peft_config=LoraConfig(target_modules=language_model_lora_targets()))
```
`examples/train_sft.py` is the full recipe (it detects an Omni checkpoint from its config.json).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from ..audio import AudioError, load_audio
from ..judge.prompts import AUDIO_PART
from ..models.omni_inputs import OmniAudioInputs, audio_token_counts, omni_conversation
from ..s2s.omni import QWEN_SYSTEM_PROMPT
from .sft import IGNORE_INDEX, demonstration_target, turn_token_ids

THINKER_CLASSES = {"qwen2_5_omni": "Qwen2_5OmniThinkerForConditionalGeneration"}
"""The Omni model types whose thinker the SFT warm-up trains, with the thinker's class in transformers (it loads
directly from the whole Omni checkpoint: the talker's and the vocoder's weights are left out)."""
THINKER_QUANTIZATION_SKIP = ("audio_tower", "visual", "lm_head")
"""Modules of an Omni thinker kept out of 4-bit (or 8-bit) quantisation: the audio and vision towers and the LM head."""
OMNI_FILES = ("spk_dict.pt", "chat_template.json", "chat_template.jinja", "preprocessor_config.json",
              "processor_config.json")
"""The files of an Omni checkpoint besides the weights, config and tokenizer that `--system omni` reads (the voices,
the processor's chat template, the feature extractor): copied beside a merged checkpoint."""


def omni_demonstration_target(row: dict) -> str | None:
    """The SFT target of a ParaS2SBench row for an Omni policy: its reference reply's words, without the style tag.

    The row must be a demonstration as `align.sft.demonstration_target` defines it (a reference reply and a reply
    style from the vocabulary), so both policies train on the same rows; the style itself is not written.

    Returns:
        `str` or `None`: the stripped `reference_reply`, or `None` when the row is no demonstration.

    Raises:
        `ValueError`: as `demonstration_target` (names the row id).
    """
    if demonstration_target(row) is None:
        return None
    return row["reference_reply"].strip()


class OmniSFTCollator:
    """Data collator for SFT of a Qwen Omni thinker on demonstrations.

    Per row, the conversation is `omni_conversation(system_prompt, AUDIO_PART)` (what `OmniSystem` sends) plus an
    assistant turn holding `omni_demonstration_target(row)`. The clips' log-mel features are computed for the batch
    as the Omni processor pads them (`OmniAudioInputs.features`), each row's audio placeholder is expanded to its
    encoder frames, and the text is tokenized. The prompt is rendered alone with the generation prompt, as
    `OmniAudioInputs` renders it for generation, and must be a prefix of the conversation with the reply. `labels` are
    `input_ids` with the prompt, everything after the first end-of-turn token of the reply (`<|im_end|>`, or the eos
    token) and the right padding set to -100. Nothing is truncated.

    Args:
        builder (`OmniAudioInputs`): the checkpoint's input builder (`OmniAudioInputs.from_pretrained`).
        system_prompt (`str`, *optional*, defaults to `QWEN_SYSTEM_PROMPT`): the Omni's system prompt (Qwen2.5-Omni
            speaks only with this one); keep it equal to evaluation's and GRPO's.
        audio_column (`str`, *optional*, defaults to `"audio"`): the column holding the spoken query.
        max_seconds (`float`, *optional*, defaults to `60`): longest accepted query (Qwen2.5-Omni hears the first
            30 s, as in evaluation).

    Returns (on call with a list of rows):
        `dict[str, torch.Tensor]`: `input_ids`, `attention_mask`, `labels` (batch, longest row), `input_features`
        (batch, mel bins, frames), `feature_attention_mask` (batch, frames).

    Raises (on call):
        `ValueError`: an empty batch, a row that is not a dict, without audio or target, or with unusable audio (named
            by its id), or a chat template that does not render the prompt as a prefix of the conversation.
    """

    def __init__(self, builder: OmniAudioInputs, system_prompt: str | None = QWEN_SYSTEM_PROMPT,
                 audio_column: str = "audio", max_seconds: float = 60):
        if not isinstance(builder, OmniAudioInputs):
            raise ValueError(f"OmniSFTCollator needs an OmniAudioInputs (OmniAudioInputs.from_pretrained(checkpoint)), "  # noqa: TRY004
                             f"got {type(builder).__name__}; for Qwen2-Audio use AudioSFTCollator.")
        self.builder = builder
        self.tokenizer = tokenizer = builder.tokenizer
        self.system_prompt = system_prompt
        self.audio_column = audio_column
        self.max_seconds = max_seconds
        self.pad_token_id, self.end_of_turn_ids = turn_token_ids(tokenizer, "The Omni tokenizer")

    @classmethod
    def from_pretrained(cls, checkpoint: str, **kwargs) -> OmniSFTCollator:
        """The collator of an Omni checkpoint (folder or Hub id): its tokenizer, feature extractor and chat template."""
        return cls(OmniAudioInputs.from_pretrained(checkpoint), **kwargs)

    def conversation(self) -> list[dict]:
        """The prompt's chat: the one `OmniSystem.conversation()` sends."""
        return omni_conversation(self.system_prompt, AUDIO_PART)

    def _render(self, chat: list[dict], add_generation_prompt: bool, count: int, row_id) -> str:
        b = self.builder
        text = b.tokenizer.apply_chat_template(chat, chat_template=b.chat_template, tokenize=False,
                                               add_generation_prompt=add_generation_prompt)
        if text.count(b.audio_token) != 1:
            raise ValueError(f"Demonstration row {row_id!r}: the chat template wrote {text.count(b.audio_token)} audio "
                             f"placeholders ({b.audio_token!r}); one spoken query needs exactly one.")
        return text.replace(b.audio_token, b.audio_token * count)

    def _audio(self, row) -> Any:
        if not isinstance(row, Mapping):
            raise ValueError(f"OmniSFTCollator got a {type(row).__name__} as a row; expected the dataset's rows "  # noqa: TRY004
                             f"(dicts).")
        row_id = row.get("id", "<no id>")
        if omni_demonstration_target(row) is None:
            raise ValueError(f"Demonstration row {row_id!r} has no target: its reference_reply or "
                             f"reference_reply_style is empty. Filter the dataset with demonstration_rows first.")
        if self.audio_column not in row:
            raise ValueError(f"Demonstration row {row_id!r} has no audio column {self.audio_column!r} (its columns: "
                             f"{sorted(row)}); keep remove_unused_columns=False in the training arguments.")
        try:
            return load_audio(row[self.audio_column], max_seconds=self.max_seconds, name=f"row {row_id!r}").array
        except AudioError as e:
            raise ValueError(f"Demonstration row {row_id!r} has unusable audio: {e.problem}") from e

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict:
        import torch

        rows = list(rows)
        if not rows:
            raise ValueError("OmniSFTCollator got an empty batch.")
        audios = [self._audio(row) for row in rows]
        features = self.builder.features(audios)
        counts = audio_token_counts(self.builder.model_type, features["feature_attention_mask"].sum(-1),
                                    self.builder.n_window)
        prompt = self.conversation()
        ids, labels = [], []
        for row, count in zip(rows, counts):
            row_id = row.get("id", "<no id>")
            reply = [{"role": "assistant", "content": [{"type": "text", "text": omni_demonstration_target(row)}]}]
            prompt_ids = self.tokenizer(self._render(prompt, True, count, row_id), add_special_tokens=False)["input_ids"]
            full_ids = self.tokenizer(self._render(prompt + reply, False, count, row_id),
                                      add_special_tokens=False)["input_ids"]
            n = len(prompt_ids)
            if len(full_ids) <= n or full_ids[:n] != prompt_ids:
                raise ValueError(f"Demonstration row {row_id!r}: the chat template does not render the prompt as a "
                                 f"prefix of the conversation with the reply, so the prompt cannot be masked.")
            end = len(full_ids)
            for i in range(n, len(full_ids)):
                if full_ids[i] in self.end_of_turn_ids:
                    end = i + 1  # the end-of-turn token counts: the thinker must learn to stop
                    break
            ids.append(full_ids)
            labels.append([IGNORE_INDEX] * n + full_ids[n:end] + [IGNORE_INDEX] * (len(full_ids) - end))
        width = max(len(x) for x in ids)
        batch = {
            "input_ids": torch.tensor([x + [self.pad_token_id] * (width - len(x)) for x in ids]),
            "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
            "labels": torch.tensor([x + [IGNORE_INDEX] * (width - len(x)) for x in labels]),
        }
        batch.update(features)
        return batch


def load_omni_thinker(checkpoint: str, **kwargs):
    """The thinker of an Omni checkpoint, loaded alone (its weights are the checkpoint's `thinker.*`; the talker and
    the vocoder are not loaded), ready to fine-tune.

    Args:
        checkpoint (`str`): a Qwen2.5-Omni checkpoint (folder or Hub id).
        **kwargs: `from_pretrained` arguments (`dtype`, `revision`, `attn_implementation`, `device_map`,
            `quantization_config`: see `thinker_quantization_config`, ...).

    Raises:
        `ValueError`: a checkpoint of another model type (Qwen3-Omni's SFT is not wired yet).
    """
    import transformers

    from ..s2s.omni import checkpoint_model_type

    model_type = checkpoint_model_type(checkpoint)
    if model_type not in THINKER_CLASSES:
        raise ValueError(f"{checkpoint!r} is a {model_type!r} checkpoint; the Omni SFT warm-up trains the thinker of "
                         f"{sorted(THINKER_CLASSES)} (e.g. Qwen/Qwen2.5-Omni-7B).")
    return getattr(transformers, THINKER_CLASSES[model_type]).from_pretrained(checkpoint, **kwargs)


def thinker_quantization_config(load_in_4bit: bool = True, load_in_8bit: bool = False, **kwargs):
    """`BitsAndBytesConfig` for QLoRA on an Omni thinker: its language model in 4-bit (or 8-bit), the audio tower, the
    vision tower and the LM head unquantised (`THINKER_QUANTIZATION_SKIP`); `None` when neither is asked for. The
    adapter trained on it merges into the full-precision thinker (`merge_omni_adapter_and_save`, `--adapter`).

    Args:
        **kwargs: `models.quantization_config`'s other arguments (`quant_type`, `double_quant`, `compute_dtype`,
            `quant_storage`).
    """
    from ..models import quantization_config

    return quantization_config(load_in_4bit=load_in_4bit, load_in_8bit=load_in_8bit,
                               skip_modules=THINKER_QUANTIZATION_SKIP, **kwargs)


def merge_omni_adapter_and_save(adapter_dir: str, base_model: str, output_dir: str, torch_dtype: str = "auto") -> str:
    """Merge a thinker LoRA into a whole Omni checkpoint (thinker, talker, vocoder) and save it, with its tokenizer,
    feature extractor, chat template and voices: a checkpoint `--system omni --model OUTPUT_DIR` runs as the trained
    policy, the same as `--model BASE --adapter ADAPTER_DIR`, and the GRPO recipe's Omni starting model (its KL
    reference). The base is loaded unquantised (an adapter trained on a 4-bit thinker merges into the full weights).

    Returns:
        `str`: `output_dir`.
    """
    import torch
    from transformers import AutoTokenizer

    from ..s2s.omni import MODEL_CLASSES, checkpoint_file, checkpoint_model_type, merge_thinker_adapter

    model_type = checkpoint_model_type(base_model)
    if model_type not in MODEL_CLASSES:
        raise ValueError(f"{base_model!r} is a {model_type!r} checkpoint, not an Omni model ({sorted(MODEL_CLASSES)}).")
    import transformers

    dtype = torch_dtype if torch_dtype in (None, "auto") else getattr(torch, str(torch_dtype).replace("torch.", ""))
    model = getattr(transformers, MODEL_CLASSES[model_type]).from_pretrained(base_model, dtype=dtype)
    model = merge_thinker_adapter(model, adapter_dir)
    os.makedirs(output_dir, exist_ok=True)
    model.save_pretrained(output_dir)
    AutoTokenizer.from_pretrained(base_model).save_pretrained(output_dir)
    for name in OMNI_FILES:
        path = checkpoint_file(base_model, name)
        if path is not None:
            shutil.copyfile(path, os.path.join(output_dir, name))
    return output_dir
