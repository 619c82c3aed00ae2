"""Warm-up SFT: demonstration targets, the audio SFT collator's labels, and the example recipe end to end (2 steps
with the tiny Qwen2-Audio, in full precision and on a 4-bit base), down to the merged checkpoint GRPO starts from."""

import logging
import os
import re

import numpy as np
import pytest
import torch
from conftest import load_example

from parass2s_hf import format_reply
from parass2s_hf.align.prompts import POLICY_SYSTEM_PROMPT, policy_prompt
from parass2s_hf.align.qlora import language_model_lora_targets
from parass2s_hf.align.sft import (
    IGNORE_INDEX,
    AudioSFTCollator,
    demonstration_rows,
    demonstration_target,
    merge_lora_and_save,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU_YAML = os.path.join(ROOT, "examples", "configs", "sft_cpu_smoke.yaml")
GPU_YAML = os.path.join(ROOT, "examples", "configs", "sft_warmup.yaml")


def _example():
    return load_example("train_sft.py")


@pytest.fixture(scope="module")
def train_sft():
    return _example()


@pytest.fixture(scope="module")
def processor(tiny):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny["audio_llm"])


def _row(sample_test, i=0, **changes):
    row = dict(sample_test[i])
    row.update(changes)
    return row


# ---------------------------------------------------------------------------------------------------------- targets


def test_demonstration_target(sample_test):
    row = sample_test[0]
    assert demonstration_target(row) == format_reply(row["reference_reply_style"], row["reference_reply"])
    assert demonstration_target(row).startswith(f"[style: {row['reference_reply_style']}] ")
    assert demonstration_target({"id": "x", "reference_reply": "", "reference_reply_style": ""}) is None
    assert demonstration_target({"id": "x", "reference_reply": None, "reference_reply_style": "warm"}) is None
    with pytest.raises(ValueError, match="row-with-bad-style"):
        demonstration_target({"id": "row-with-bad-style", "reference_reply": "Hi.", "reference_reply_style": "gloomy"})


def test_demonstration_rows_skips_rows_without_reference(sample_test, caplog):
    rows = sample_test.select(range(6)).remove_columns(["audio"])
    rows = rows.map(lambda r, i: {"reference_reply": "" if i % 2 else r["reference_reply"]}, with_indices=True)
    with caplog.at_level(logging.WARNING, logger="parass2s_hf.align.sft"):
        kept = demonstration_rows(rows)
    assert len(kept) == 3 and all(r for r in kept["reference_reply"])
    assert "skipped 3 of 6" in caplog.text
    assert len(demonstration_rows(rows, limit=2)) == 2
    with pytest.raises(ValueError, match="nothing to train on"):
        demonstration_rows(rows.map(lambda r: {"reference_reply": ""}))
    with pytest.raises(ValueError, match="reference_reply"):
        demonstration_rows(rows.remove_columns(["reference_reply"]))


def test_language_model_lora_targets():
    pattern = language_model_lora_targets()
    assert re.fullmatch(pattern, "model.language_model.layers.0.self_attn.q_proj")
    assert re.fullmatch(pattern, "model.language_model.layers.11.mlp.down_proj")
    assert not re.fullmatch(pattern, "model.audio_tower.layers.0.self_attn.q_proj")
    assert not re.fullmatch(pattern, "model.multi_modal_projector.linear")
    assert not re.fullmatch(pattern, "lm_head")
    only_v = language_model_lora_targets(["v_proj"])
    assert re.fullmatch(only_v, "model.language_model.layers.0.self_attn.v_proj")
    assert not re.fullmatch(only_v, "model.language_model.layers.0.self_attn.q_proj")
    assert language_model_lora_targets("v_proj") == only_v  # TRL turns a one-item list into a string
    assert language_model_lora_targets(r".*foo\.bar") == r".*foo\.bar"  # a regular expression is kept


# --------------------------------------------------------------------------------------------------------- collator


def test_collator_labels_mask_exactly_prompt_and_padding(sample_test, processor):
    tok = processor.tokenizer
    audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
    rows = [sample_test[0], sample_test[5]]
    batch = AudioSFTCollator(processor)(rows)

    assert set(batch) == {"input_ids", "attention_mask", "labels", "input_features", "feature_attention_mask"}
    n, width = batch["input_ids"].shape
    assert n == 2 and batch["labels"].shape == batch["attention_mask"].shape == (2, width)
    assert batch["input_features"].shape == (2, 128, 3000) and batch["input_features"].dtype == torch.float32
    assert batch["feature_attention_mask"].shape == (2, 3000)
    lengths = batch["attention_mask"].sum(1)
    assert lengths.max() == width and lengths.min() < width  # the two rows differ, so one is padded

    for i, row in enumerate(rows):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        length = int(lengths[i])
        # right padding: real tokens first, then pad tokens that are masked out of attention and loss
        assert mask[:length].all() and not mask[length:].any()
        assert (ids[length:] == tok.pad_token_id).all() and (labels[length:] == IGNORE_INDEX).all()
        # the audio placeholder is expanded to one token per encoder frame of this clip
        frames = int(batch["feature_attention_mask"][i].sum())
        assert int((ids == audio_id).sum()) == (((frames - 1) // 2 + 1) - 2) // 2 + 1
        # the loss covers one contiguous span: the target, as tokenized, and the end-of-turn token after it
        kept = (labels != IGNORE_INDEX).nonzero()[:, 0]
        start, end = int(kept[0]), int(kept[-1]) + 1
        assert len(kept) == end - start
        assert (labels[start:end] == ids[start:end]).all()
        target = demonstration_target(row)
        assert labels[start:end].tolist() == tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert tok.decode(labels[start:end]) == target + tok.eos_token
        # everything before it is the prompt: the system prompt, the audio and the assistant header
        prompt = tok.decode(ids[:start])
        assert POLICY_SYSTEM_PROMPT in prompt and prompt.endswith("assistant\n")
        assert int((ids[:start] == audio_id).sum()) > 0


def test_collator_prompt_is_the_policy_prompt(sample_test, processor):
    """The prompt the collator masks is exactly what the policy sees at generation time (GRPO's format)."""
    row = sample_test[3]
    batch = AudioSFTCollator(processor)([row])
    start = int((batch["labels"][0] != IGNORE_INDEX).nonzero()[0, 0])
    from parass2s_hf import load_audio

    text = processor.apply_chat_template(policy_prompt(), tokenize=False, add_generation_prompt=True)
    prompt = processor(text=[text], audio=[load_audio(row["audio"]).array], sampling_rate=16000, return_tensors="pt")
    assert batch["input_ids"][0, :start].tolist() == prompt["input_ids"][0].tolist()
    assert torch.equal(batch["input_features"][0], prompt["input_features"][0])


@pytest.mark.parametrize(
    "audio, reason",
    [
        ({"array": np.zeros(0, np.float32), "sampling_rate": 16000}, "empty"),
        ({"array": np.full(16000, np.nan, np.float32), "sampling_rate": 16000}, "NaN"),
        ({"array": np.zeros(16000 * 12, np.float32) + 0.1, "sampling_rate": 16000}, "longer"),
        ("/no/such/file.wav", ""),
    ],
)
def test_collator_bad_audio_names_the_row(sample_test, processor, audio, reason):
    collator = AudioSFTCollator(processor, max_seconds=10)
    with pytest.raises(ValueError, match="bad-row-7") as e:
        collator([sample_test[0], _row(sample_test, 1, id="bad-row-7", audio=audio)])
    assert reason in str(e.value)


def test_collator_missing_target_or_audio_names_the_row(sample_test, processor):
    collator = AudioSFTCollator(processor)
    with pytest.raises(ValueError, match="no-reply-row.*no target"):
        collator([_row(sample_test, 0, id="no-reply-row", reference_reply="")])
    row = _row(sample_test, 0, id="no-audio-row")
    del row["audio"]
    with pytest.raises(ValueError, match="no-audio-row.*remove_unused_columns"):
        collator([row])


def test_collator_without_system_prompt(sample_test, processor):
    batch = AudioSFTCollator(processor, system_prompt=None)([sample_test[0]])
    assert POLICY_SYSTEM_PROMPT not in processor.tokenizer.decode(batch["input_ids"][0])
    assert (batch["labels"] != IGNORE_INDEX).any()


# ------------------------------------------------------------------------------------------------ example + merging


def test_cpu_smoke_yaml_parses(train_sft):
    script_args, training_args, model_args = train_sft.build_parser().parse_args_and_config(["--config", CPU_YAML])
    assert model_args.model_name_or_path == "tiny/qwen2_audio" and model_args.use_peft
    assert (script_args.dataset_config, script_args.dataset_split) == ("sample", "test")
    assert training_args.max_steps == 2 and training_args.use_cpu and not training_args.bf16
    assert training_args.report_to in ("none", ["none"], [])
    assert script_args.policy_system_prompt == POLICY_SYSTEM_PROMPT


def test_gpu_recipe_yaml_parses(train_sft):
    # every key is a known field (bf16 needs a GPU or use_cpu to pass TrainingArguments' check)
    argv = ["--config", GPU_YAML, "--use_cpu", "true"]
    script_args, training_args, model_args = train_sft.build_parser().parse_args_and_config(argv)
    assert model_args.model_name_or_path == "Qwen/Qwen2-Audio-7B-Instruct"
    assert model_args.load_in_4bit and model_args.use_peft and model_args.lora_r == 16
    assert (script_args.dataset_config, script_args.dataset_split) == ("synthetic", "train")
    assert training_args.learning_rate == 1e-4 and training_args.num_train_epochs == 1
    assert training_args.bf16 and training_args.gradient_checkpointing


def _adapter_weights(folder):
    from safetensors.torch import load_file

    return load_file(os.path.join(folder, "adapter_model.safetensors"))


@pytest.mark.parametrize("quantized", [False, True], ids=["full-precision", "4bit-base"])
def test_train_sft_main_two_steps_then_merge(train_sft, tiny, sample_test, tmp_path, monkeypatch, quantized):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    from parass2s_hf import load_audio

    base_dir = tiny["audio_llm"]
    out = str(tmp_path / "sft")
    argv = ["--config", CPU_YAML, "--model_name_or_path", base_dir, "--output_dir", out, "--limit", "4"]
    if quantized:
        argv += ["--load_in_4bit", "true"]
    script_args, training_args, model_args = train_sft.build_parser().parse_args_and_config(argv)

    loaded = {}
    load_policy = train_sft.load_policy

    def spy(*args, **kwargs):
        loaded["model"], processor = load_policy(*args, **kwargs)
        return loaded["model"], processor

    monkeypatch.setattr(train_sft, "load_policy", spy)
    merged_dir = train_sft.main(script_args, training_args, model_args)
    assert merged_dir == os.path.join(out, "merged")

    # what was trained: LoRA on the language model only; with --load_in_4bit its linear layers were 4-bit, the audio
    # tower and projector were not
    import bitsandbytes as bnb

    modules = dict(loaded["model"].named_modules())
    four_bit = [n for n, m in modules.items() if isinstance(m, bnb.nn.Linear4bit)]
    if quantized:
        assert four_bit and all(".language_model." in n for n in four_bit)
    else:
        assert not four_bit

    # the saved adapter: LoRA weights of the language model's projections; B (zero at init) has moved
    adapter = _adapter_weights(out)
    assert adapter and all(".language_model." in k and ".lora_" in k for k in adapter)
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert all(v.abs().sum() > 0 for v in lora_b)

    # the merged model: the base weights outside LoRA are untouched, a LoRA target is base + scaling * B @ A
    model = Qwen2AudioForConditionalGeneration.from_pretrained(merged_dir).eval()
    merged = model.state_dict()
    base = Qwen2AudioForConditionalGeneration.from_pretrained(base_dir).state_dict()
    assert set(merged) == set(base)
    untouched = [k for k in base if not re.fullmatch(r".*language_model\..*_proj\.weight", k)]
    assert any("audio_tower" in k for k in untouched) and any("lm_head" in k for k in untouched)
    for k in untouched:
        assert torch.equal(merged[k], base[k]), k
    name = "model.language_model.layers.0.self_attn.q_proj"
    a = adapter[f"base_model.model.{name}.lora_A.weight"].float()
    b = adapter[f"base_model.model.{name}.lora_B.weight"].float()
    scaling = model_args.lora_alpha / model_args.lora_r
    assert not torch.equal(merged[f"{name}.weight"], base[f"{name}.weight"])
    torch.testing.assert_close(merged[f"{name}.weight"], base[f"{name}.weight"] + scaling * b @ a)

    if not quantized:  # the base model is read from the adapter's config when not given
        again = merge_lora_and_save(out, str(tmp_path / "merged-again"))
        remerged = Qwen2AudioForConditionalGeneration.from_pretrained(again).state_dict()
        assert all(torch.equal(remerged[k], merged[k]) for k in merged)

    # the merged checkpoint is a plain Qwen2-Audio that generates from a spoken prompt
    proc = AutoProcessor.from_pretrained(merged_dir)
    text = proc.apply_chat_template(policy_prompt(), tokenize=False, add_generation_prompt=True)
    inputs = proc(text=[text], audio=[load_audio(sample_test[0]["audio"]).array], sampling_rate=16000,
                  return_tensors="pt")
    with torch.inference_mode():
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]


def test_merge_lora_and_save_rejects_a_folder_without_adapter(tmp_path):
    with pytest.raises(ValueError, match="no PEFT adapter"):
        merge_lora_and_save(str(tmp_path), str(tmp_path / "merged"))
