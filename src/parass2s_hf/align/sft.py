"""The warm-up SFT of ParaS2SAlign: teach the policy the reply format on demonstrations before GRPO.

A demonstration is a ParaS2SBench row: its spoken query (the `audio` column) is the prompt, and its reference reply
written in the reply format (`[style: <reply style>] <reply text>`) is the target. The prompt is the policy's own
conversation (`policy_prompt`), so SFT and GRPO see one format. The loss covers the target tokens and the
end-of-turn token after them (so the policy learns to stop); the system prompt, the audio and the chat template's
scaffolding are masked.

```python
>>> from transformers import AutoProcessor
>>> from parass2s_hf import load_parass2sbench
>>> from parass2s_hf.align.sft import AudioSFTCollator, demonstration_rows, merge_lora_and_save
>>> rows = demonstration_rows(load_parass2sbench("synthetic", split="train"))
>>> collator = AudioSFTCollator(AutoProcessor.from_pretrained("Qwen/Qwen2-Audio-7B-Instruct"))
>>> batch = collator([rows[0], rows[1]])     # input_ids, attention_mask, labels, input_features, feature_attention_mask
>>> # SFTTrainer(..., data_collator=collator, args=SFTConfig(remove_unused_columns=False,
>>> #            dataset_kwargs={"skip_prepare_dataset": True})), then, after training:
>>> merge_lora_and_save("runs/sft", "runs/sft/merged")   # the GRPO recipe's starting checkpoint
```
`examples/train_sft.py` is the full recipe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..audio import AudioError, load_audio
from ..constants import SAMPLING_RATE
from ..io import read_json
from ..render import format_reply
from .data import check_dataset
from .prompts import POLICY_SYSTEM_PROMPT, policy_prompt

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Label of the positions that do not count in the loss (PyTorch's cross-entropy default)."""

def turn_token_ids(tokenizer, what: str) -> tuple[int, list[int]]:
    """The id an SFT batch pads with (the pad token, else eos) and the ids that close the assistant's turn: the eos
    token, and the ChatML end of turn where the tokenizer knows it (some Qwen checkpoints name <|endoftext|> as eos
    while their template closes turns with <|im_end|>).

    Raises:
        `ValueError`: the tokenizer (`what`) has neither a pad nor an eos token.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError(f"{what} has neither a pad token nor an eos token to pad with.")
    vocab = tokenizer.get_vocab()
    return pad, sorted({i for i in (tokenizer.eos_token_id, vocab.get("<|im_end|>")) if i is not None})


def demonstration_target(row: dict) -> str | None:
    """The SFT target of a ParaS2SBench row: its reference reply in the reply format.

    Args:
        row (`dict`): a row with `reference_reply` and `reference_reply_style`.

    Returns:
        `str` or `None`: `"[style: <reference_reply_style>] <reference_reply>"`, or `None` when the row has no
        reference reply (real-corpus rows), which is then no demonstration.

    Raises:
        `ValueError`: the reference reply or its style is not text, or the style is outside the reply vocabulary
            (names the row id).
    """
    if not isinstance(row, Mapping):
        raise ValueError(f"A demonstration row must be a dict, got {type(row).__name__}.")  # noqa: TRY004
    values = {}
    for column in ("reference_reply", "reference_reply_style"):
        value = row.get(column) or ""
        if not isinstance(value, str):
            raise ValueError(f"Demonstration row {row.get('id')!r}: {column} {value!r} is a {type(value).__name__}; "  # noqa: TRY004
                             f"expected text.")
        values[column] = value.strip()
    reply, style = values["reference_reply"], values["reference_reply_style"]
    if not reply or not style:
        return None
    try:
        return format_reply(style, reply)
    except ValueError as e:
        raise ValueError(f"Demonstration row {row.get('id')!r}: {e}") from e


def demonstration_rows(dataset, limit: int | None = None):
    """Keep the rows of `dataset` that have a demonstration target (see `demonstration_target`), logging how many
    were skipped; the audio is not decoded.

    Args:
        dataset (`datasets.Dataset`): ParaS2SBench rows (or any rows with `reference_reply` and
            `reference_reply_style`).
        limit (`int`, *optional*): keep at most this many demonstrations (the first ones).

    Returns:
        `datasets.Dataset`: the demonstrations.

    Raises:
        `ValueError`: not a `datasets.Dataset`, the reference columns are missing or do not hold text, a `limit` that
            is not a positive number, or no row has a reference reply.
    """
    check_dataset(dataset, "demonstration dataset")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit={limit!r}; expected a positive number of demonstrations, or None for all.")
    missing = [c for c in ("reference_reply", "reference_reply_style") if c not in dataset.column_names]
    if missing:
        raise ValueError(f"The dataset has no {missing} column(s) (its columns are {dataset.column_names}); SFT "
                         f"demonstrations need a reference reply and its style (ParaS2SBench synthetic rows).")
    for column in ("reference_reply", "reference_reply_style"):
        dtype = getattr(dataset.features[column], "dtype", None)
        if dtype not in ("string", "large_string", "null"):  # an all-empty column is typed null
            raise ValueError(f"The dataset's column {column!r} holds {dtype or dataset.features[column]}, not text; "
                             f"SFT demonstrations need the reference reply and its style as strings.")

    def has_target(reply, style):
        return bool((reply or "").strip() and (style or "").strip())

    total = len(dataset)
    kept = dataset.filter(has_target, input_columns=["reference_reply", "reference_reply_style"])
    skipped = total - len(kept)
    if skipped:
        logger.warning("skipped %d of %d rows without a reference reply (real-corpus rows are no demonstrations)",
                       skipped, total)
    if len(kept) == 0:
        raise ValueError(f"None of the {total} rows has a reference reply: nothing to train on. Use a synthetic "
                         f"ParaS2SBench config (e.g. dataset_config='synthetic', split='train').")
    if limit is not None:
        kept = kept.select(range(min(limit, len(kept))))
    return kept


class AudioSFTCollator:
    """Data collator for SFT of an audio LLM on demonstrations: builds the chat of each row, runs the processor and
    masks everything but the target.

    Per row, the conversation is `policy_prompt(system_prompt)` plus an assistant turn holding
    `demonstration_target(row)`. The processor renders it with the audio placeholder expanded to one token per
    encoder frame and computes the log-mel `input_features` with their `feature_attention_mask`. The prompt's length
    is read from the same processor call on the prompt-only chat (with `add_generation_prompt=True`), so the audio
    expansion is the same in both. `labels` are `input_ids` with the prompt, everything after the end-of-turn token
    that closes the target (the eos token, or `<|im_end|>` where the vocabulary has it), and padding set to -100.
    Rows are processed one by one (the Whisper feature extractor is slower per clip on a batch) and right-padded into
    a batch. Nothing is truncated (`SFTConfig.max_length` does not apply): cutting a row would drop audio tokens or
    the end of the reply; a Qwen2-Audio row is at most 750 audio tokens (30 s) plus the prompt and the reply.

    Args:
        processor (`transformers.ProcessorMixin`): the audio LLM's processor (e.g. `Qwen2AudioProcessor`), with a
            chat template (the audio part is `parass2s_hf.judge.prompts.AUDIO_PART`).
        system_prompt (`str`, *optional*, defaults to `POLICY_SYSTEM_PROMPT`): the policy's system prompt (`None` or
            empty for none); use the one GRPO uses.
        audio_column (`str`, *optional*, defaults to `"audio"`): the column holding the spoken query.
        max_seconds (`float`, *optional*, defaults to `60`): longest accepted query.

    Returns (on call with a list of rows):
        `dict[str, torch.Tensor]`: `input_ids`, `attention_mask`, `labels` (batch, longest row) and
        `input_features` (batch, mel bins, frames), `feature_attention_mask` (batch, frames).

    Raises (on call):
        `ValueError`: a row's audio is unusable, or it has no target (the message names the row id).
    """

    def __init__(self, processor, system_prompt: str | None = POLICY_SYSTEM_PROMPT, audio_column: str = "audio",
                 max_seconds: float = 60):
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None or getattr(processor, "feature_extractor", None) is None:
            raise ValueError(f"AudioSFTCollator needs an audio LLM processor with a tokenizer and a feature extractor; "
                             f"got {type(processor).__name__}.")
        self.processor = processor
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.audio_column = audio_column
        self.max_seconds = max_seconds
        self.pad_token_id, self.end_of_turn_ids = turn_token_ids(tokenizer, "The processor's tokenizer")

    def _process(self, chat: list[dict], audio, add_generation_prompt: bool):
        text = self.processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=add_generation_prompt)
        return self.processor(text=[text], audio=[audio], sampling_rate=SAMPLING_RATE, return_tensors="pt")

    def encode(self, row: dict) -> dict:
        """One row's processor outputs (batch of one) with its `labels`."""
        import torch

        if not isinstance(row, Mapping):
            raise ValueError(f"AudioSFTCollator got a {type(row).__name__} as a row; expected the dataset's rows "  # noqa: TRY004
                             f"(dicts).")
        row_id = row.get("id", "<no id>")
        target = demonstration_target(row)
        if target is None:
            raise ValueError(f"Demonstration row {row_id!r} has no target: its reference_reply or "
                             f"reference_reply_style is empty. Filter the dataset with demonstration_rows first.")
        if self.audio_column not in row:
            raise ValueError(f"Demonstration row {row_id!r} has no audio column {self.audio_column!r} (its columns: "
                             f"{sorted(row)}); keep remove_unused_columns=False in the training arguments.")
        try:
            audio = load_audio(row[self.audio_column], max_seconds=self.max_seconds, name=f"row {row_id!r}").array
        except AudioError as e:
            raise ValueError(f"Demonstration row {row_id!r} has unusable audio: {e.problem}") from e

        prompt = policy_prompt(self.system_prompt)
        full = self._process(prompt + [{"role": "assistant", "content": target}], audio, add_generation_prompt=False)
        prompt_ids = self._process(prompt, audio, add_generation_prompt=True)["input_ids"][0]
        input_ids = full["input_ids"][0]
        n = len(prompt_ids)
        if len(input_ids) <= n or not bool((input_ids[:n] == prompt_ids).all()):
            raise ValueError(f"Demonstration row {row_id!r}: the chat template does not render the prompt as a prefix "
                             f"of the conversation with the reply, so the prompt cannot be masked. Use a chat "
                             f"template whose generation prompt ends where the assistant's reply starts.")
        end = len(input_ids)
        if self.end_of_turn_ids:
            closing = torch.isin(input_ids[n:], torch.tensor(self.end_of_turn_ids)).nonzero()
            if len(closing):
                end = n + int(closing[0, 0]) + 1  # the end-of-turn token counts: the policy must learn to stop
        labels = input_ids.clone()
        labels[:n] = IGNORE_INDEX
        labels[end:] = IGNORE_INDEX
        full["labels"] = labels[None]
        return full

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict:
        import torch

        if not rows:
            raise ValueError("AudioSFTCollator got an empty batch.")
        parts = [self.encode(row) for row in rows]
        width = max(p["input_ids"].shape[1] for p in parts)
        fill = {"input_ids": self.pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX}
        batch = {}
        for key in ("input_ids", "attention_mask", "labels"):
            batch[key] = torch.cat([torch.nn.functional.pad(p[key], (0, width - p[key].shape[1]), value=fill[key])
                                    for p in parts])
        for key in parts[0]:  # audio tensors: one row per clip, all padded to the encoder's length by the processor
            if key not in batch and hasattr(parts[0][key], "shape"):
                batch[key] = torch.cat([p[key] for p in parts])
        return batch


def _has_processor_files(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, name))
               for name in ("processor_config.json", "preprocessor_config.json"))


def merge_lora_and_save(adapter_dir: str, output_dir: str, base_model: str | None = None,
                        torch_dtype: str = "auto") -> str:
    """Merge a LoRA adapter into its base model and save the result with the processor: the checkpoint GRPO starts
    from (and its KL reference).

    The base is loaded unquantised (an adapter trained on a 4-bit base merges into the full-precision weights), the
    adapter applied, and `merge_and_unload()` folds it into the weights.

    Args:
        adapter_dir (`str`): folder of the PEFT adapter (`adapter_config.json`, `adapter_model.safetensors`).
        output_dir (`str`): where the merged model and the processor are saved.
        base_model (`str`, *optional*): the base checkpoint; defaults to the adapter config's
            `base_model_name_or_path`.
        torch_dtype (`str`, *optional*, defaults to `"auto"`): dtype to load the base in (`"auto"`: the checkpoint's
            own, e.g. bfloat16 for Qwen2-Audio-7B-Instruct; or `"float32"`, `"bfloat16"`, `"float16"`).

    Returns:
        `str`: `output_dir`.

    Raises:
        `ValueError`: `adapter_dir` holds no PEFT adapter or a damaged `adapter_config.json`, or no base model is
            known.
    """
    try:
        from peft import PeftConfig, PeftModel
    except ImportError as e:
        raise ImportError("Merging a LoRA adapter needs peft: pip install 'parass2s_hf[train]'") from e
    import torch
    from transformers import AutoModelForMultimodalLM, AutoProcessor

    config_file = os.path.join(adapter_dir, "adapter_config.json")
    if not os.path.exists(config_file):
        raise ValueError(f"{adapter_dir!r} holds no PEFT adapter (no adapter_config.json).")
    # read it here first: peft would answer a damaged file with a bare JSONDecodeError that does not name it
    if not isinstance(read_json(config_file, "PEFT adapter config"), dict):
        raise ValueError(f"{config_file}: expected a JSON object (the PEFT adapter config); save the "  # noqa: TRY004
                         f"adapter again.")
    peft_config = PeftConfig.from_pretrained(adapter_dir)
    base_model = base_model or peft_config.base_model_name_or_path
    if not base_model:
        raise ValueError(f"The adapter in {adapter_dir!r} does not name its base model; pass base_model.")
    dtype = torch_dtype if torch_dtype in (None, "auto") else getattr(torch, str(torch_dtype).replace("torch.", ""))
    model = AutoModelForMultimodalLM.from_pretrained(base_model, dtype=dtype)
    model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    os.makedirs(output_dir, exist_ok=True)
    model.save_pretrained(output_dir)
    processor = AutoProcessor.from_pretrained(adapter_dir if _has_processor_files(adapter_dir) else base_model)
    processor.save_pretrained(output_dir)
    logger.info("merged %s into %s -> %s", adapter_dir, base_model, output_dir)
    return output_dir
